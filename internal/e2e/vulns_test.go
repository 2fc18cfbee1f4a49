package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/e2e/e2etest"
)

// expectedFindings reads the Debian OSV fixtures and returns, for each
// advisory of the source package openssl whose fixed version real dpkg
// says is above installed, the findings of the binary packages openssl
// and libssl3 (both built from openssl): "package advisory".
func expectedFindings(t *testing.T, dir, installed string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("fixtures in %s: %v", dir, err)
	}
	want := []string{}
	for _, f := range files {
		var doc struct {
			ID       string `json:"id"`
			Affected []struct {
				Package struct{ Ecosystem, Name string }
				Ranges  []struct {
					Events []map[string]string
				}
			}
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, &doc); err != nil {
			t.Fatal(err)
		}
		for _, a := range doc.Affected {
			if a.Package.Ecosystem != "Debian:12" || a.Package.Name != "openssl" {
				continue
			}
			for _, r := range a.Ranges {
				for _, ev := range r.Events {
					fixed, ok := ev["fixed"]
					if !ok {
						continue
					}
					// dpkg --compare-versions exits 0 when the relation holds.
					if exec.Command("dpkg", "--compare-versions", installed, "lt", fixed).Run() == nil {
						want = append(want, "libssl3 "+doc.ID, "openssl "+doc.ID)
					}
				}
			}
		}
	}
	slices.Sort(want)
	return slices.Compact(want)
}

