package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/patchbay/patchbay"
)

const policyColumns = `id, name, definition, created_at, created_by, updated_at, updated_by`

func scanPolicy(row interface{ Scan(...any) error }) (patchbay.Policy, error) {
	var (
		p                patchbay.Policy
		id               int64
		name, def        string
		created, updated int64
		createdBy, by    string
	)
	if err := row.Scan(&id, &name, &def, &created, &createdBy, &updated, &by); err != nil {
		return p, err
	}
	if err := json.Unmarshal([]byte(def), &p); err != nil {
		return p, fmt.Errorf("policy %s: definition: %w", name, err)
	}
	p.ID, p.Name, p.Builtin = id, name, false
	p.CreatedAt, p.CreatedBy, p.UpdatedAt, p.UpdatedBy = fromNanos(created), createdBy, fromNanos(updated), by
	return p.Normalize(), nil
}

// policyDefinition is the JSON stored for p: its rules, without the
// columns kept beside them.
func policyDefinition(p patchbay.Policy) (string, error) {
	p = p.Normalize()
	p.ID, p.Builtin = 0, false
	p.CreatedAt, p.UpdatedAt, p.CreatedBy, p.UpdatedBy = time.Time{}, time.Time{}, "", ""
	b, err := json.Marshal(p)
	return string(b), err
}

// CreatePolicy stores a new policy.
func (db *DB) CreatePolicy(ctx context.Context, p patchbay.Policy) (patchbay.Policy, error) {
	if err := p.Validate(); err != nil {
		return patchbay.Policy{}, err
	}
	def, err := policyDefinition(p)
	if err != nil {
		return patchbay.Policy{}, err
	}
	err = db.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO policies (name, definition, created_at, created_by, updated_at, updated_by)
			VALUES (?, ?, ?, ?, ?, ?)`, p.Name, def, nanos(p.CreatedAt), p.CreatedBy, nanos(p.CreatedAt), p.CreatedBy)
		return err
	})
	if isUnique(err) {
		return patchbay.Policy{}, patchbay.Errorf(patchbay.ECONFLICT, "policy %s exists already", p.Name)
	}
	if err != nil {
		return patchbay.Policy{}, fmt.Errorf("create policy %s: %w", p.Name, err)
	}
	return db.Policy(ctx, p.Name)
}

// Policy returns a stored policy by name.
func (db *DB) Policy(ctx context.Context, name string) (patchbay.Policy, error) {
	p, err := scanPolicy(db.read.QueryRowContext(ctx, `SELECT `+policyColumns+` FROM policies WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return p, patchbay.Errorf(patchbay.ENOTFOUND, "policy %s not found", name)
	}
	if err != nil {
		return p, fmt.Errorf("policy %s: %w", name, err)
	}
	return p, nil
}

// ListPolicies lists stored policies by name.
func (db *DB) ListPolicies(ctx context.Context) ([]patchbay.Policy, error) {
	list, err := queryAll(ctx, db.read, scanPolicy, `SELECT `+policyColumns+` FROM policies ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list policies: %w", err)
	}
	return list, nil
}

// queryAll runs query and scans every row with scan; the list is never
// nil.
func queryAll[T any](ctx context.Context, db *sql.DB, scan func(row interface{ Scan(...any) error }) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// UpdatePolicy replaces a stored policy's rules; its UpdatedAt and
// UpdatedBy say when and by whom.
func (db *DB) UpdatePolicy(ctx context.Context, p patchbay.Policy) (patchbay.Policy, error) {
	if err := p.Validate(); err != nil {
		return patchbay.Policy{}, err
	}
	def, err := policyDefinition(p)
	if err != nil {
		return patchbay.Policy{}, err
	}
	err = db.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE policies SET definition = ?, updated_at = ?, updated_by = ? WHERE name = ?`,
			def, nanos(p.UpdatedAt), p.UpdatedBy, p.Name)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return cmp.Or[error](err, patchbay.Errorf(patchbay.ENOTFOUND, "policy %s not found", p.Name))
		}
		return nil
	})
	if err != nil {
		return patchbay.Policy{}, fmt.Errorf("update policy %s: %w", p.Name, err)
	}
	return db.Policy(ctx, p.Name)
}

// UpdatesFirstSeen returns when the fleet first reported each candidate
// version.
func (db *DB) UpdatesFirstSeen(ctx context.Context, versions []patchbay.PackageVersion) (map[patchbay.PackageVersion]time.Time, error) {
	out := make(map[patchbay.PackageVersion]time.Time, len(versions))
	if len(versions) == 0 {
		return out, nil
	}
	keys, err := json.Marshal(versions)
	if err != nil {
		return nil, err
	}
	rows, err := db.read.QueryContext(ctx, `SELECT f.name, f.arch, f.version, f.first_seen
		FROM json_each(?) j JOIN update_first_seen f
		ON f.name = j.value ->> 'name' AND f.arch = coalesce(j.value ->> 'arch', '') AND f.version = j.value ->> 'version'`, string(keys))
	if err != nil {
		return nil, fmt.Errorf("updates first seen: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			v    patchbay.PackageVersion
			seen int64
		)
		if err := rows.Scan(&v.Name, &v.Arch, &v.Version, &seen); err != nil {
			return nil, fmt.Errorf("updates first seen: %w", err)
		}
		out[v] = fromNanos(seen)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("updates first seen: %w", err)
	}
	return out, nil
}
