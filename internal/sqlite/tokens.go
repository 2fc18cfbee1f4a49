package sqlite

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/patchbay/patchbay"
)

// CreateEnrollToken stores a new enrolment token; a duplicate id is
// ECONFLICT.
func (db *DB) CreateEnrollToken(ctx context.Context, t patchbay.EnrollToken) error {
	if t.ID == "" || t.Hash == "" {
		return patchbay.Errorf(patchbay.EINVALID, "enrolment token: id and hash are required")
	}
	if t.MaxUses < 0 {
		return patchbay.Errorf(patchbay.EINVALID, "enrolment token: max uses must not be negative")
	}
	labels := t.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	lj, err := json.Marshal(labels)
	if err != nil {
		return fmt.Errorf("create enrolment token %s: %w", t.ID, err)
	}
	err = db.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO enroll_tokens (id, hash, labels, max_uses, uses, expires_at, created_at, revoked)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			t.ID, t.Hash, string(lj), t.MaxUses, t.Uses, nanos(t.ExpiresAt), nanos(t.CreatedAt), boolInt(t.Revoked))
		if isUnique(err) {
			return patchbay.Errorf(patchbay.ECONFLICT, "enrolment token %s already exists", t.ID)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("create enrolment token %s: %w", t.ID, err)
	}
	return nil
}

const enrollTokenColumns = `id, hash, labels, max_uses, uses, expires_at, created_at, revoked`

func scanEnrollToken(s interface{ Scan(...any) error }) (patchbay.EnrollToken, error) {
	var (
		t                      patchbay.EnrollToken
		labels                 string
		expires, created, revk int64
	)
	if err := s.Scan(&t.ID, &t.Hash, &labels, &t.MaxUses, &t.Uses, &expires, &created, &revk); err != nil {
		return t, err
	}
	t.Labels = map[string]string{}
	if err := json.Unmarshal([]byte(labels), &t.Labels); err != nil {
		return t, fmt.Errorf("enrolment token %s: labels: %w", t.ID, err)
	}
	t.ExpiresAt = fromNanos(expires)
	t.CreatedAt = fromNanos(created)
	t.Revoked = revk != 0
	return t, nil
}

