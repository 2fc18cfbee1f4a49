package api

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/service"
	"github.com/patchbay/patchbay/internal/web"
)

// listHosts: GET /api/v1/hosts?label=k=v&os=debian&status=dormant&stale=true
// &needs_reboot=true&has_updates=true&security_updates=true&limit=100&offset=0
// (stale=true: stale or dormant; status: exactly one status, retired
// hosts only with status=retired)
func (a *API) listHosts(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := patchbay.HostFilter{OSID: q.Get("os"), Labels: map[string]string{}, Status: patchbay.HostStatus(q.Get("status"))}
	for _, l := range q["label"] {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return web.Errorf("label %q: want key=value", l)
		}
		f.Labels[k] = v
	}
	var err error
	for name, dst := range map[string]*bool{"stale": &f.Stale, "needs_reboot": &f.NeedsReboot, "has_updates": &f.HasUpdates, "security_updates": &f.SecurityUpdates} {
		if v := q.Get(name); v != "" {
			if *dst, err = strconv.ParseBool(v); err != nil {
				return web.Errorf("%s=%q: want true or false", name, v)
			}
		}
	}
	if f.Limit, err = intParam(q.Get("limit"), 0); err != nil {
		return err
	}
	if f.Offset, err = intParam(q.Get("offset"), 0); err != nil {
		return err
	}
	hosts, err := a.svc.ListHosts(r.Context(), f)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, orEmpty(hosts))
}

func intParam(s string, def int) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, web.Errorf("%q: want a non-negative integer", s)
	}
	return n, nil
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (a *API) getHost(w http.ResponseWriter, r *http.Request) error {
	h, err := a.svc.Host(r.Context(), r.PathValue("ref"))
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, h)
}

// patchHost: PATCH /api/v1/hosts/{ref} with {"set": {"owner": "alice", "rack": "b4"}};
// an empty value removes a label or clears an asset field.
func (a *API) patchHost(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Set map[string]string `json:"set"`
	}
	if err := web.DecodeJSON(w, r, smallBodyLimit, &body); err != nil {
		return err
	}
	h, err := a.svc.UpdateHost(r.Context(), r.PathValue("ref"), body.Set)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, h)
}

func (a *API) hostPackages(w http.ResponseWriter, r *http.Request) error {
	p, err := a.svc.HostPackages(r.Context(), r.PathValue("ref"))
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, orEmpty(p))
}

func (a *API) hostUpdates(w http.ResponseWriter, r *http.Request) error {
	u, err := a.svc.HostUpdates(r.Context(), r.PathValue("ref"))
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, orEmpty(u))
}

// hostHistory: GET /api/v1/hosts/{ref}/history?since=7d&package=openssl&limit=100
func (a *API) hostHistory(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	var f service.HistoryFilter
	if s := q.Get("since"); s != "" {
		d, err := ParseSince(s)
		if err != nil {
			return err
		}
		f.Since = d
	}
	f.Package = q.Get("package")
	var err error
	if f.Limit, err = intParam(q.Get("limit"), 0); err != nil {
		return err
	}
	ev, err := a.svc.HostHistory(r.Context(), r.PathValue("ref"), f)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, orEmpty(ev))
}

// ParseSince reads a duration that also accepts days: "7d", "36h", "90m".
func ParseSince(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		d, err := strconv.Atoi(n)
		if err != nil || d < 0 {
			return 0, web.Errorf("since %q: want a duration like 7d, 36h or 90m", s)
		}
		return time.Duration(d) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, web.Errorf("since %q: want a duration like 7d, 36h or 90m", s)
	}
	return d, nil
}

// retireHost: POST /api/v1/hosts/{ref}/retire with {"reason": "..."}.
func (a *API) retireHost(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Reason string `json:"reason"`
	}
	if err := web.DecodeJSON(w, r, smallBodyLimit, &body); err != nil {
		return err
	}
	h, err := a.svc.RetireHost(r.Context(), r.PathValue("ref"), strings.TrimSpace(body.Reason))
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, h)
}

// unretireHost: POST /api/v1/hosts/{ref}/unretire.
func (a *API) unretireHost(w http.ResponseWriter, r *http.Request) error {
	h, err := a.svc.UnretireHost(r.Context(), r.PathValue("ref"))
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, h)
}

// dormantReport: GET /api/v1/reports/dormant.
func (a *API) dormantReport(w http.ResponseWriter, r *http.Request) error {
	rep, err := a.svc.DormantReport(r.Context())
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, rep)
}
