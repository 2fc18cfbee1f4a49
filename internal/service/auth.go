package service

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/credential"
)

// Authenticate resolves a bearer secret to a principal.
func (s *Service) Authenticate(ctx context.Context, secret string) (patchbay.Principal, error) {
	unauth := patchbay.Errorf(patchbay.EUNAUTHORIZED, "invalid or missing credentials")
	switch {
	case strings.HasPrefix(secret, credential.PrefixAPI):
		t, err := s.store.APITokenByHash(ctx, credential.Hash(secret))
		if err != nil {
			if patchbay.ErrorCode(err) == patchbay.ENOTFOUND {
				return patchbay.Principal{}, unauth
			}
			return patchbay.Principal{}, err
		}
		return patchbay.Principal{Kind: patchbay.PrincipalUser, TokenID: t.ID, Name: t.Name, Role: t.Role}, nil
	case strings.HasPrefix(secret, credential.PrefixHost):
		h, err := s.store.HostByCredential(ctx, credential.Hash(secret))
		if err != nil {
			if patchbay.ErrorCode(err) == patchbay.ENOTFOUND {
				return patchbay.Principal{}, unauth
			}
			return patchbay.Principal{}, err
		}
		if !h.RetiredAt.IsZero() {
			return patchbay.Principal{}, patchbay.Errorf(patchbay.EFORBIDDEN, "host %s was retired on %s by %s: an operator takes it back with `patchbay hosts unretire %s`",
				h.Hostname, h.RetiredAt.UTC().Format(time.DateOnly), h.RetiredBy, h.Hostname)
		}
		return patchbay.Principal{Kind: patchbay.PrincipalHost, HostID: h.ID, Name: h.Hostname}, nil
	}
	return patchbay.Principal{}, unauth
}

// CreateAdminToken makes an admin API token and returns its secret. It is
// used by `patchbay up` and `patchbay server --init-admin`, outside any
// request, so it does not check a principal.
func (s *Service) CreateAdminToken(ctx context.Context, name string) (string, error) {
	secret := credential.NewAPIToken()
	t := patchbay.APIToken{ID: credential.NewID(), Name: name, Hash: credential.Hash(secret), Role: "admin", CreatedAt: s.now()}
	if err := s.store.CreateAPIToken(ctx, t); err != nil {
		return "", fmt.Errorf("create api token: %w", err)
	}
	return secret, nil
}

// NewEnrollToken are the options of an enrolment token.
type NewEnrollToken struct {
	TTL     time.Duration // 0: never expires
	MaxUses int           // 0: unlimited
	Labels  map[string]string
}

// CreateEnrollToken makes an enrolment token; the returned string is the
// only time the secret is visible.
func (s *Service) CreateEnrollToken(ctx context.Context, o NewEnrollToken) (string, patchbay.EnrollToken, error) {
	if _, err := requireUser(ctx); err != nil {
		return "", patchbay.EnrollToken{}, err
	}
	if o.MaxUses < 0 || o.TTL < 0 {
		return "", patchbay.EnrollToken{}, patchbay.Errorf(patchbay.EINVALID, "uses and expiry must not be negative")
	}
	for k := range o.Labels {
		if err := validLabelKey(k); err != nil {
			return "", patchbay.EnrollToken{}, err
		}
	}
	if s.caHash == "" {
		return "", patchbay.EnrollToken{}, patchbay.Errorf(patchbay.EINVALID, "this server has no CA to pin (TLS disabled): enrolment tokens need TLS")
	}
	now := s.now()
	e := credential.NewEnroll(s.caHash)
	t := patchbay.EnrollToken{ID: e.ID, Hash: e.SecretHash(), Labels: o.Labels, MaxUses: o.MaxUses, CreatedAt: now}
	if t.Labels == nil {
		t.Labels = map[string]string{}
	}
	if o.TTL > 0 {
		t.ExpiresAt = now.Add(o.TTL)
	}
	if err := s.store.CreateEnrollToken(ctx, t); err != nil {
		return "", patchbay.EnrollToken{}, fmt.Errorf("create enrolment token: %w", err)
	}
	return e.String(), t, nil
}

// ListEnrollTokens lists enrolment tokens (never their secrets).
func (s *Service) ListEnrollTokens(ctx context.Context) ([]patchbay.EnrollToken, error) {
	if _, err := requireUser(ctx); err != nil {
		return nil, err
	}
	return s.store.ListEnrollTokens(ctx)
}

// RevokeEnrollToken stops a token from enrolling more hosts.
func (s *Service) RevokeEnrollToken(ctx context.Context, id string) error {
	if _, err := requireUser(ctx); err != nil {
		return err
	}
	return s.store.RevokeEnrollToken(ctx, id)
}

// Enroll exchanges an enrolment token for a per-host credential. The same
// machine-id enrolling again updates its host and replaces its credential.
func (s *Service) Enroll(ctx context.Context, req patchbay.EnrollRequest) (patchbay.EnrollResponse, error) {
	tok, err := credential.ParseEnroll(req.Token)
	if err != nil {
		return patchbay.EnrollResponse{}, patchbay.Errorf(patchbay.EUNAUTHORIZED, "%v", err)
	}
	if tok.CAHash != s.caHash {
		return patchbay.EnrollResponse{}, patchbay.Errorf(patchbay.EUNAUTHORIZED, "enrolment token was made for another server (CA hash differs)")
	}
	if err := validMachineID(req.MachineID); err != nil {
		return patchbay.EnrollResponse{}, err
	}
	if req.Hostname == "" || len(req.Hostname) > 253 {
		return patchbay.EnrollResponse{}, patchbay.Errorf(patchbay.EINVALID, "hostname is required (at most 253 characters)")
	}
	var labels map[string]string
	if req.Image != "" {
		if err := patchbay.ValidImageLabel(req.Image); err != nil {
			return patchbay.EnrollResponse{}, err
		}
		labels = patchbay.ImageLabels(req.Image)
	}
	secret := credential.NewHostCredential()
	h, created, err := s.store.Enroll(ctx, patchbay.Enrollment{
		Labels:         labels,
		TokenID:        tok.ID,
		TokenHash:      tok.SecretHash(),
		MachineID:      req.MachineID,
		Hostname:       req.Hostname,
		CredentialHash: credential.Hash(secret),
		IntervalSecs:   req.IntervalSeconds,
	}, s.now())
	if err != nil {
		return patchbay.EnrollResponse{}, fmt.Errorf("enrol %s: %w", req.Hostname, err)
	}
	s.logger.InfoContext(ctx, "host enrolled", "host_id", h.ID, "hostname", h.Hostname, "created", created, "token_id", tok.ID)
	return patchbay.EnrollResponse{HostID: h.ID, Credential: secret, Created: created}, nil
}

func validMachineID(id string) error {
	if len(id) < 8 || len(id) > 64 {
		return patchbay.Errorf(patchbay.EINVALID, "machine_id must be 8 to 64 characters, got %d", len(id))
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == '-') {
			return patchbay.Errorf(patchbay.EINVALID, "machine_id must be hexadecimal (as in /etc/machine-id)")
		}
	}
	return nil
}

func validLabelKey(k string) error {
	if k == "" || len(k) > 63 {
		return patchbay.Errorf(patchbay.EINVALID, "label key %q: 1 to 63 characters", k)
	}
	for _, c := range k {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '/') {
			return patchbay.Errorf(patchbay.EINVALID, "label key %q: only letters, digits, '-', '_', '.', '/'", k)
		}
	}
	return nil
}