// ListEnrollTokens returns every enrolment token, oldest first. Labels is
// never nil.
func (db *DB) ListEnrollTokens(ctx context.Context) ([]patchbay.EnrollToken, error) {
	toks := []patchbay.EnrollToken{}
	err := db.readTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+enrollTokenColumns+` FROM enroll_tokens ORDER BY created_at, id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			t, err := scanEnrollToken(rows)
			if err != nil {
				return err
			}
			toks = append(toks, t)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list enrolment tokens: %w", err)
	}
	return toks, nil
}

// RevokeEnrollToken marks a token revoked; hosts enrolled with it stay.
func (db *DB) RevokeEnrollToken(ctx context.Context, id string) error {
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE enroll_tokens SET revoked = 1 WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return patchbay.Errorf(patchbay.ENOTFOUND, "enrolment token %s not found", id)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("revoke enrolment token %s: %w", id, err)
	}
	return nil
}

// Enroll checks and consumes the token, then creates the host or, for a
// known machine-id, gives it the new credential (the old one stops
// working) and merges the token's labels over its own. One transaction.
func (db *DB) Enroll(ctx context.Context, e patchbay.Enrollment, now time.Time) (patchbay.Host, bool, error) {
	if e.MachineID == "" || e.CredentialHash == "" {
		return patchbay.Host{}, false, patchbay.Errorf(patchbay.EINVALID, "enrol: machine-id and credential are required")
	}
	var (
		h       patchbay.Host
		created bool
	)
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		tok, err := scanEnrollToken(tx.QueryRowContext(ctx, `SELECT `+enrollTokenColumns+` FROM enroll_tokens WHERE id = ?`, e.TokenID))
		// Unknown id and wrong secret get the same answer, so the error
		// tells a caller nothing about which token ids exist.
		invalid := patchbay.Errorf(patchbay.EUNAUTHORIZED, "invalid enrolment token")
		if errors.Is(err, sql.ErrNoRows) {
			return invalid
		}
		if err != nil {
			return err
		}
		if subtle.ConstantTimeCompare([]byte(tok.Hash), []byte(e.TokenHash)) != 1 {
			return invalid
		}
		if err := tok.Usable(now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE enroll_tokens SET uses = uses + 1 WHERE id = ?`, tok.ID); err != nil {
			return fmt.Errorf("use token: %w", err)
		}

		var id int64
		err = tx.QueryRowContext(ctx, `SELECT id FROM hosts WHERE machine_id = ?`, e.MachineID).Scan(&id)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			created = true
			err = tx.QueryRowContext(ctx, `INSERT INTO hosts (machine_id, hostname, credential_hash, interval_seconds, enrolled_at, last_seen)
				VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
				e.MachineID, e.Hostname, e.CredentialHash, max(e.IntervalSecs, 0), nanos(now), nanos(now)).Scan(&id)
		case err == nil:
			_, err = tx.ExecContext(ctx, `UPDATE hosts SET credential_hash = ?, hostname = ?, last_seen = ?,
				interval_seconds = CASE WHEN ? > 0 THEN ? ELSE interval_seconds END
				WHERE id = ?`,
				e.CredentialHash, e.Hostname, nanos(now), e.IntervalSecs, e.IntervalSecs, id)
		}
		if isUnique(err) {
			return patchbay.Errorf(patchbay.ECONFLICT, "this credential is already in use")
		}
		if err != nil {
			return fmt.Errorf("save host: %w", err)
		}
		if err := setHostFields(ctx, tx, id, tok.Labels); err != nil {
			return err
		}
		if err := setHostFields(ctx, tx, id, e.Labels); err != nil {
			return err
		}
		detail := "enrolled with token " + tok.ID
		if !created {
			detail = "re-enrolled with token " + tok.ID
		}
		if err := db.insertEvents(ctx, tx, id, []patchbay.Event{{Time: now, Kind: patchbay.EventEnrolled, Cause: patchbay.CauseEnrolment, Detail: detail}}, now); err != nil {
			return err
		}
		h, err = hostByID(ctx, tx, id)
		return err
	})
	if err != nil {
		return patchbay.Host{}, false, fmt.Errorf("enrol %s: %w", e.MachineID, err)
	}
	return h, created, nil
}

// CreateAPIToken stores an API token; a duplicate id or hash is ECONFLICT.
func (db *DB) CreateAPIToken(ctx context.Context, t patchbay.APIToken) error {
	if t.ID == "" || t.Hash == "" {
		return patchbay.Errorf(patchbay.EINVALID, "api token: id and hash are required")
	}
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO api_tokens (id, name, hash, role, created_at) VALUES (?, ?, ?, ?, ?)`,
			t.ID, t.Name, t.Hash, t.Role, nanos(t.CreatedAt))
		if isUnique(err) {
			return patchbay.Errorf(patchbay.ECONFLICT, "api token %s already exists", t.ID)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("create api token %s: %w", t.ID, err)
	}
	return nil
}

// APITokenByHash returns the API token with the given hash, ENOTFOUND if
// none has it.
func (db *DB) APITokenByHash(ctx context.Context, hash string) (patchbay.APIToken, error) {
	var t patchbay.APIToken
	err := db.readTx(ctx, func(tx *sql.Tx) error {
		var created int64
		err := tx.QueryRowContext(ctx, `SELECT id, name, hash, role, created_at FROM api_tokens WHERE hash = ?`, hash).
			Scan(&t.ID, &t.Name, &t.Hash, &t.Role, &created)
		if errors.Is(err, sql.ErrNoRows) {
			return patchbay.Errorf(patchbay.ENOTFOUND, "no api token with this secret")
		}
		t.CreatedAt = fromNanos(created)
		return err
	})
	if err != nil {
		return patchbay.APIToken{}, fmt.Errorf("api token by hash: %w", err)
	}
	return t, nil
}

// ListAPITokens returns every API token, oldest first.
func (db *DB) ListAPITokens(ctx context.Context) ([]patchbay.APIToken, error) {
	toks := []patchbay.APIToken{}
	err := db.readTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id, name, hash, role, created_at FROM api_tokens ORDER BY created_at, id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				t       patchbay.APIToken
				created int64
			)
			if err := rows.Scan(&t.ID, &t.Name, &t.Hash, &t.Role, &created); err != nil {
				return err
			}
			t.CreatedAt = fromNanos(created)
			toks = append(toks, t)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list api tokens: %w", err)
	}
	return toks, nil
}
