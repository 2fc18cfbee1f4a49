// Package api serves Patchbay's JSON API under /api/v1. Every route is in
// the table below; every route needs a credential unless it is marked
// public, and a test walks the table to prove it.
package api

import (
	"log/slog"
	"net/http"

	"github.com/patchbay/patchbay/internal/service"
	"github.com/patchbay/patchbay/internal/web"
)

// Body size limits. An inventory of a large host (5,000 packages, 500
// updates) is about 1.5 MB of JSON.
const (
	smallBodyLimit     = 64 << 10
	inventoryBodyLimit = 32 << 20
)

// API is the JSON API.
type API struct {
	svc    *service.Service
	logger *slog.Logger
}

// New returns the API over svc.
func New(svc *service.Service, logger *slog.Logger) *API {
	return &API{svc: svc, logger: logger}
}

// Route is one entry of the route table.
type Route struct {
	Method  string
	Pattern string
	Public  bool // served without a credential
	Handler web.HandlerFunc
}

// Routes returns every route of the API.
func (a *API) Routes() []Route {
	return []Route{
		{"GET", "/api/v1/health", true, a.health},
		{"POST", "/api/v1/enroll", true, a.enroll},
		{"GET", "/api/v1/openapi.json", false, a.openapi},
		{"GET", "/api/v1/whoami", false, a.whoami},

		{"POST", "/api/v1/agent/heartbeat", false, a.heartbeat},
		{"PUT", "/api/v1/agent/inventory", false, a.putInventory},
		{"GET", "/api/v1/agent/jobs", false, a.pollJobs},
		{"POST", "/api/v1/agent/jobs/{id}/result", false, a.postJobResult},
		{"POST", "/api/v1/agent/jobs/{id}/lease", false, a.acquireLease},

		{"GET", "/api/v1/hosts", false, a.listHosts},
		{"GET", "/api/v1/hosts/{ref}", false, a.getHost},
		{"PATCH", "/api/v1/hosts/{ref}", false, a.patchHost},
		{"GET", "/api/v1/hosts/{ref}/packages", false, a.hostPackages},
		{"GET", "/api/v1/hosts/{ref}/updates", false, a.hostUpdates},
		{"GET", "/api/v1/hosts/{ref}/history", false, a.hostHistory},
		{"GET", "/api/v1/hosts/{ref}/findings", false, a.hostFindings},
		{"POST", "/api/v1/hosts/{ref}/retire", false, a.retireHost},
		{"POST", "/api/v1/hosts/{ref}/unretire", false, a.unretireHost},
		{"GET", "/api/v1/reports/dormant", false, a.dormantReport},
		{"GET", "/api/v1/reports/sla", false, a.slaReport},

		{"POST", "/api/v1/advisories", false, a.importAdvisories},
		{"GET", "/api/v1/advisories", false, a.listAdvisories},
		{"GET", "/api/v1/advisories/{id}", false, a.getAdvisory},
		{"PUT", "/api/v1/kev", false, a.putKEV},
		{"GET", "/api/v1/advisory-sources", false, a.listFeedSources},
		{"POST", "/api/v1/advisory-sources", false, a.addFeedSource},
		{"DELETE", "/api/v1/advisory-sources/{id}", false, a.removeFeedSource},
		{"GET", "/api/v1/vulns", false, a.listVulns},
		{"GET", "/api/v1/vulns/{cve}", false, a.getVuln},
		{"POST", "/api/v1/vulns/evaluate", false, a.evaluateVulns},

		{"POST", "/api/v1/rollouts", false, a.createRollout},
		{"GET", "/api/v1/rollouts", false, a.listRollouts},
		{"GET", "/api/v1/rollouts/{id}", false, a.getRollout},
		{"POST", "/api/v1/rollouts/{id}/plan", false, a.planRollout},
		{"POST", "/api/v1/rollouts/{id}/rollback", false, a.rollbackRollout},
		{"POST", "/api/v1/rollouts/{id}/approve", false, a.rolloutAction(service.ActionApprove)},
		{"POST", "/api/v1/rollouts/{id}/start", false, a.rolloutAction(service.ActionStart)},
		{"POST", "/api/v1/rollouts/{id}/pause", false, a.rolloutAction(service.ActionPause)},
		{"POST", "/api/v1/rollouts/{id}/resume", false, a.rolloutAction(service.ActionResume)},
		{"POST", "/api/v1/rollouts/{id}/abort", false, a.rolloutAction(service.ActionAbort)},
		{"POST", "/api/v1/rollouts/{id}/hosts/{host}/retry", false, a.retryRolloutHost},
		{"POST", "/api/v1/rollouts/{id}/hosts/{host}/skip", false, a.skipRolloutHost},

		{"GET", "/api/v1/policies", false, a.listPolicies},
		{"POST", "/api/v1/policies", false, a.createPolicy},
		{"GET", "/api/v1/policies/{name}", false, a.getPolicy},
		{"PUT", "/api/v1/policies/{name}", false, a.putPolicy},
		{"GET", "/api/v1/exceptions", false, a.listExceptions},
		{"POST", "/api/v1/exceptions", false, a.createException},
		{"GET", "/api/v1/exceptions/{id}", false, a.getException},
		{"POST", "/api/v1/exceptions/{id}/revoke", false, a.revokeException},
		{"GET", "/api/v1/blocks", false, a.listBlocks},
		{"POST", "/api/v1/blocks", false, a.addBlock},
		{"DELETE", "/api/v1/blocks/{id}", false, a.removeBlock},
		{"GET", "/api/v1/webhooks", false, a.listWebhooks},
		{"POST", "/api/v1/webhooks", false, a.createWebhook},
		{"DELETE", "/api/v1/webhooks/{ref}", false, a.deleteWebhook},
		{"POST", "/api/v1/webhooks/{ref}/test", false, a.testWebhook},
		{"GET", "/api/v1/disruption-budgets", false, a.listDisruption},
		{"POST", "/api/v1/disruption-budgets", false, a.addDisruptionBudget},
		{"DELETE", "/api/v1/disruption-budgets/{id}", false, a.removeDisruptionBudget},
		{"DELETE", "/api/v1/disruption-leases/{host}", false, a.releaseLease},

		{"POST", "/api/v1/tokens", false, a.createToken},
		{"GET", "/api/v1/tokens", false, a.listTokens},
		{"DELETE", "/api/v1/tokens/{id}", false, a.revokeToken},
	}
}

// Handler returns the API's http.Handler.
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range a.Routes() {
		h := web.Handle(a.logger, rt.Handler)
		if !rt.Public {
			h = a.authenticate(h)
		}
		mux.Handle(rt.Method+" "+rt.Pattern, h)
	}
	mux.Handle("/api/", web.Handle(a.logger, func(w http.ResponseWriter, r *http.Request) error {
		return web.NotFound(r)
	}))
	return mux
}
