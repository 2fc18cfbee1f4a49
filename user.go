package patchbay

import (
	"context"
	"time"
)

// RoleAdmin is the one role today: it may do everything. Roles are stored
// on users (and API tokens) and travel in the Principal, so that the
// service layer can later tell operators from read-only viewers.
const RoleAdmin = "admin"

// User is a person who signs in to the web UI.
type User struct {
	ID           int64     `json:"id"`
	Username     string    `json:"username"`
	PasswordHash string    `json:"-"` // "pbkdf2-sha256$iterations$salt$key", base64 without padding
	Role         string    `json:"role"`
	CreatedAt    time.Time `json:"created_at"`
}

// Session is a signed-in browser. The cookie holds a random secret; only
// its SHA-256 (IDHash) is stored, so a copy of the database signs nobody in.
type Session struct {
	IDHash    string
	UserID    int64
	Username  string // of the user, filled when read
	Role      string // of the user, filled when read
	CSRFToken string // must accompany every form post of this session
	CreatedAt time.Time
	ExpiresAt time.Time
}

// SessionStore keeps users and their web sessions.
type SessionStore interface {
	// CreateUser stores a new user and returns it with its id; a taken
	// username is ECONFLICT.
	CreateUser(ctx context.Context, u User) (User, error)
	UserByName(ctx context.Context, username string) (User, error)
	// SetPassword replaces a user's password hash and ends all of the
	// user's sessions, in one transaction.
	SetPassword(ctx context.Context, userID int64, hash string) error

	CreateSession(ctx context.Context, s Session) error
	// Session returns the session whose id hashes to idHash if it has not
	// expired at now; a missing or expired session is ENOTFOUND.
	Session(ctx context.Context, idHash string, now time.Time) (Session, error)
	// DeleteSession ends a session; ending one that does not exist is not
	// an error (signing out twice).
	DeleteSession(ctx context.Context, idHash string) error
	// DeleteExpiredSessions removes sessions expired at now and returns
	// how many.
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error)
}
