package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/patchbay/patchbay"
)

// CreateUser stores a new user; a taken username is ECONFLICT.
func (db *DB) CreateUser(ctx context.Context, u patchbay.User) (patchbay.User, error) {
	if u.Username == "" || u.PasswordHash == "" || u.Role == "" {
		return patchbay.User{}, patchbay.Errorf(patchbay.EINVALID, "user: username, password hash and role are required")
	}
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO users (username, password_hash, role, created_at) VALUES (?, ?, ?, ?)`,
			u.Username, u.PasswordHash, u.Role, nanos(u.CreatedAt))
		if isUnique(err) {
			return patchbay.Errorf(patchbay.ECONFLICT, "user %s already exists", u.Username)
		}
		if err != nil {
			return err
		}
		u.ID, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return patchbay.User{}, fmt.Errorf("create user %s: %w", u.Username, err)
	}
	return u, nil
}

// UserByName returns a user by username.
func (db *DB) UserByName(ctx context.Context, username string) (patchbay.User, error) {
	var (
		u       patchbay.User
		created int64
	)
	err := db.readTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT id, username, password_hash, role, created_at FROM users WHERE username = ?`, username).
			Scan(&u.ID, &u.Username, &u.PasswordHash, &u.Role, &created)
		if errors.Is(err, sql.ErrNoRows) {
			return patchbay.Errorf(patchbay.ENOTFOUND, "no user %q", username)
		}
		return err
	})
	if err != nil {
		return patchbay.User{}, fmt.Errorf("user %q: %w", username, err)
	}
	u.CreatedAt = fromNanos(created)
	return u, nil
}

// SetPassword replaces a user's password hash and ends its sessions.
func (db *DB) SetPassword(ctx context.Context, userID int64, hash string) error {
	if hash == "" {
		return patchbay.Errorf(patchbay.EINVALID, "set password: empty hash")
	}
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = ? WHERE id = ?`, hash, userID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return patchbay.Errorf(patchbay.ENOTFOUND, "user %d not found", userID)
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, userID)
		return err
	})
	if err != nil {
		return fmt.Errorf("set password of user %d: %w", userID, err)
	}
	return nil
}

// CreateSession stores a session of an existing user.
func (db *DB) CreateSession(ctx context.Context, s patchbay.Session) error {
	if s.IDHash == "" || s.CSRFToken == "" || s.ExpiresAt.IsZero() {
		return patchbay.Errorf(patchbay.EINVALID, "session: id hash, CSRF token and expiry are required")
	}
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE id = ?`, s.UserID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return patchbay.Errorf(patchbay.ENOTFOUND, "user %d not found", s.UserID)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
			s.IDHash, s.UserID, s.CSRFToken, nanos(s.CreatedAt), nanos(s.ExpiresAt))
		if isUnique(err) {
			return patchbay.Errorf(patchbay.ECONFLICT, "session already exists")
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

// Session returns an unexpired session with its user's name and role.
func (db *DB) Session(ctx context.Context, idHash string, now time.Time) (patchbay.Session, error) {
	var (
		s                patchbay.Session
		created, expires int64
	)
	err := db.readTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT s.id_hash, s.user_id, u.username, u.role, s.csrf_token, s.created_at, s.expires_at
			FROM sessions s JOIN users u ON u.id = s.user_id
			WHERE s.id_hash = ? AND s.expires_at > ?`, idHash, nanos(now)).
			Scan(&s.IDHash, &s.UserID, &s.Username, &s.Role, &s.CSRFToken, &created, &expires)
		if errors.Is(err, sql.ErrNoRows) {
			return patchbay.Errorf(patchbay.ENOTFOUND, "no such session, or it expired")
		}
		return err
	})
	if err != nil {
		return patchbay.Session{}, fmt.Errorf("session: %w", err)
	}
	s.CreatedAt, s.ExpiresAt = fromNanos(created), fromNanos(expires)
	return s, nil
}

// DeleteSession ends a session; a missing one is not an error.
func (db *DB) DeleteSession(ctx context.Context, idHash string) error {
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = ?`, idHash)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteExpiredSessions removes the sessions expired at now.
func (db *DB) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	var n int64
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= ?`, nanos(now))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	return int(n), nil
}
