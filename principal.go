package patchbay

import "context"

// Principal is who makes a request: an operator with an API token, or an
// enrolled host with its credential. Authorization decisions are made in
// the service layer from the Principal in the context.
type Principal struct {
	Kind    PrincipalKind
	HostID  int64  // Kind == PrincipalHost
	TokenID string // Kind == PrincipalUser: the API token's id
	Name    string // for audit: token name or hostname
	Role    string // Kind == PrincipalUser
}

// PrincipalKind tells users from hosts.
type PrincipalKind string

const (
	PrincipalUser PrincipalKind = "user"
	PrincipalHost PrincipalKind = "host"
)

type principalKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal in ctx and whether there is one.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
