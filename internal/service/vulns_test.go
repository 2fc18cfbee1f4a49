package service_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/service"
	"github.com/patchbay/patchbay/internal/sqlite"
	"github.com/patchbay/patchbay/internal/vuln/osv"
	"github.com/patchbay/patchbay/internal/vuln/vulntest"
)

const testCAHash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

type vulnFixture struct {
	t     testing.TB
	db    *sqlite.DB
	svc   *service.Service
	admin context.Context
	clock time.Time
}

func newVulnFixture(t testing.TB) *vulnFixture {
	return newFixtureAt(t, time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC))
}

// newFixtureAt is a service on a fresh SQLite database with its clock at
// clock and an admin token.
func newFixtureAt(t testing.TB, clock time.Time) *vulnFixture {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "db.sqlite"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f := &vulnFixture{t: t, db: db, clock: clock}
	f.svc = service.New(db, service.Options{Now: func() time.Time { return f.clock }, CAHash: testCAHash})
	secret, err := f.svc.CreateAdminToken(t.Context(), "test")
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.svc.Authenticate(t.Context(), secret)
	if err != nil {
		t.Fatal(err)
	}
	f.admin = patchbay.NewContext(t.Context(), p)
	return f
}

// host enrols a host and returns a context acting as it.
func (f *vulnFixture) host(machineID, hostname string) context.Context {
	f.t.Helper()
	tok, _, err := f.svc.CreateEnrollToken(f.admin, service.NewEnrollToken{})
	if err != nil {
		f.t.Fatal(err)
	}
	r, err := f.svc.Enroll(f.t.Context(), patchbay.EnrollRequest{Token: tok, MachineID: machineID, Hostname: hostname, IntervalSeconds: 60})
	if err != nil {
		f.t.Fatal(err)
	}
	return patchbay.NewContext(f.t.Context(), patchbay.Principal{Kind: patchbay.PrincipalHost, HostID: r.HostID, Name: hostname})
}

func (f *vulnFixture) report(ctx context.Context, inv patchbay.Inventory) {
	f.t.Helper()
	f.clock = f.clock.Add(time.Minute)
	if err := f.svc.ReportInventory(ctx, inv); err != nil {
		f.t.Fatal(err)
	}
}

