package patchbay

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Exception scopes: which hosts an exception covers.
const (
	ScopeHost     = "host"     // one host
	ScopeSelector = "selector" // hosts matching a label/asset selector
	ScopeAll      = "all"      // every host
)

// MaxExceptionLength is the longest an exception may last: every
// exception expires, and a hold of more than a year is a decision to
// review, not to forget.
const MaxExceptionLength = 366 * 24 * time.Hour

// Exception states, derived from the exception and the time.
const (
	ExceptionActive  = "active"
	ExceptionExpired = "expired"
	ExceptionRevoked = "revoked"
)

// Exception holds a package, or the fix of an advisory or CVE, off a set of
// hosts until it expires: no rollout installs a held update, and the
// findings of a held advisory are shown as excepted. Who granted it and
// when, and who revoked it, are kept.
type Exception struct {
	ID    int64  `json:"id"`
	Scope string `json:"scope"` // ScopeHost, ScopeSelector or ScopeAll
	// HostID and Hostname name the host of a ScopeHost exception.
	HostID   int64    `json:"host_id,omitempty"`
	Hostname string   `json:"hostname,omitempty"`
	Selector Selector `json:"selector,omitempty"` // of a ScopeSelector exception
	// Exactly one of Package (a binary package name or pattern, as policies
	// take them) and Advisory (an advisory id or a CVE id).
	Package   string    `json:"package,omitempty"`
	Advisory  string    `json:"advisory,omitempty"`
	Reason    string    `json:"reason"`
	Owner     string    `json:"owner"` // who answers for it
	ExpiresAt time.Time `json:"expires_at"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"` // who granted it
	RevokedAt time.Time `json:"revoked_at"`
	RevokedBy string    `json:"revoked_by,omitempty"`
	// RevokeReason says why it was revoked early.
	RevokeReason string `json:"revoke_reason,omitempty"`
	// State is derived at read time: active, expired or revoked.
	State string `json:"state"`
}

