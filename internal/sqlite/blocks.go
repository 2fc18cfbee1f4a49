package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/patchbay/patchbay"
)

const blockColumns = `id, package, version, reason, created_at, created_by, removed_at, removed_by`

func scanBlock(row interface{ Scan(...any) error }) (patchbay.Block, error) {
	var (
		b                patchbay.Block
		created, removed int64
	)
	err := row.Scan(&b.ID, &b.Package, &b.Version, &b.Reason, &created, &b.CreatedBy, &removed, &b.RemovedBy)
	b.CreatedAt, b.RemovedAt = fromNanos(created), fromNanos(removed)
	return b, err
}

// CreateBlock stores a block.
func (db *DB) CreateBlock(ctx context.Context, b patchbay.Block) (patchbay.Block, error) {
	if err := b.Validate(); err != nil {
		return patchbay.Block{}, err
	}
	var id int64
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO blocks (package, version, reason, created_at, created_by) VALUES (?, ?, ?, ?, ?) RETURNING id`,
			b.Package, b.Version, b.Reason, nanos(b.CreatedAt), b.CreatedBy).Scan(&id)
	})
	if isUnique(err) {
		return patchbay.Block{}, patchbay.Errorf(patchbay.ECONFLICT, "%s is blocked already", b.String())
	}
	if err != nil {
		return patchbay.Block{}, fmt.Errorf("create block %s: %w", b.String(), err)
	}
	return db.block(ctx, id)
}

func (db *DB) block(ctx context.Context, id int64) (patchbay.Block, error) {
	b, err := scanBlock(db.read.QueryRowContext(ctx, `SELECT `+blockColumns+` FROM blocks WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return b, patchbay.Errorf(patchbay.ENOTFOUND, "block %d not found", id)
	}
	if err != nil {
		return b, fmt.Errorf("block %d: %w", id, err)
	}
	return b, nil
}

// ListBlocks lists blocks in force, or all, newest first.
func (db *DB) ListBlocks(ctx context.Context, all bool) ([]patchbay.Block, error) {
	q := `SELECT ` + blockColumns + ` FROM blocks`
	if !all {
		q += ` WHERE removed_at = 0`
	}
	list, err := queryAll(ctx, db.read, scanBlock, q+` ORDER BY id DESC`)
	if err != nil {
		return nil, fmt.Errorf("list blocks: %w", err)
	}
	return list, nil
}

// RemoveBlock ends a block in force.
func (db *DB) RemoveBlock(ctx context.Context, id int64, who string, now time.Time) (patchbay.Block, error) {
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		var removed int64
		err := tx.QueryRowContext(ctx, `SELECT removed_at FROM blocks WHERE id = ?`, id).Scan(&removed)
		if errors.Is(err, sql.ErrNoRows) {
			return patchbay.Errorf(patchbay.ENOTFOUND, "block %d not found", id)
		}
		if err != nil {
			return err
		}
		if removed != 0 {
			return patchbay.Errorf(patchbay.ECONFLICT, "block %d was removed already", id)
		}
		_, err = tx.ExecContext(ctx, `UPDATE blocks SET removed_at = ?, removed_by = ? WHERE id = ?`, nanos(now), who, id)
		return err
	})
	if err != nil {
		return patchbay.Block{}, fmt.Errorf("remove block %d: %w", id, err)
	}
	return db.block(ctx, id)
}