// TestVulnerabilities: the real binary imports the Debian 12 OSV fixtures
// and the real KEV catalog offline; a Debian host reported by a real agent
// gets exactly the findings real dpkg predicts (binary packages matched
// through their source); an upgrade resolves findings and the timeline
// says so.
func TestVulnerabilities(t *testing.T) {
	if _, err := exec.LookPath("dpkg"); err != nil {
		t.Skip("dpkg is the oracle of this test:", err)
	}
	fixtures, err := filepath.Abs("../vuln/testdata/debian-osv")
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t)
	tok := decode[patchbay.CreateTokenResponse](t, s.CLI(t, "tokens", "create", "-o", "json"))
	const mid = "0123456789abcdef0123456789abcdef"
	root := newFakeRoot(t, mid, "vuln-host") // openssl and libssl3 3.0.15-1~deb12u1
	state := filepath.Join(t.TempDir(), "state")
	if out, code := s.agentOnce(t, root.dir, state, tok.Token); code != 0 {
		t.Fatalf("agent: exit %d\n%s", code, out)
	}

	out, errOut, code := run(t, "--config", s.Config, "advisories", "import", fixtures, "--batch", "40", "-o", "json")
	if code != 0 {
		t.Fatalf("import: exit %d\n%s", code, errOut)
	}
	totals := decode[map[string]any](t, out)
	if totals["kind"] != "osv" || totals["read"] != float64(94) || totals["added"] != float64(94) || totals["hosts_evaluated"] == float64(0) {
		t.Errorf("import totals: %v", totals)
	}
	if !strings.Contains(string(errOut), "40 advisories: 40 added") {
		t.Errorf("import progress: %s", errOut)
	}

	want := expectedFindings(t, fixtures, "3.0.15-1~deb12u1")
	if len(want) < 10 {
		t.Fatalf("oracle predicts only %v", want)
	}
	findings := decode[[]patchbay.Finding](t, s.CLI(t, "vulns", "list", "-o", "json"))
	if diff := cmp.Diff(want, e2etest.FindingKeys(findings)); diff != "" {
		t.Fatalf("findings (-want +got):\n%s", diff)
	}
	var raw []map[string]any
	if err := json.Unmarshal(s.CLI(t, "vulns", "list", "-o", "json"), &raw); err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"advisory_id", "cves", "package", "source_name", "installed_version", "fixed_version", "severity", "cvss_score", "kev", "first_seen", "resolved_at", "evidence"} {
		if _, ok := raw[0][field]; !ok {
			t.Errorf("finding JSON lacks %q: %v", field, raw[0])
		}
	}
	for _, f := range findings {
		if f.SourceName != "openssl" || f.InstalledVersion != "3.0.15-1~deb12u1" || f.FixedVersion == "" || !strings.Contains(f.Evidence, "dpkg") {
			t.Errorf("finding %+v", f)
		}
	}

	// KEV flags come from the catalog, joined by CVE.
	kevPath := filepath.Join("..", "..", "..", "shared", "advisories", "cisa-kev", "known_exploited_vulnerabilities.json")
	if _, err := os.Stat(kevPath); err == nil {
		out := decode[map[string]any](t, s.CLI(t, "advisories", "import", kevPath, "-o", "json"))
		if out["kind"] != "kev" || out["entries"] != float64(1404) {
			t.Errorf("kev import: %v", out)
		}
		kevOnly := decode[[]patchbay.Finding](t, s.CLI(t, "vulns", "list", "--kev", "-o", "json"))
		for _, f := range kevOnly {
			if !f.KEV {
				t.Errorf("--kev listed %+v", f)
			}
		}
	}

	// `vulns show` lists the affected host with installed and fixed versions.
	cve := findings[0].CVEs[0]
	v := decode[patchbay.Vuln](t, s.CLI(t, "vulns", "show", cve, "-o", "json"))
	if len(v.Findings) == 0 || v.Findings[0].Hostname != "vuln-host" || v.Findings[0].FixedVersion == "" {
		t.Errorf("vulns show %s: %+v", cve, v)
	}
	host := decode[map[string]any](t, s.CLI(t, "hosts", "show", "vuln-host", "-o", "json"))
	if host["findings_count"] != float64(len(want)) || host["hostname"] != "vuln-host" {
		t.Errorf("hosts show: findings_count %v, want %d", host["findings_count"], len(want))
	}

	// Upgrade openssl: the findings fixed by 3.0.17-1~deb12u3 resolve.
	const upgraded = "3.0.17-1~deb12u3"
	root.set(t, map[string]string{"base-files": "12.4+deb12u7", "bash": "5.2.15-2+b7", "openssl": upgraded, "libssl3": upgraded})
	if out, code := s.agentOnce(t, root.dir, state, ""); code != 0 {
		t.Fatalf("agent after upgrade: exit %d\n%s", code, out)
	}
	wantAfter := expectedFindings(t, fixtures, upgraded)
	findings = decode[[]patchbay.Finding](t, s.CLI(t, "vulns", "list", "-o", "json"))
	if diff := cmp.Diff(wantAfter, e2etest.FindingKeys(findings)); diff != "" {
		t.Errorf("findings after upgrade (-want +got):\n%s", diff)
	}
	resolved := decode[[]patchbay.Finding](t, s.CLI(t, "vulns", "list", "--resolved", "-o", "json"))
	if len(resolved) != len(want)-len(wantAfter) || len(resolved) == 0 {
		t.Errorf("%d resolved, want %d", len(resolved), len(want)-len(wantAfter))
	}
	events := decode[[]patchbay.Event](t, s.CLI(t, "hosts", "history", "vuln-host", "--package", "libssl3", "-o", "json"))
	var n int
	for _, e := range events {
		if e.Kind == patchbay.EventFindingResolved {
			n++
			if e.NewVersion != upgraded || !strings.Contains(e.Detail, "resolved") {
				t.Errorf("resolved event %+v", e)
			}
		}
	}
	if n != len(resolved)/2 {
		t.Errorf("%d finding_resolved events for libssl3, want %d", n, len(resolved)/2)
	}

	// The SLA report counts the open findings by class and the resolved
	// ones in its time to fix; all are hours old, so none is overdue.
	sla := decode[patchbay.SLAReport](t, s.CLI(t, "vulns", "sla", "-o", "json"))
	var open, fixed, overdue int
	for _, o := range sla.Open {
		open += o.Open
		overdue += o.Overdue
	}
	for _, x := range sla.Fixed {
		fixed += x.Fixed
		if x.Clock > 0 && x.Within != x.Fixed { // fixed within minutes
			t.Errorf("time to fix %+v", x)
		}
	}
	if open != len(wantAfter) || fixed != len(resolved) || overdue != 0 || sla.Compliance != 100 {
		t.Errorf("sla report: %d open (want %d), %d fixed (want %d), %d overdue, compliance %.1f", open, len(wantAfter), fixed, len(resolved), overdue, sla.Compliance)
	}
	table := string(s.CLI(t, "vulns", "sla", "--since", "7d", "--sla", "critical=3d"))
	for _, want := range []string{"Open findings (compliance 100.0%", "CLASS     CLOCK", "critical  3d", "unknown   90d", "Time to fix, findings resolved since", "Overdue findings, most overdue first (0)"} {
		if !strings.Contains(table, want) {
			t.Errorf("vulns sla table lacks %q:\n%s", want, table)
		}
	}
	if _, errOut, code := run(t, "--config", s.Config, "vulns", "sla", "--sla", "critical=soon"); code != 1 || !strings.Contains(string(errOut), "sla critical=soon") {
		t.Errorf("vulns sla --sla critical=soon: exit %d, %s", code, errOut)
	}
}
