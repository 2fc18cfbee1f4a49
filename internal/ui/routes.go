// Package ui serves Patchbay's web UI at /: server-rendered html/template
// pages embedded in the binary, sessions in cookies, CSRF tokens on every
// form, charts as server-made SVG, and a little hand-written JavaScript
// for live updates. Every route is in the table below; every route needs
// a session unless it is marked public, and a test walks the table to
// prove it. Authorization is the service's: the UI puts the signed-in
// user's Principal in the request context and calls the service.
package ui

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/patchbay/patchbay/internal/service"
	"github.com/patchbay/patchbay/internal/web"
)

// UI is the web UI.
type UI struct {
	svc    *service.Service
	logger *slog.Logger
	pages  map[string]*page
	now    func() time.Time
}

// Options configure the UI.
type Options struct {
	Now func() time.Time // default time.Now; only for "5 minutes ago"
}

// New returns the UI over svc. It panics if an embedded template does not
// parse, which a test catches before any release.
func New(svc *service.Service, logger *slog.Logger, o Options) *UI {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &UI{svc: svc, logger: logger, pages: mustParsePages(), now: o.Now}
}

// Route is one entry of the route table.
type Route struct {
	Method  string
	Pattern string
	Public  bool // served without a session
	Handler web.HandlerFunc
}

// Routes returns every route of the UI.
func (u *UI) Routes() []Route {
	return []Route{
		{"GET", "/static/{file}", true, u.static},
		{"GET", "/login", true, u.loginForm},
		{"POST", "/login", true, u.login},

		{"POST", "/logout", false, u.logout},
		{"GET", "/{$}", false, u.dashboard},
		{"GET", "/hosts", false, u.hosts},
		{"GET", "/hosts/{id}", false, u.host},
		{"GET", "/hosts/{id}/live", false, u.hostLive},
		{"POST", "/hosts/{id}/assets", false, u.saveAssets},
		{"POST", "/hosts/{id}/retire", false, u.retireHost},
		{"POST", "/hosts/{id}/unretire", false, u.unretireHost},
		{"GET", "/reports/dormant", false, u.dormant},
		{"GET", "/reports/sla", false, u.sla},
		{"GET", "/webhooks", false, u.webhooks},
		{"GET", "/vulns", false, u.vulns},
		{"GET", "/vulns/{id}", false, u.vuln},
		{"GET", "/rollouts", false, u.rollouts},
		{"GET", "/rollouts/new", false, u.rolloutNew},
		{"POST", "/rollouts", false, u.rolloutCreate},
		{"GET", "/rollouts/{id}", false, u.rollout},
		{"GET", "/rollouts/{id}/live", false, u.rolloutLive},
		{"GET", "/rollouts/{id}/confirm/{action}", false, u.rolloutConfirm},
		{"POST", "/rollouts/{id}/{action}", false, u.rolloutAct},
		{"GET", "/policies", false, u.policies},
		{"POST", "/policies", false, u.createPolicy},
		{"GET", "/exceptions", false, u.exceptions},
		{"POST", "/exceptions", false, u.createException},
		{"POST", "/exceptions/{id}/revoke", false, u.revokeException},
		{"GET", "/rollouts/{id}/hosts/{host}/confirm/{action}", false, u.rolloutHostConfirm},
		{"POST", "/rollouts/{id}/hosts/{host}/{action}", false, u.rolloutHostAct},
	}
}

// Handler returns the UI's http.Handler; mount it at "/".
func (u *UI) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range u.Routes() {
		h := u.handle(rt.Handler)
		if !rt.Public {
			h = u.requireSession(h)
		}
		mux.Handle(rt.Method+" "+rt.Pattern, h)
	}
	mux.Handle("/", u.handle(func(w http.ResponseWriter, r *http.Request) error { return web.NotFound(r) }))
	return securityHeaders(mux)
}

// securityHeaders sets the headers every UI response carries. The content
// security policy allows only this server's own scripts and styles: no
// inline script, no third party.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	})
}