func (f *vulnFixture) importDir(path string) patchbay.AdvisoryImportReply {
	f.t.Helper()
	var advs []patchbay.Advisory
	if err := osv.Walk(f.t.Context(), path, func(a patchbay.Advisory) error {
		advs = append(advs, a)
		return nil
	}); err != nil {
		f.t.Fatal(err)
	}
	r, err := f.svc.ImportAdvisories(f.admin, advs)
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

func rpmPkg(name, version string) patchbay.Package {
	return patchbay.Package{Name: name, Arch: "x86_64", Version: version, SourceName: name, SourceVersion: version}
}

func almaInventory(machineID string, pkgs ...patchbay.Package) patchbay.Inventory {
	return patchbay.Inventory{SchemaVersion: 1, MachineID: machineID, Hostname: "alma", PackageManager: "dnf", Arch: "x86_64",
		OS:       patchbay.OS{ID: "almalinux", IDLike: "rhel centos fedora", VersionID: "9.4", Name: "AlmaLinux"},
		Packages: pkgs}
}

// brief is what a test states about a finding: advisory, package,
// installed and fixed version.
type brief struct{ Advisory, Package, Installed, Fixed string }

func briefs(fs []patchbay.Finding) []brief {
	out := []brief{}
	for _, f := range fs {
		out = append(out, brief{f.AdvisoryID, f.Package, f.InstalledVersion, f.FixedVersion})
	}
	slices.SortFunc(out, func(a, b brief) int { return strings.Compare(a.Package+a.Advisory, b.Package+b.Advisory) })
	return out
}

// TestAlmaLinuxFindings: an AlmaLinux 9 host with old versions, against
// the 1,783 real AlmaLinux 9 advisories, gets exactly the findings read by
// hand from the advisory files (a fixed version equal to the installed one
// is not a finding); an upgrade resolves findings and says so on the
// timeline.
func TestAlmaLinuxFindings(t *testing.T) {
	dir := vulntest.Shared(t, "almalinux-osv/advisories/almalinux9")
	f := newVulnFixture(t)
	const mid = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"
	hctx := f.host(mid, "alma")
	inv := almaInventory(mid,
		rpmPkg("sudo", "1.9.5p2-10.el9_3"),
		rpmPkg("less", "590-2.el9_2"),
		rpmPkg("bash", "5.1.8-6.el9_1"), // equal to ALSA-2023:0340's fix
		rpmPkg("zlib", "1.2.11-40.el9"),
		rpmPkg("openssh-server", "8.7p1-38.el9_4.1"),
		rpmPkg("tzdata", "2024a-1.el9"))
	f.report(hctx, inv)

	r := f.importDir(dir)
	if r.Added < 1700 || r.Evaluation.Hosts != 1 {
		t.Fatalf("import: %+v", r)
	}
	want := []brief{
		{"ALSA-2024:1692", "less", "590-2.el9_2", "590-3.el9_3"},
		{"ALSA-2024:3513", "less", "590-2.el9_2", "590-4.el9_4"},
		{"ALSA-2024:4457", "openssh-server", "8.7p1-38.el9_4.1", "8.7p1-38.el9_4.4"},
		{"ALSA-2025:23480", "openssh-server", "8.7p1-38.el9_4.1", "8.7p1-47.el9_7.alma.1"},
		{"ALSA-2025:6993", "openssh-server", "8.7p1-38.el9_4.1", "8.7p1-45.el9"},
		{"ALSA-2026:13381", "openssh-server", "8.7p1-38.el9_4.1", "8.7p1-49.el9_7.alma.1"},
		{"ALSA-2026:19219", "openssh-server", "8.7p1-38.el9_4.1", "9.9p1-7.el9_8.alma.1"},
		{"ALSA-2026:47756", "openssh-server", "8.7p1-38.el9_4.1", "9.9p1-9.el9_8.alma.1"},
		{"ALSA-2026:6462", "openssh-server", "8.7p1-38.el9_4.1", "8.7p1-48.el9_7.alma.1"},
		{"ALSA-2025:9978", "sudo", "1.9.5p2-10.el9_3", "1.9.5p2-10.el9_6.1"},
		{"ALSA-2026:12310", "sudo", "1.9.5p2-10.el9_3", "1.9.5p2-15.el9_7"},
		{"ALSA-2026:19220", "sudo", "1.9.5p2-10.el9_3", "1.9.17p2-3.el9_8"},
	}
	got, err := f.svc.Findings(f.admin, service.FindingQuery{Host: "alma"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, briefs(got)); diff != "" {
		t.Fatalf("findings (-want +got):\n%s", diff)
	}
	for _, x := range got {
		if x.Evidence == "" || !strings.Contains(x.Evidence, x.AdvisoryID) || len(x.CVEs) == 0 || x.Severity == patchbay.SeverityUnknown {
			t.Errorf("finding without evidence, CVEs or severity: %+v", x)
		}
	}
	// The host may read its own findings.
	if own, err := f.svc.Findings(hctx, service.FindingQuery{Host: "self"}); err != nil || len(own) != len(want) {
		t.Errorf("host reading its own findings: %d, %v", len(own), err)
	}
	if _, err := f.svc.Findings(hctx, service.FindingQuery{}); patchbay.ErrorCode(err) != patchbay.EFORBIDDEN {
		t.Errorf("host listing the fleet's findings: %v, want forbidden", err)
	}

	// Upgrading sudo to 1.9.5p2-15.el9_7 fixes two of its three.
	upgradedAt := f.clock.Add(time.Minute)
	i := slices.IndexFunc(inv.Packages, func(p patchbay.Package) bool { return p.Name == "sudo" })
	inv.Packages[i] = rpmPkg("sudo", "1.9.5p2-15.el9_7")
	f.report(hctx, inv)
	open, err := f.svc.Findings(f.admin, service.FindingQuery{Host: "alma", FindingFilter: patchbay.FindingFilter{AdvisoryID: "ALSA-2026:19220"}})
	if err != nil || len(open) != 1 || open[0].InstalledVersion != "1.9.5p2-15.el9_7" {
		t.Errorf("sudo finding still open with the new version: %+v %v", open, err)
	}
	resolved, err := f.svc.Findings(f.admin, service.FindingQuery{Host: "alma", FindingFilter: patchbay.FindingFilter{Resolved: true}})
	if err != nil {
		t.Fatal(err)
	}
	wantResolved := []brief{
		{"ALSA-2025:9978", "sudo", "1.9.5p2-10.el9_3", "1.9.5p2-10.el9_6.1"},
		{"ALSA-2026:12310", "sudo", "1.9.5p2-10.el9_3", "1.9.5p2-15.el9_7"},
	}
	if diff := cmp.Diff(wantResolved, briefs(resolved)); diff != "" {
		t.Errorf("resolved (-want +got):\n%s", diff)
	}
	for _, x := range resolved {
		if !x.ResolvedAt.Equal(upgradedAt) {
			t.Errorf("%s resolved at %v, want %v", x.AdvisoryID, x.ResolvedAt, upgradedAt)
		}
	}
	ev, err := f.svc.HostHistory(f.admin, "alma", service.HistoryFilter{Package: "sudo"})
	if err != nil {
		t.Fatal(err)
	}
	var details []string
	for _, e := range ev {
		if e.Kind == patchbay.EventFindingResolved {
			details = append(details, e.Detail)
			if e.OldVersion != "1.9.5p2-10.el9_3" || e.NewVersion != "1.9.5p2-15.el9_7" {
				t.Errorf("resolved event versions: %+v", e)
			}
		}
	}
	slices.Sort(details)
	wantDetails := []string{
		"ALSA-2025:9978 (CVE-2025-32462) resolved: sudo 1.9.5p2-15.el9_7 installed",
		"ALSA-2026:12310 (CVE-2026-35535) resolved: sudo 1.9.5p2-15.el9_7 installed",
	}
	if diff := cmp.Diff(wantDetails, details); diff != "" {
		t.Errorf("timeline (-want +got):\n%s", diff)
	}

	// Re-importing the same files changes nothing and evaluates no host.
	if r := f.importDir(dir); r.Added+r.Updated != 0 || r.Unchanged < 1700 || r.Evaluation.Hosts != 0 {
		t.Errorf("re-import: %+v", r)
	}
}

func debPkg(name, source, version string) patchbay.Package {
	return patchbay.Package{Name: name, Arch: "amd64", Version: version, SourceName: source, SourceVersion: version}
}

// TestImportEvaluatesOnlyTouchedHosts: an advisory batch re-evaluates the
// hosts with a package whose advisories changed, and no other; Debian
// hosts match through source packages.
func TestImportEvaluatesOnlyTouchedHosts(t *testing.T) {
	f := newVulnFixture(t)
	const (
		midA = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"
		midD = "d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1"
		midE = "e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1"
	)
	f.report(f.host(midA, "alma"), almaInventory(midA, rpmPkg("sudo", "1.9.5p2-10.el9_3")))
	deb := func(mid, name string, pkgs ...patchbay.Package) patchbay.Inventory {
		return patchbay.Inventory{SchemaVersion: 1, MachineID: mid, Hostname: name, PackageManager: "apt",
			OS: patchbay.OS{ID: "debian", VersionID: "12", Codename: "bookworm"}, Packages: pkgs}
	}
	f.report(f.host(midD, "deb1"), deb(midD, "deb1", debPkg("libssl3", "openssl", "3.0.11-1~deb12u2"), debPkg("bash", "bash", "5.2.15-2")))
	f.report(f.host(midE, "deb2"), deb(midE, "deb2", debPkg("bash", "bash", "5.2.15-2")))

	adv := func(id, eco, pkg, fixed string) patchbay.Advisory {
		return patchbay.Advisory{ID: id, Source: "osv", Severity: patchbay.SeverityHigh, CVEs: []string{"CVE-2099-" + id[4:]},
			Affected: []patchbay.Affected{{Ecosystem: eco, Package: pkg, Ranges: []patchbay.Range{{Type: "ECOSYSTEM",
				Events: []patchbay.RangeEvent{{Introduced: "0"}, {Fixed: fixed}}}}}}}
	}
	for _, tc := range []struct {
		name      string
		advs      []patchbay.Advisory
		hosts     int
		opened    int
		findingOf string
	}{
		{"openssl source package: only deb1", []patchbay.Advisory{adv("DSA-1001", "Debian:12", "openssl", "3.0.13-1~deb12u1")}, 1, 1, "deb1"},
		{"bash: both Debian hosts", []patchbay.Advisory{adv("DSA-1002", "Debian:12", "bash", "5.2.15-2+deb12u1")}, 2, 2, ""},
		{"another release: nobody", []patchbay.Advisory{adv("DSA-1003", "Debian:11", "bash", "5.1-2+deb11u2")}, 0, 0, ""},
		{"a package nobody has", []patchbay.Advisory{adv("DSA-1004", "Debian:12", "nginx", "1.22.1-9+deb12u1")}, 0, 0, ""},
		{"binary name in an RPM ecosystem", []patchbay.Advisory{adv("ALSA-1005", "AlmaLinux:9", "sudo", "1.9.5p2-15.el9_7")}, 1, 1, "alma"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := f.svc.ImportAdvisories(f.admin, tc.advs)
			if err != nil {
				t.Fatal(err)
			}
			if r.Evaluation.Hosts != tc.hosts || r.Evaluation.Opened != tc.opened {
				t.Errorf("evaluation %+v: want %d hosts, %d opened", r.Evaluation, tc.hosts, tc.opened)
			}
			if tc.findingOf != "" {
				got, err := f.svc.Findings(f.admin, service.FindingQuery{FindingFilter: patchbay.FindingFilter{AdvisoryID: tc.advs[0].ID}})
				if err != nil || len(got) != 1 || got[0].Hostname != tc.findingOf {
					t.Errorf("findings of %s: %+v %v", tc.advs[0].ID, got, err)
				}
			}
		})
	}
	// The binary libssl3 matched through its source openssl.
	got, err := f.svc.Findings(f.admin, service.FindingQuery{Host: "deb1"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]brief{{"DSA-1002", "bash", "5.2.15-2", "5.2.15-2+deb12u1"}, {"DSA-1001", "libssl3", "3.0.11-1~deb12u2", "3.0.13-1~deb12u1"}}, briefs(got)); diff != "" {
		t.Errorf("deb1 findings (-want +got):\n%s", diff)
	}

	// Withdrawing an advisory resolves its findings on every host.
	w := adv("DSA-1002", "Debian:12", "bash", "5.2.15-2+deb12u1")
	w.Withdrawn = f.clock
	r, err := f.svc.ImportAdvisories(f.admin, []patchbay.Advisory{w})
	if err != nil {
		t.Fatal(err)
	}
	if r.Updated != 1 || r.Evaluation.Resolved != 2 {
		t.Errorf("withdrawal: %+v", r)
	}
}

// TestEvaluationFollowsReleaseUpgrade: without advisories for a
// host's ecosystems evaluation stays off the ingest path, yet a host that
// leaves an ecosystem (a release upgrade) still gets its old findings
// resolved, because it has open findings.
func TestEvaluationFollowsReleaseUpgrade(t *testing.T) {
	dir := vulntest.Shared(t, "almalinux-osv/advisories/almalinux9")
	f := newVulnFixture(t)
	const mid = "a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2"
	hctx := f.host(mid, "alma")
	f.importDir(dir)
	inv := almaInventory(mid, rpmPkg("sudo", "1.9.5p2-10.el9_3"))
	f.report(hctx, inv)
	open, err := f.svc.Findings(f.admin, service.FindingQuery{})
	if err != nil || len(open) == 0 {
		t.Fatalf("findings on AlmaLinux 9 with an old sudo: %v, %v", open, err)
	}
	// Upgraded to AlmaLinux 11, for which nothing is imported (the
	// almalinux9 files also name AlmaLinux:8 and :10 packages).
	inv.OS.VersionID = "11.0"
	f.report(hctx, inv)
	open, err = f.svc.Findings(f.admin, service.FindingQuery{})
	if err != nil || len(open) != 0 {
		t.Fatalf("open findings after the host left AlmaLinux 9: %d (%v)", len(open), err)
	}
}
