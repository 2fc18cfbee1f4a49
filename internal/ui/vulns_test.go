package ui_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay"
)

// addVulns imports three advisories against the test hosts' packages
// (pkg0000 critical, fixed, in KEV; pkg0001 low, no fix; pkg0002 medium
// under an advisory without a CVE) and a KEV entry.
func (f *fixture) addVulns(t testing.TB) {
	t.Helper()
	adv := func(id, cve, pkg string, sev patchbay.Severity, score float64, fixed string) patchbay.Advisory {
		events := []patchbay.RangeEvent{{Introduced: "0"}}
		if fixed != "" {
			events = append(events, patchbay.RangeEvent{Fixed: fixed})
		}
		a := patchbay.Advisory{ID: id, Source: "osv", Severity: sev, CVSSScore: score, Summary: "summary of " + id,
			Affected: []patchbay.Affected{{Ecosystem: "Debian:12", Package: pkg, Ranges: []patchbay.Range{{Type: "ECOSYSTEM", Events: events}}}}}
		if cve != "" {
			a.CVEs = []string{cve}
		}
		return a
	}
	if _, err := f.svc.ImportAdvisories(f.admin, []patchbay.Advisory{
		adv("DSA-9001-1", "CVE-2099-0001", "pkg0000", patchbay.SeverityCritical, 9.8, "1.0-2"),
		adv("DSA-9002-1", "CVE-2099-0002", "pkg0001", patchbay.SeverityLow, 3.1, ""),
		adv("DSA-9003-1", "", "pkg0002", patchbay.SeverityMedium, 0, "1.0-3"),
	}); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.ImportKEV(f.admin, []patchbay.KEVEntry{{CVE: "CVE-2099-0001", Name: "pkg0000 remote code execution",
		Vendor: "Example", Product: "pkg0000", DateAdded: time.Date(2099, 1, 2, 0, 0, 0, 0, time.UTC)}}); err != nil {
		t.Fatal(err)
	}
}

var vulnCell = `<td class="name"><a href="/vulns/`

// vulnIDs returns the CVE or advisory ids of a vulnerability list, in order.
func vulnIDs(page string) []string {
	var ids []string
	for _, part := range strings.Split(page, vulnCell)[1:] {
		id, _, _ := strings.Cut(part, `"`)
		ids = append(ids, id)
	}
	return ids
}

func TestVulnsPage(t *testing.T) {
	f := newFixture(t)
	web1 := f.addHost(t, hostSpec{name: "web1"})
	f.addHost(t, hostSpec{name: "web2"})
	f.addHost(t, hostSpec{name: "mail", os: "almalinux"}) // another ecosystem: no findings
	f.addVulns(t)
	b := f.browser(t)
	b.signIn()

	r := b.get("/vulns")
	if r.status != 200 {
		t.Fatalf("status %d:\n%s", r.status, r.body)
	}
	mustContain(t, r.body, `href="/vulns" aria-current="page">Vulnerabilities</a>`, "3 vulnerabilities, 6 open findings",
		`<span class="badge security">KEV</span>`, "9.8", "no fix yet", "1.0-2", "DSA-9003-1")
	for _, tc := range []struct {
		name, query string
		want        []string
	}{
		{"all, KEV first then severity", "", []string{"CVE-2099-0001", "DSA-9003-1", "CVE-2099-0002"}},
		{"high or worse", "?severity=high", []string{"CVE-2099-0001"}},
		{"medium or worse", "?severity=medium", []string{"CVE-2099-0001", "DSA-9003-1"}},
		{"KEV", "?kev=1", []string{"CVE-2099-0001"}},
		{"fixable", "?fixable=1", []string{"CVE-2099-0001", "DSA-9003-1"}},
		{"fixable and low or worse", "?fixable=1&severity=low", []string{"CVE-2099-0001", "DSA-9003-1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := b.get("/vulns" + tc.query)
			if r.status != 200 {
				t.Fatalf("status %d", r.status)
			}
			if got := vulnIDs(r.body); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("listed %v, want %v", got, tc.want)
			}
		})
	}
	if r := b.get("/vulns?severity=dire"); r.status != http.StatusBadRequest {
		t.Errorf("unknown severity: status %d", r.status)
	}

	// One CVE: KEV entry, advisory, both affected hosts linked.
	r = b.get("/vulns/cve-2099-0001")
	if r.status != 200 {
		t.Fatalf("CVE page: status %d:\n%s", r.status, r.body)
	}
	mustContain(t, r.body, "<h1>CVE-2099-0001</h1>", "pkg0000 remote code execution", "summary of DSA-9001-1",
		"2 hosts, 2 open findings", fmt.Sprintf(`<a href="/hosts/%d">web1</a>`, web1.ID), ">web2</a>", `<td class="ver">1.0-1</td>`, `<td class="ver">1.0-2</td>`)
	// An advisory without a CVE has its page under its own id.
	r = b.get("/vulns/DSA-9003-1")
	mustContain(t, r.body, "<h1>DSA-9003-1</h1>", "2 hosts, 2 open findings", "1.0-3")
	for _, p := range []string{"/vulns/CVE-2099-9999", "/vulns/DSA-0000-1"} {
		if r := b.get(p); r.status != http.StatusNotFound {
			t.Errorf("%s: status %d", p, r.status)
		}
	}

	// The host page lists the host's findings, worst first, linked.
	r = b.get(fmt.Sprintf("/hosts/%d", web1.ID))
	mustContain(t, r.body, `id="findings"`, "3 open", `<a href="/vulns/CVE-2099-0001">CVE-2099-0001</a>`, `<a href="/vulns/DSA-9003-1">`)
	if c, l := strings.Index(r.body, "CVE-2099-0001"), strings.Index(r.body, "CVE-2099-0002"); c < 0 || l < c {
		t.Errorf("critical finding not before the low one (%d, %d)", c, l)
	}
}
