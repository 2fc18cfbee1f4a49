package ui

import (
	"bytes"
	"cmp"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/service"
	"github.com/patchbay/patchbay/internal/web"
)

const (
	packagesPageSize = 100 // packages shown per page on a host page
	timelineLimit    = 200 // newest events shown on a host page
)

type assetField struct {
	Key, Label, Value string
}

type hostPage struct {
	H           patchbay.Host
	Assets      []assetField
	Labels      []string // "key=value", sorted
	Updates     []patchbay.HostUpdate
	Security    int
	PkgSearch   string
	Packages    []patchbay.Package
	PkgMatches  int
	PkgPage     int
	PkgPages    int
	PkgPrevHref string
	PkgNextHref string
	Findings    []patchbay.Finding
	Timeline    timeline
	Saved       bool
}

type timeline struct {
	Events []patchbay.Event
	Now    time.Time
}

// host: GET /hosts/{id} — facts, editable asset fields, pending updates
// (security first), searchable packages and the timeline.
func (u *UI) host(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	ref := r.PathValue("id")
	h, err := u.svc.Host(ctx, ref)
	if err != nil {
		return err
	}
	ref = strconv.FormatInt(h.ID, 10)
	p := hostPage{H: h, Saved: r.URL.Query().Get("saved") == "1"}
	a := h.Assets
	p.Assets = []assetField{{"owner", "Owner", a.Owner}, {"environment", "Environment", a.Environment},
		{"role", "Role", a.Role}, {"criticality", "Criticality", a.Criticality}, {"location", "Location", a.Location}}
	for k, v := range h.Labels {
		p.Labels = append(p.Labels, k+"="+v)
	}
	slices.Sort(p.Labels)

	if p.Updates, err = u.svc.HostUpdates(ctx, ref); err != nil {
		return err
	}
	slices.SortStableFunc(p.Updates, func(a, b patchbay.HostUpdate) int {
		if a.Security != b.Security {
			if a.Security {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.Name, b.Name)
	})
	for _, up := range p.Updates {
		if up.Security {
			p.Security++
		}
	}

	pkgs, err := u.svc.HostPackages(ctx, ref)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	p.PkgSearch = strings.TrimSpace(q.Get("pkg"))
	if p.PkgSearch != "" {
		needle := strings.ToLower(p.PkgSearch)
		pkgs = slices.DeleteFunc(pkgs, func(pk patchbay.Package) bool {
			return !strings.Contains(strings.ToLower(pk.Name), needle) && !strings.Contains(strings.ToLower(pk.SourceName), needle)
		})
	}
	p.PkgMatches = len(pkgs)
	p.PkgPages = max(1, (len(pkgs)+packagesPageSize-1)/packagesPageSize)
	p.PkgPage = 1
	if s := q.Get("pp"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return web.Errorf("pp %q: want a positive number", s)
		}
		p.PkgPage = min(n, p.PkgPages)
	}
	from := (p.PkgPage - 1) * packagesPageSize
	p.Packages = pkgs[from:min(len(pkgs), from+packagesPageSize)]
	pkgHref := func(n int) string {
		v := "/hosts/" + ref + "?pp=" + strconv.Itoa(n)
		if p.PkgSearch != "" {
			v += "&pkg=" + urlQueryEscape(p.PkgSearch)
		}
		return v + "#packages"
	}
	if p.PkgPage > 1 {
		p.PkgPrevHref = pkgHref(p.PkgPage - 1)
	}
	if p.PkgPage < p.PkgPages {
		p.PkgNextHref = pkgHref(p.PkgPage + 1)
	}

	if p.Findings, err = u.svc.Findings(ctx, service.FindingQuery{FindingFilter: patchbay.FindingFilter{HostID: h.ID}}); err != nil {
		return err
	}
	slices.SortStableFunc(p.Findings, func(a, b patchbay.Finding) int {
		return cmp.Compare(patchbay.SeverityRank(b.Severity), patchbay.SeverityRank(a.Severity))
	})
	events, err := u.svc.HostHistory(ctx, ref, service.HistoryFilter{Limit: timelineLimit})
	if err != nil {
		return err
	}
	p.Timeline = timeline{Events: events, Now: u.now()}
	return u.render(w, r, http.StatusOK, "host", view{Title: h.Hostname, Nav: "hosts", Data: p})
}