// Validate checks a new exception at now: a scope with what it needs, one
// target, a reason, an owner and an expiry in the future, at most
// MaxExceptionLength away.
func (e Exception) Validate(now time.Time) error {
	switch e.Scope {
	case ScopeHost:
		if e.HostID == 0 {
			return Errorf(EINVALID, "a host exception needs a host")
		}
		if len(e.Selector) > 0 {
			return Errorf(EINVALID, "a host exception takes no selector")
		}
	case ScopeSelector:
		if len(e.Selector) == 0 {
			return Errorf(EINVALID, "a selector exception needs a selector (key=value)")
		}
		if err := e.Selector.Validate(); err != nil {
			return err
		}
	case ScopeAll:
		if e.HostID != 0 || len(e.Selector) > 0 {
			return Errorf(EINVALID, "an exception for all hosts takes no host or selector")
		}
	default:
		return Errorf(EINVALID, "exception scope %q: want host, selector or all", e.Scope)
	}
	switch {
	case e.Package == "" && e.Advisory == "":
		return Errorf(EINVALID, "an exception needs a package or an advisory/CVE")
	case e.Package != "" && e.Advisory != "":
		return Errorf(EINVALID, "an exception takes a package or an advisory/CVE, not both")
	case e.Package != "":
		if err := ValidatePackagePattern(e.Package); err != nil {
			return err
		}
	default:
		if len(e.Advisory) > 100 || strings.ContainsAny(e.Advisory, " \t\n/") {
			return Errorf(EINVALID, "advisory %q: want an advisory id (DSA-5678-1, ALSA-2025:1234) or a CVE id", e.Advisory)
		}
	}
	if strings.TrimSpace(e.Reason) == "" {
		return Errorf(EINVALID, "an exception needs a reason")
	}
	if strings.TrimSpace(e.Owner) == "" {
		return Errorf(EINVALID, "an exception needs an owner (who answers for it)")
	}
	if len(e.Reason) > 2000 || len(e.Owner) > 200 {
		return Errorf(EINVALID, "exception reason (2000) or owner (200 characters) is too long")
	}
	if e.ExpiresAt.IsZero() {
		return Errorf(EINVALID, "an exception needs an expiry date: every exception expires")
	}
	if !e.ExpiresAt.After(now) {
		return Errorf(EINVALID, "expiry %s is not in the future", e.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if e.ExpiresAt.Sub(now) > MaxExceptionLength {
		return Errorf(EINVALID, "expiry %s is more than %d days away; grant a shorter exception and renew it",
			e.ExpiresAt.UTC().Format(time.DateOnly), MaxExceptionLength/(24*time.Hour))
	}
	return nil
}

// StateAt is the exception's state at now.
func (e Exception) StateAt(now time.Time) string {
	switch {
	case !e.RevokedAt.IsZero():
		return ExceptionRevoked
	case !now.Before(e.ExpiresAt):
		return ExceptionExpired
	}
	return ExceptionActive
}

// ActiveAt reports whether the exception applies at now.
func (e Exception) ActiveAt(now time.Time) bool { return e.StateAt(now) == ExceptionActive }

// CoversHost reports whether the exception's scope takes h.
func (e Exception) CoversHost(h Host) bool {
	switch e.Scope {
	case ScopeHost:
		return e.HostID == h.ID
	case ScopeSelector:
		return e.Selector.Matches(h)
	case ScopeAll:
		return true
	}
	return false
}

// HoldsUpdate reports whether the exception (on a host it covers) holds
// the update: its package matches, or the update fixes the advisory or CVE.
func (e Exception) HoldsUpdate(f UpdateFacts, advisories []string) bool {
	if e.Package != "" {
		return MatchPackage(e.Package, f.Update.Name)
	}
	for _, c := range f.CVEs {
		if strings.EqualFold(c, e.Advisory) {
			return true
		}
	}
	for _, a := range advisories {
		if strings.EqualFold(a, e.Advisory) {
			return true
		}
	}
	return false
}

// CoversFinding reports whether the exception (on the finding's host)
// covers the finding: its package or the advisory or one of its CVEs.
func (e Exception) CoversFinding(f Finding) bool {
	if e.Package != "" {
		return MatchPackage(e.Package, f.Package)
	}
	if strings.EqualFold(e.Advisory, f.AdvisoryID) {
		return true
	}
	for _, c := range f.CVEs {
		if strings.EqualFold(c, e.Advisory) {
			return true
		}
	}
	return false
}

// Target says what the exception holds, for people: "package openssl" or
// "advisory CVE-2024-1234".
func (e Exception) Target() string {
	if e.Package != "" {
		return "package " + e.Package
	}
	return "advisory " + e.Advisory
}

// ScopeString says which hosts the exception covers: "host web1",
// "env=prod" or "all hosts".
func (e Exception) ScopeString() string {
	switch e.Scope {
	case ScopeHost:
		if e.Hostname != "" {
			return "host " + e.Hostname
		}
		return fmt.Sprintf("host %d", e.HostID)
	case ScopeSelector:
		return e.Selector.String()
	}
	return "all hosts"
}

// ExceptionRequest creates an exception. Host is a host reference (id,
// hostname or machine id) for a host exception; Selector is "k=v,..." for
// a selector one; neither for all hosts.
type ExceptionRequest struct {
	Host      string    `json:"host,omitempty"`
	Selector  string    `json:"selector,omitempty"`
	All       bool      `json:"all,omitempty"`
	Package   string    `json:"package,omitempty"`
	Advisory  string    `json:"advisory,omitempty"`
	Reason    string    `json:"reason"`
	Owner     string    `json:"owner"`
	ExpiresAt time.Time `json:"expires_at"`
}

// RevokeRequest revokes an exception early.
type RevokeRequest struct {
	Reason string `json:"reason"`
}

// ExceptionReply is a created or revoked exception and what it did to the
// rollouts not yet finished: hosts whose frozen plans it now holds, and
// hosts already patching that it could not stop.
type ExceptionReply struct {
	Exception Exception `json:"exception"`
	// Held lists "rollout R: host" entries put to held.
	Held []string `json:"held"`
	// Running lists "rollout R: host" entries already running a job that
	// installs a held package: they finish.
	Running []string `json:"running"`
}

// ExceptionStore keeps exceptions.
type ExceptionStore interface {
	CreateException(ctx context.Context, e Exception) (Exception, error)
	// Exception returns one exception with its state at now.
	Exception(ctx context.Context, id int64, now time.Time) (Exception, error)
	// ListExceptions lists exceptions, newest first: only those active at
	// now unless all is set.
	ListExceptions(ctx context.Context, now time.Time, all bool) ([]Exception, error)
	// RevokeException marks an active exception revoked at now by who;
	// revoking one that is revoked already is ECONFLICT.
	RevokeException(ctx context.Context, id int64, who, reason string, now time.Time) (Exception, error)
}
