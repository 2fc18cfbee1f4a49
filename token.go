package patchbay

import (
	"context"
	"time"
)

// EnrollToken lets new agents enrol. Only its hash is stored; the secret
// is shown once, at creation.
type EnrollToken struct {
	ID        string            `json:"id"` // public part, shown in lists
	Hash      string            `json:"-"`
	Labels    map[string]string `json:"labels"`   // applied to hosts that enrol with it
	MaxUses   int               `json:"max_uses"` // 0: unlimited
	Uses      int               `json:"uses"`
	ExpiresAt time.Time         `json:"expires_at"` // zero: never
	CreatedAt time.Time         `json:"created_at"`
	Revoked   bool              `json:"revoked"`
}

// Usable reports why t cannot enrol a host at now, or nil.
func (t EnrollToken) Usable(now time.Time) error {
	switch {
	case t.Revoked:
		return Errorf(EUNAUTHORIZED, "enrolment token %s was revoked", t.ID)
	case !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt):
		return Errorf(EUNAUTHORIZED, "enrolment token %s expired at %s", t.ID, t.ExpiresAt.UTC().Format(time.RFC3339))
	case t.MaxUses > 0 && t.Uses >= t.MaxUses:
		return Errorf(EUNAUTHORIZED, "enrolment token %s has been used %d of %d times", t.ID, t.Uses, t.MaxUses)
	}
	return nil
}

// APIToken authenticates a user or script against the API.
type APIToken struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Hash      string    `json:"-"`
	Role      string    `json:"role"` // "admin" for now; roles come later
	CreatedAt time.Time `json:"created_at"`
}

// Enrollment is what the store needs to enrol (or re-enrol) a host.
type Enrollment struct {
	TokenID        string
	TokenHash      string
	MachineID      string
	Hostname       string
	CredentialHash string
	IntervalSecs   int64
	// Labels the host asserts about itself, merged over the token's:
	// only an image's (ImageLabels).
	Labels map[string]string
}

// TokenStore keeps enrolment and API tokens.
type TokenStore interface {
	CreateEnrollToken(ctx context.Context, t EnrollToken) error
	ListEnrollTokens(ctx context.Context) ([]EnrollToken, error)
	RevokeEnrollToken(ctx context.Context, id string) error
	// Enroll checks and consumes the token and creates the host, or
	// updates the host with the same machine-id (new credential, token
	// labels merged), in one transaction. created reports which.
	Enroll(ctx context.Context, e Enrollment, now time.Time) (h Host, created bool, err error)

	CreateAPIToken(ctx context.Context, t APIToken) error
	APITokenByHash(ctx context.Context, hash string) (APIToken, error)
	ListAPITokens(ctx context.Context) ([]APIToken, error)
}

// Store is every store the server needs; a backend implements all of it.
type Store interface {
	HostStore
	TokenStore
	SessionStore
	AdvisoryStore
	RolloutStore
	JobStore
	PolicyStore
	ExceptionStore
	BlockStore
	DisruptionStore
	DashboardStore
	ChangelogStore
	WebhookStore
	Close() error
}