// hostLive: GET /hosts/{id}/live — what the host page's script polls: the
// status, last-seen and the timeline rows, rendered by the same template
// as the page.
func (u *UI) hostLive(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	h, err := u.svc.Host(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	ref := strconv.FormatInt(h.ID, 10)
	events, err := u.svc.HostHistory(ctx, ref, service.HistoryFilter{Limit: timelineLimit})
	if err != nil {
		return err
	}
	now := u.now()
	var buf bytes.Buffer
	if err := u.pages["host"].t.ExecuteTemplate(&buf, "timeline_rows", timeline{Events: events, Now: now}); err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return web.WriteJSON(w, http.StatusOK, map[string]any{
		"status":         h.Status,
		"last_seen":      h.LastSeen,
		"last_seen_text": ago(h.LastSeen, now),
		"last_seen_full": stamp(h.LastSeen),
		"updates":        h.UpdatesCount,
		"security":       h.SecurityUpdatesCount,
		"reboot":         h.RebootRequired,
		"events":         len(events),
		"timeline_html":  buf.String(),
	})
}

// saveAssets: POST /hosts/{id}/assets — the asset form; redirects back.
func (u *UI) saveAssets(w http.ResponseWriter, r *http.Request) error {
	set := map[string]string{}
	for _, k := range patchbay.AssetKeys {
		v := strings.TrimSpace(r.PostFormValue(k))
		if len(v) > 200 {
			return web.Errorf("%s: at most 200 characters", k)
		}
		set[k] = v
	}
	h, err := u.svc.UpdateHost(r.Context(), r.PathValue("id"), set)
	if err != nil {
		return err
	}
	return redirect(w, r, hostHref(h.ID)+"?saved=1#assets")
}

// retireHost: POST /hosts/{id}/retire with a reason.
func (u *UI) retireHost(w http.ResponseWriter, r *http.Request) error {
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if len(reason) > 200 {
		return web.Errorf("reason: at most 200 characters")
	}
	h, err := u.svc.RetireHost(r.Context(), r.PathValue("id"), reason)
	if err != nil {
		return err
	}
	return redirect(w, r, hostHref(h.ID)+"#retired")
}

// unretireHost: POST /hosts/{id}/unretire.
func (u *UI) unretireHost(w http.ResponseWriter, r *http.Request) error {
	h, err := u.svc.UnretireHost(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return redirect(w, r, hostHref(h.ID))
}

// dormantPage is the dormant report.
type dormantPage struct {
	R patchbay.DormantReport
}

// dormant: GET /reports/dormant.
func (u *UI) dormant(w http.ResponseWriter, r *http.Request) error {
	rep, err := u.svc.DormantReport(r.Context())
	if err != nil {
		return err
	}
	return u.render(w, r, http.StatusOK, "dormant", view{Title: "Dormant hosts", Nav: "hosts", Data: dormantPage{R: rep}})
}

// EventText describes an event in a few words for the timeline.
func eventText(e patchbay.Event) string {
	switch e.Kind {
	case patchbay.EventPackageInstalled:
		return "installed " + e.Package + " " + e.NewVersion
	case patchbay.EventPackageRemoved:
		return "removed " + e.Package + " " + e.OldVersion
	case patchbay.EventPackageUpgraded:
		return "upgraded " + e.Package + " " + e.OldVersion + " → " + e.NewVersion
	case patchbay.EventPackageDowngraded:
		return "downgraded " + e.Package + " " + e.OldVersion + " → " + e.NewVersion
	case patchbay.EventKernelChanged:
		return "kernel " + e.OldVersion + " → " + e.NewVersion
	case patchbay.EventOSChanged:
		return "OS " + e.OldVersion + " → " + e.NewVersion
	case patchbay.EventReboot:
		return "rebooted"
	case patchbay.EventEnrolled:
		return "enrolled"
	case patchbay.EventInventoryBaseline:
		return "first inventory"
	case patchbay.EventRetired, patchbay.EventUnretired, patchbay.EventCatchUp:
		return e.Detail
	}
	return string(e.Kind)
}
