package service

import (
	"context"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/credential"
)

// AdminUsername is the account `patchbay up` and `patchbay server` create
// on first start, with a random password printed once.
const AdminUsername = "admin"

// SessionTTL is how long a web session lasts after sign-in.
const SessionTTL = 12 * time.Hour

// Password hashing: PBKDF2-HMAC-SHA256 from the standard library, with the
// iteration count OWASP recommends for it (2023). The count is stored in
// each hash, so raising it later keeps old hashes readable.
const (
	pbkdf2Iterations = 600_000
	pbkdf2KeyLen     = 32
	pbkdf2Prefix     = "pbkdf2-sha256"
)

var b64 = base64.RawStdEncoding

// hashPassword returns the stored form of password with a fresh salt.
func hashPassword(password string) (string, error) {
	salt := make([]byte, 16)
	rand.Read(salt)
	key, err := pbkdf2.Key(sha256.New, password, salt, pbkdf2Iterations, pbkdf2KeyLen)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return fmt.Sprintf("%s$%d$%s$%s", pbkdf2Prefix, pbkdf2Iterations, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// checkPassword reports whether password matches the stored hash, in
// constant time over the derived keys.
func checkPassword(stored, password string) bool {
	parts := strings.Split(stored, "$")
	if len(parts) != 4 || parts[0] != pbkdf2Prefix {
		return false
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil || iter < 1 || iter > 10_000_000 {
		return false
	}
	salt, err1 := b64.DecodeString(parts[2])
	want, err2 := b64.DecodeString(parts[3])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got, err := pbkdf2.Key(sha256.New, password, salt, iter, len(want))
	return err == nil && subtle.ConstantTimeCompare(got, want) == 1
}

// dummyHash is checked against when the username is unknown, so that a
// wrong username takes as long as a wrong password. It is made on first
// use, not at start-up: every CLI command and the agent run this binary
// too, and 600,000 PBKDF2 rounds cost them a fifth of a second each.
var dummyHash = sync.OnceValue(func() string {
	h, _ := hashPassword("not a password anyone has")
	return h
})

// EnsureAdminUser creates the admin user with a random password if there
// is none, and returns that password (the only time it is visible); it
// returns "" when the user already exists. Called by the CLI at server
// start, outside any request, so it checks no principal.
func (s *Service) EnsureAdminUser(ctx context.Context) (string, error) {
	_, err := s.store.UserByName(ctx, AdminUsername)
	if err == nil {
		return "", nil
	}
	if patchbay.ErrorCode(err) != patchbay.ENOTFOUND {
		return "", err
	}
	password := rand.Text()
	hash, err := hashPassword(password)
	if err != nil {
		return "", err
	}
	_, err = s.store.CreateUser(ctx, patchbay.User{Username: AdminUsername, PasswordHash: hash, Role: patchbay.RoleAdmin, CreatedAt: s.now()})
	if err != nil {
		return "", fmt.Errorf("create admin user: %w", err)
	}
	s.logger.InfoContext(ctx, "created the admin user of the web UI")
	return password, nil
}

// ResetPassword gives a user a new random password, ends its sessions and
// returns the password. CLI only (`patchbay server --reset-admin-password`).
func (s *Service) ResetPassword(ctx context.Context, username string) (string, error) {
	u, err := s.store.UserByName(ctx, username)
	if err != nil {
		return "", err
	}
	password := rand.Text()
	hash, err := hashPassword(password)
	if err != nil {
		return "", err
	}
	if err := s.store.SetPassword(ctx, u.ID, hash); err != nil {
		return "", err
	}
	s.logger.InfoContext(ctx, "password reset", "username", username)
	return password, nil
}

// SignIn checks a username and password and starts a session. It returns
// the session's secret, for the cookie, and the session.
func (s *Service) SignIn(ctx context.Context, username, password string) (string, patchbay.Session, error) {
	bad := patchbay.Errorf(patchbay.EUNAUTHORIZED, "wrong username or password")
	if username == "" || password == "" || len(username) > 256 || len(password) > 1024 {
		return "", patchbay.Session{}, bad
	}
	u, err := s.store.UserByName(ctx, username)
	switch {
	case patchbay.ErrorCode(err) == patchbay.ENOTFOUND:
		checkPassword(dummyHash(), password)
		s.logger.WarnContext(ctx, "sign-in failed", "username", username, "reason", "unknown user")
		return "", patchbay.Session{}, bad
	case err != nil:
		return "", patchbay.Session{}, err
	}
	if !checkPassword(u.PasswordHash, password) {
		s.logger.WarnContext(ctx, "sign-in failed", "username", username, "reason", "wrong password")
		return "", patchbay.Session{}, bad
	}
	now := s.now()
	secret := "pbs_" + rand.Text() + rand.Text()
	sess := patchbay.Session{
		IDHash:    credential.Hash(secret),
		UserID:    u.ID,
		Username:  u.Username,
		Role:      u.Role,
		CSRFToken: rand.Text() + rand.Text(),
		CreatedAt: now,
		ExpiresAt: now.Add(SessionTTL),
	}
	if err := s.store.CreateSession(ctx, sess); err != nil {
		return "", patchbay.Session{}, fmt.Errorf("sign in: %w", err)
	}
	// Sign-ins are rare: a good moment to drop expired sessions.
	if n, err := s.store.DeleteExpiredSessions(ctx, now); err != nil {
		s.logger.WarnContext(ctx, "delete expired sessions", "err", err)
	} else if n > 0 {
		s.logger.DebugContext(ctx, "deleted expired sessions", "count", n)
	}
	s.logger.InfoContext(ctx, "signed in", "username", u.Username)
	return secret, sess, nil
}

// SessionPrincipal resolves a session secret (from the cookie) to the
// session and the principal that acts for it.
func (s *Service) SessionPrincipal(ctx context.Context, secret string) (patchbay.Principal, patchbay.Session, error) {
	unauth := patchbay.Errorf(patchbay.EUNAUTHORIZED, "not signed in, or the session expired")
	if !strings.HasPrefix(secret, "pbs_") {
		return patchbay.Principal{}, patchbay.Session{}, unauth
	}
	sess, err := s.store.Session(ctx, credential.Hash(secret), s.now())
	if patchbay.ErrorCode(err) == patchbay.ENOTFOUND {
		return patchbay.Principal{}, patchbay.Session{}, unauth
	}
	if err != nil {
		return patchbay.Principal{}, patchbay.Session{}, err
	}
	p := patchbay.Principal{Kind: patchbay.PrincipalUser, Name: sess.Username, Role: sess.Role}
	return p, sess, nil
}

// SignOut ends the session of secret.
func (s *Service) SignOut(ctx context.Context, secret string) error {
	if secret == "" {
		return nil
	}
	return s.store.DeleteSession(ctx, credential.Hash(secret))
}
