package api

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/service"
	"github.com/patchbay/patchbay/internal/web"
)

// advisoryBodyLimit bounds one import batch. The CLI parses advisory files
// itself and posts them in batches of a few thousand (a few MB), so that
// each batch is one transaction with its own progress line; the limit
// leaves room for a batch of very large records.
const advisoryBodyLimit = 256 << 20

// importAdvisories: POST /api/v1/advisories with {"advisories": [...]}.
func (a *API) importAdvisories(w http.ResponseWriter, r *http.Request) error {
	var body patchbay.AdvisoryImportRequest
	if err := web.DecodeJSON(w, r, advisoryBodyLimit, &body); err != nil {
		return err
	}
	reply, err := a.svc.ImportAdvisories(r.Context(), body.Advisories)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, reply)
}

// listAdvisories: GET /api/v1/advisories?cve=&ecosystem=&package=&source=&limit=&offset=
func (a *API) listAdvisories(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := patchbay.AdvisoryFilter{CVE: q.Get("cve"), Ecosystem: q.Get("ecosystem"), Package: q.Get("package"), Source: q.Get("source")}
	var err error
	if f.Limit, err = intParam(q.Get("limit"), 0); err != nil {
		return err
	}
	if f.Offset, err = intParam(q.Get("offset"), 0); err != nil {
		return err
	}
	advs, err := a.svc.ListAdvisories(r.Context(), f)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, orEmpty(advs))
}

func (a *API) getAdvisory(w http.ResponseWriter, r *http.Request) error {
	adv, err := a.svc.Advisory(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, adv)
}

// putKEV: PUT /api/v1/kev with {"entries": [...]} replaces the catalog.
func (a *API) putKEV(w http.ResponseWriter, r *http.Request) error {
	var body patchbay.KEVImportRequest
	if err := web.DecodeJSON(w, r, inventoryBodyLimit, &body); err != nil {
		return err
	}
	if err := a.svc.ImportKEV(r.Context(), body.Entries); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// findingFilter reads severity=high&kev=true&fixable=true&label=k=v&cve=&advisory=&resolved=true&limit=&offset=
func findingFilter(r *http.Request) (patchbay.FindingFilter, error) {
	q := r.URL.Query()
	f := patchbay.FindingFilter{CVE: q.Get("cve"), AdvisoryID: q.Get("advisory")}
	if s := q.Get("severity"); s != "" {
		sev, err := patchbay.ParseSeverity(s)
		if err != nil {
			return f, err
		}
		f.MinSeverity = sev
	}
	for name, dst := range map[string]*bool{"kev": &f.KEV, "fixable": &f.Fixable, "resolved": &f.Resolved} {
		if v := q.Get(name); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return f, web.Errorf("%s=%q: want true or false", name, v)
			}
			*dst = b
		}
	}
	for _, l := range q["label"] {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return f, web.Errorf("label %q: want key=value", l)
		}
		if f.Labels == nil {
			f.Labels = map[string]string{}
		}
		f.Labels[k] = v
	}
	var err error
	if f.Limit, err = intParam(q.Get("limit"), 0); err != nil {
		return f, err
	}
	if f.Offset, err = intParam(q.Get("offset"), 0); err != nil {
		return f, err
	}
	return f, nil
}

// listVulns: GET /api/v1/vulns?host=web1&severity=high&kev=true&fixable=true&label=env=prod
func (a *API) listVulns(w http.ResponseWriter, r *http.Request) error {
	f, err := findingFilter(r)
	if err != nil {
		return err
	}
	fs, err := a.svc.Findings(r.Context(), service.FindingQuery{FindingFilter: f, Host: r.URL.Query().Get("host")})
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, orEmpty(fs))
}

func (a *API) getVuln(w http.ResponseWriter, r *http.Request) error {
	v, err := a.svc.Vuln(r.Context(), r.PathValue("cve"))
	if err != nil {
		return err
	}
	v.Advisories, v.Findings = orEmpty(v.Advisories), orEmpty(v.Findings)
	return web.WriteJSON(w, http.StatusOK, v)
}

// hostFindings: GET /api/v1/hosts/{ref}/findings, with the filters of listVulns.
func (a *API) hostFindings(w http.ResponseWriter, r *http.Request) error {
	f, err := findingFilter(r)
	if err != nil {
		return err
	}
	fs, err := a.svc.Findings(r.Context(), service.FindingQuery{FindingFilter: f, Host: r.PathValue("ref")})
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, orEmpty(fs))
}

// evaluateVulns: POST /api/v1/vulns/evaluate re-evaluates the whole fleet.
func (a *API) evaluateVulns(w http.ResponseWriter, r *http.Request) error {
	st, err := a.svc.EvaluateFleet(r.Context())
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, st)
}

// listFeedSources: GET /api/v1/advisory-sources
func (a *API) listFeedSources(w http.ResponseWriter, r *http.Request) error {
	srcs, err := a.svc.FeedSources(r.Context())
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, orEmpty(srcs))
}

// addFeedSource: POST /api/v1/advisory-sources with {"url": ..., "kind": "osv"}.
func (a *API) addFeedSource(w http.ResponseWriter, r *http.Request) error {
	var body patchbay.FeedSourceRequest
	if err := web.DecodeJSON(w, r, 64<<10, &body); err != nil {
		return err
	}
	src, err := a.svc.AddFeedSource(r.Context(), body)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusCreated, src)
}

// removeFeedSource: DELETE /api/v1/advisory-sources/{id}
func (a *API) removeFeedSource(w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return web.Errorf("feed source id %q: want a number", r.PathValue("id"))
	}
	if err := a.svc.RemoveFeedSource(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// slaReport: GET /api/v1/reports/sla?since=90d&sla=critical=7d,high=14d
// (both optional: since defaults to 90 days, sla to the server's clocks,
// over which the classes given are set).
func (a *API) slaReport(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	var req service.SLAReportRequest
	if s := q.Get("since"); s != "" {
		d, err := patchbay.ParseDuration(s)
		if err != nil {
			return patchbay.Errorf(patchbay.EINVALID, "since: %s", patchbay.ErrorMessage(err))
		}
		req.Since = d
	}
	if s := q.Get("sla"); s != "" {
		sla, err := patchbay.ParseSLA(s)
		if err != nil {
			return err
		}
		req.SLA = &sla
	}
	rep, err := a.svc.SLAReport(r.Context(), req)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, rep)
}
