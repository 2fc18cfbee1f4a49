package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/patchbay/patchbay"
)

const feedColumns = `id, url, kind, created_at, etag, last_modified, last_sync, last_status, last_error, last_success,
	entries, added, updated, unchanged`

func scanFeedSource(row interface{ Scan(...any) error }) (patchbay.FeedSource, error) {
	var (
		s                              patchbay.FeedSource
		created, lastSync, lastSuccess int64
	)
	err := row.Scan(&s.ID, &s.URL, &s.Kind, &created, &s.ETag, &s.LastModified, &lastSync, &s.LastStatus, &s.LastError,
		&lastSuccess, &s.Entries, &s.Added, &s.Updated, &s.Unchanged)
	s.CreatedAt, s.LastSync, s.LastSuccess = fromNanos(created), fromNanos(lastSync), fromNanos(lastSuccess)
	return s, err
}

// CreateFeedSource adds a feed source.
func (db *DB) CreateFeedSource(ctx context.Context, url, kind string, now time.Time) (patchbay.FeedSource, error) {
	if err := patchbay.ValidateFeedSource(url, kind); err != nil {
		return patchbay.FeedSource{}, err
	}
	var id int64
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO feed_sources (url, kind, created_at) VALUES (?, ?, ?) RETURNING id`,
			url, kind, nanos(now)).Scan(&id)
	})
	if isUnique(err) {
		return patchbay.FeedSource{}, patchbay.Errorf(patchbay.ECONFLICT, "feed source %s is already listed", url)
	}
	if err != nil {
		return patchbay.FeedSource{}, fmt.Errorf("create feed source: %w", err)
	}
	return db.FeedSource(ctx, id)
}

// FeedSources lists the feed sources by id.
func (db *DB) FeedSources(ctx context.Context) ([]patchbay.FeedSource, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+feedColumns+` FROM feed_sources ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("feed sources: %w", err)
	}
	defer rows.Close()
	out := []patchbay.FeedSource{}
	for rows.Next() {
		s, err := scanFeedSource(rows)
		if err != nil {
			return nil, fmt.Errorf("feed sources: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("feed sources: %w", err)
	}
	return out, nil
}

// FeedSource returns one feed source.
func (db *DB) FeedSource(ctx context.Context, id int64) (patchbay.FeedSource, error) {
	s, err := scanFeedSource(db.read.QueryRowContext(ctx, `SELECT `+feedColumns+` FROM feed_sources WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return patchbay.FeedSource{}, patchbay.Errorf(patchbay.ENOTFOUND, "feed source %d not found", id)
	}
	if err != nil {
		return patchbay.FeedSource{}, fmt.Errorf("feed source %d: %w", id, err)
	}
	return s, nil
}

// DeleteFeedSource removes a feed source; the advisories it imported stay.
func (db *DB) DeleteFeedSource(ctx context.Context, id int64) error {
	var n int64
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM feed_sources WHERE id = ?`, id)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("delete feed source %d: %w", id, err)
	}
	if n == 0 {
		return patchbay.Errorf(patchbay.ENOTFOUND, "feed source %d not found", id)
	}
	return nil
}

// RecordFeedSync stores the outcome of a sync of src.ID. A source removed
// meanwhile is ENOTFOUND.
func (db *DB) RecordFeedSync(ctx context.Context, src patchbay.FeedSource) error {
	var n int64
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE feed_sources SET etag = ?, last_modified = ?, last_sync = ?, last_status = ?,
			last_error = ?, last_success = ?, entries = ?, added = ?, updated = ?, unchanged = ? WHERE id = ?`,
			src.ETag, src.LastModified, nanos(src.LastSync), src.LastStatus, src.LastError, nanos(src.LastSuccess),
			src.Entries, src.Added, src.Updated, src.Unchanged, src.ID)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("record sync of feed source %d: %w", src.ID, err)
	}
	if n == 0 {
		return patchbay.Errorf(patchbay.ENOTFOUND, "feed source %d not found", src.ID)
	}
	return nil
}
