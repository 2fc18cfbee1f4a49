package ui

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/service"
	"github.com/patchbay/patchbay/internal/web"
)

// vulnsQuery is the vulnerability list's filters, all in the URL.
type vulnsQuery struct {
	Severity string // minimum severity; "" for any
	KEV      bool
	Fixable  bool
}

// severities are the choices of the severity filter, worst first.
var severities = []patchbay.Severity{patchbay.SeverityCritical, patchbay.SeverityHigh, patchbay.SeverityMedium, patchbay.SeverityLow}

func parseVulnsQuery(q url.Values) (vulnsQuery, patchbay.FindingFilter, error) {
	vq := vulnsQuery{Severity: q.Get("severity"), KEV: q.Get("kev") == "1", Fixable: q.Get("fixable") == "1"}
	f := patchbay.FindingFilter{KEV: vq.KEV, Fixable: vq.Fixable}
	if vq.Severity != "" {
		if !slices.Contains(severities, patchbay.Severity(vq.Severity)) {
			return vq, f, web.Errorf("severity %q: want critical, high, medium or low", vq.Severity)
		}
		f.MinSeverity = patchbay.Severity(vq.Severity)
	}
	return vq, f, nil
}

// vulnGroup is one CVE (or advisory without a CVE) across the fleet.
type vulnGroup struct {
	ID         string // CVE id, or the advisory id when it names no CVE
	Severity   patchbay.Severity
	CVSS       float64
	KEV        bool
	Hosts      int
	Excepted   int // of those hosts, how many an exception covers
	Findings   int
	Fixed      []string // fixed versions, sorted; empty while there is no fix
	Advisories []string
}

// groupFindings groups findings by CVE: a finding of an advisory with
// three CVEs counts under each. Worst first: KEV, severity, CVSS, hosts.
func groupFindings(fs []patchbay.Finding) []vulnGroup {
	type acc struct {
		g        vulnGroup
		hosts    map[int64]bool
		excepted map[int64]bool
		fixed    map[string]bool
		advs     map[string]bool
	}
	byID := map[string]*acc{}
	for _, f := range fs {
		ids := f.CVEs
		if len(ids) == 0 {
			ids = []string{f.AdvisoryID}
		}
		for _, id := range ids {
			a := byID[id]
			if a == nil {
				a = &acc{g: vulnGroup{ID: id, Severity: patchbay.SeverityUnknown}, hosts: map[int64]bool{}, excepted: map[int64]bool{}, fixed: map[string]bool{}, advs: map[string]bool{}}
				byID[id] = a
			}
			if patchbay.SeverityRank(f.Severity) > patchbay.SeverityRank(a.g.Severity) {
				a.g.Severity = f.Severity
			}
			a.g.CVSS = max(a.g.CVSS, f.CVSSScore)
			a.g.KEV = a.g.KEV || f.KEV
			a.g.Findings++
			a.hosts[f.HostID] = true
			if f.ExceptionID != 0 {
				a.excepted[f.HostID] = true
			}
			if f.FixedVersion != "" {
				a.fixed[f.FixedVersion] = true
			}
			a.advs[f.AdvisoryID] = true
		}
	}
	out := make([]vulnGroup, 0, len(byID))
	for _, a := range byID {
		a.g.Hosts, a.g.Excepted = len(a.hosts), len(a.excepted)
		for v := range a.fixed {
			a.g.Fixed = append(a.g.Fixed, v)
		}
		slices.Sort(a.g.Fixed)
		for v := range a.advs {
			a.g.Advisories = append(a.g.Advisories, v)
		}
		slices.Sort(a.g.Advisories)
		out = append(out, a.g)
	}
	slices.SortFunc(out, func(a, b vulnGroup) int {
		if a.KEV != b.KEV {
			if a.KEV {
				return -1
			}
			return 1
		}
		return cmp.Or(
			cmp.Compare(patchbay.SeverityRank(b.Severity), patchbay.SeverityRank(a.Severity)),
			cmp.Compare(b.CVSS, a.CVSS),
			cmp.Compare(b.Hosts, a.Hosts),
			strings.Compare(b.ID, a.ID), // newer CVE ids first
		)
	})
	return out
}

type vulnsPage struct {
	Q          vulnsQuery
	Severities []patchbay.Severity
	Groups     []vulnGroup
	Findings   int
}

// vulns: GET /vulns — open findings across the fleet, grouped by CVE.
func (u *UI) vulns(w http.ResponseWriter, r *http.Request) error {
	vq, f, err := parseVulnsQuery(r.URL.Query())
	if err != nil {
		return err
	}
	fs, err := u.svc.Findings(r.Context(), service.FindingQuery{FindingFilter: f})
	if err != nil {
		return err
	}
	p := vulnsPage{Q: vq, Severities: severities, Groups: groupFindings(fs), Findings: len(fs)}
	return u.render(w, r, http.StatusOK, "vulns", view{Title: "Vulnerabilities", Nav: "vulns", Data: p})
}

type vulnPage struct {
	ID         string
	KEV        *patchbay.KEVEntry
	Advisories []patchbay.Advisory
	Findings   []patchbay.Finding
	Hosts      int
}

// vuln: GET /vulns/{id} — one CVE (or advisory id): its advisories, KEV
// entry and the affected hosts with installed and fixed versions.
func (u *UI) vuln(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id := strings.ToUpper(strings.TrimSpace(r.PathValue("id")))
	var p vulnPage
	if strings.HasPrefix(id, "CVE-") {
		v, err := u.svc.Vuln(ctx, id)
		if err != nil {
			return err
		}
		p = vulnPage{ID: v.CVE, KEV: v.KEV, Advisories: v.Advisories, Findings: v.Findings}
	} else {
		fs, err := u.svc.Findings(ctx, service.FindingQuery{FindingFilter: patchbay.FindingFilter{AdvisoryID: r.PathValue("id")}})
		if err != nil {
			return err
		}
		if len(fs) == 0 {
			return patchbay.Errorf(patchbay.ENOTFOUND, "no open finding of %s", r.PathValue("id"))
		}
		p = vulnPage{ID: r.PathValue("id"), Findings: fs}
	}
	slices.SortStableFunc(p.Findings, func(a, b patchbay.Finding) int {
		return cmp.Or(strings.Compare(a.Hostname, b.Hostname), strings.Compare(a.Package, b.Package))
	})
	hosts := map[int64]bool{}
	for _, f := range p.Findings {
		hosts[f.HostID] = true
	}
	p.Hosts = len(hosts)
	return u.render(w, r, http.StatusOK, "vuln", view{Title: p.ID, Nav: "vulns", Data: p})
}
