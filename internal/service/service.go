// Package service holds Patchbay's use cases and all authorization: who
// may enrol, which host may write which inventory, who may read what. It
// works on the store interfaces of the domain package and never imports a
// store implementation.
package service

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/patchbay/patchbay"
)

// Service is the application layer used by the API and the UI.
type Service struct {
	store  patchbay.Store
	now    func() time.Time
	logger *slog.Logger
	caHash string
	vuln   *vulnState
	sched  *schedState
	blocks *blockCache
	life   patchbay.Lifecycle
	sla    patchbay.SLA
	// notify wakes the webhook loop; webhookClient posts deliveries;
	// announceBefore is how long before a window opens it is announced
	// (0: never).
	notify         chan struct{}
	webhookClient  *http.Client
	announceBefore time.Duration
}

// Options configure a Service.
type Options struct {
	Now    func() time.Time // default time.Now
	Logger *slog.Logger
	// CAHash is the hex SHA-256 of the CA agents must pin; enrolment
	// tokens carry it.
	CAHash string
	// Lifecycle says when an unseen host is dormant and when it is
	// proposed for retirement (zero fields: the defaults).
	Lifecycle patchbay.Lifecycle
	// SLA is the remediation clock of the SLA report (nil:
	// patchbay.DefaultSLA).
	SLA *patchbay.SLA
	// WebhookClient posts webhook deliveries (nil: a client with the
	// system's roots).
	WebhookClient *http.Client
	// AnnounceBefore is how long before a running rollout's maintenance
	// window opens its pending hosts are announced in its log (and so to
	// webhooks): 0 is DefaultAnnounceBefore, negative never.
	AnnounceBefore time.Duration
}

// New returns a Service over store.
func New(store patchbay.Store, o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{store: store, now: o.Now, logger: o.Logger, caHash: o.CAHash, vuln: &vulnState{}, sched: newSchedState(), blocks: &blockCache{},
		life: o.Lifecycle.OrDefault(), sla: patchbay.DefaultSLA}
	if o.SLA != nil {
		s.sla = *o.SLA
	}
	s.notify, s.webhookClient = make(chan struct{}, 1), o.WebhookClient
	if s.webhookClient == nil {
		s.webhookClient = &http.Client{Timeout: 15 * time.Second}
	}
	switch {
	case o.AnnounceBefore == 0:
		s.announceBefore = DefaultAnnounceBefore
	case o.AnnounceBefore > 0:
		s.announceBefore = o.AnnounceBefore
	}
	return s
}

// requireUser returns the calling user, or an error for hosts and
// anonymous callers.
func requireUser(ctx context.Context) (patchbay.Principal, error) {
	p, ok := patchbay.PrincipalFrom(ctx)
	if !ok {
		return p, patchbay.Errorf(patchbay.EUNAUTHORIZED, "authentication required")
	}
	if p.Kind != patchbay.PrincipalUser {
		return p, patchbay.Errorf(patchbay.EFORBIDDEN, "this operation needs a user token, not a host credential")
	}
	return p, nil
}

// requireHost returns the calling host's principal.
func requireHost(ctx context.Context) (patchbay.Principal, error) {
	p, ok := patchbay.PrincipalFrom(ctx)
	if !ok {
		return p, patchbay.Errorf(patchbay.EUNAUTHORIZED, "authentication required")
	}
	if p.Kind != patchbay.PrincipalHost {
		return p, patchbay.Errorf(patchbay.EFORBIDDEN, "this operation is for enrolled agents only")
	}
	return p, nil
}

// canReadHost allows users, and a host its own data only.
func canReadHost(ctx context.Context, hostID int64) error {
	p, ok := patchbay.PrincipalFrom(ctx)
	switch {
	case !ok:
		return patchbay.Errorf(patchbay.EUNAUTHORIZED, "authentication required")
	case p.Kind == patchbay.PrincipalUser:
		return nil
	case p.Kind == patchbay.PrincipalHost && p.HostID == hostID:
		return nil
	}
	return patchbay.Errorf(patchbay.EFORBIDDEN, "a host may read only its own data")
}
