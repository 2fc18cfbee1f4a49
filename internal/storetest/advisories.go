package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/patchbay/patchbay"
)

// advisory returns an OSV-like advisory fixing pkg at fixed in ecosystem.
func advisory(id string, sev patchbay.Severity, eco, pkgName, fixed string, cves ...string) patchbay.Advisory {
	return patchbay.Advisory{
		ID: id, Source: "osv", Aliases: []string{}, CVEs: cves, Summary: "fix for " + pkgName,
		Severity: sev, SeverityRaw: "raw-" + string(sev), CVSSScore: 7.5,
		Published: at(-48 * time.Hour), Modified: at(-24 * time.Hour),
		Affected: []patchbay.Affected{{Ecosystem: eco, Package: pkgName,
			Ranges: []patchbay.Range{{Type: "ECOSYSTEM", Events: []patchbay.RangeEvent{{Introduced: "0"}, {Fixed: fixed}}}}}},
	}
}

func pairs(ps ...string) []patchbay.EcoPackage {
	out := []patchbay.EcoPackage{}
	for i := 0; i < len(ps); i += 2 {
		out = append(out, patchbay.EcoPackage{Ecosystem: ps[i], Package: ps[i+1]})
	}
	return out
}

func testImportAdvisories(t *testing.T, s patchbay.Store) {
	ctx := t.Context()
	a := advisory("DSA-1", patchbay.SeverityHigh, "Debian:12", "openssl", "3.0.13-1~deb12u1", "CVE-2024-0002", "CVE-2024-0001")
	b := advisory("ALSA-2", patchbay.SeverityLow, "AlmaLinux:9", "curl", "7.76.1-29.el9")
	b.Affected = append(b.Affected, patchbay.Affected{Ecosystem: "AlmaLinux:9", Package: "libcurl",
		Ranges: b.Affected[0].Ranges})
	res, err := s.ImportAdvisories(ctx, []patchbay.Advisory{a, b}, at(0))
	must(t, err)
	want := patchbay.ImportResult{Added: 2, Changed: pairs("AlmaLinux:9", "curl", "AlmaLinux:9", "libcurl", "Debian:12", "openssl")}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Fatalf("first import (-want +got):\n%s", diff)
	}

	got, err := s.Advisory(ctx, "DSA-1")
	must(t, err)
	a.CVEs = []string{"CVE-2024-0001", "CVE-2024-0002"} // stored sorted
	if diff := cmp.Diff(a, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	_, err = s.Advisory(ctx, "DSA-404")
	wantCode(t, err, patchbay.ENOTFOUND)

	// The same content again changes nothing.
	res, err = s.ImportAdvisories(ctx, []patchbay.Advisory{a, b}, at(time.Hour))
	must(t, err)
	if diff := cmp.Diff(patchbay.ImportResult{Unchanged: 2, Changed: []patchbay.EcoPackage{}}, res); diff != "" {
		t.Errorf("unchanged re-import (-want +got):\n%s", diff)
	}

	// An update that moves the advisory from curl to curl-minimal touches
	// the pairs before and after; the CVE index follows it.
	b2 := b
	b2.Affected = []patchbay.Affected{{Ecosystem: "AlmaLinux:9", Package: "curl-minimal", Ranges: b.Affected[0].Ranges}}
	b2.CVEs = []string{"CVE-2024-0003"}
	c := advisory("DSA-3", patchbay.SeverityCritical, "Debian:12", "bash", "5.2.15-2+deb12u1", "CVE-2024-0001")
	res, err = s.ImportAdvisories(ctx, []patchbay.Advisory{b2, c}, at(2*time.Hour))
	must(t, err)
	want = patchbay.ImportResult{Added: 1, Updated: 1, Changed: pairs("AlmaLinux:9", "curl", "AlmaLinux:9", "curl-minimal", "AlmaLinux:9", "libcurl", "Debian:12", "bash")}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("update (-want +got):\n%s", diff)
	}

	ids := func(advs []patchbay.Advisory) []string {
		out := []string{}
		for _, a := range advs {
			out = append(out, a.ID)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		f    patchbay.AdvisoryFilter
		want []string
	}{
		{"all, newest first then id", patchbay.AdvisoryFilter{}, []string{"ALSA-2", "DSA-1", "DSA-3"}},
		{"by cve", patchbay.AdvisoryFilter{CVE: "CVE-2024-0001"}, []string{"DSA-1", "DSA-3"}},
		{"cve index follows update", patchbay.AdvisoryFilter{CVE: "CVE-2024-0003"}, []string{"ALSA-2"}},
		{"by ecosystem", patchbay.AdvisoryFilter{Ecosystem: "Debian:12"}, []string{"DSA-1", "DSA-3"}},
		{"by package", patchbay.AdvisoryFilter{Package: "curl-minimal"}, []string{"ALSA-2"}},
		{"old package gone", patchbay.AdvisoryFilter{Package: "curl"}, []string{}},
		{"by source", patchbay.AdvisoryFilter{Source: "debian-tracker"}, []string{}},
		{"limit offset", patchbay.AdvisoryFilter{Limit: 1, Offset: 1}, []string{"DSA-1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ListAdvisories(ctx, tc.f)
			must(t, err)
			if diff := cmp.Diff(tc.want, ids(got)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}

	by, err := s.AdvisoriesFor(ctx, pairs("Debian:12", "openssl", "Debian:12", "bash", "AlmaLinux:9", "curl", "Debian:12", "nope"))
	must(t, err)
	gotPairs := map[patchbay.EcoPackage][]string{}
	for k, v := range by {
		gotPairs[k] = ids(v)
	}
	wantPairs := map[patchbay.EcoPackage][]string{{Ecosystem: "Debian:12", Package: "openssl"}: {"DSA-1"}, {Ecosystem: "Debian:12", Package: "bash"}: {"DSA-3"}}
	if diff := cmp.Diff(wantPairs, gotPairs); diff != "" {
		t.Errorf("advisories for pairs (-want +got):\n%s", diff)
	}

	bad := a
	bad.ID = ""
	_, err = s.ImportAdvisories(ctx, []patchbay.Advisory{c, bad}, at(3*time.Hour))
	wantCode(t, err, patchbay.EINVALID)
	bad = a
	bad.Affected = []patchbay.Affected{{Ecosystem: "", Package: "x"}}
	_, err = s.ImportAdvisories(ctx, []patchbay.Advisory{bad}, at(3*time.Hour))
	wantCode(t, err, patchbay.EINVALID)
}

func testKEV(t *testing.T, s patchbay.Store) {
	ctx := t.Context()
	e1 := patchbay.KEVEntry{CVE: "CVE-2024-0001", DateAdded: at(-time.Hour), DueDate: at(time.Hour), Vendor: "OpenSSL", Product: "OpenSSL", Name: "bad bug", Ransomware: true}
	e2 := patchbay.KEVEntry{CVE: "CVE-2024-0009", DateAdded: at(0), Vendor: "v", Product: "p", Name: "n"}
	must(t, s.ImportKEV(ctx, []patchbay.KEVEntry{e1, e2}))
	got, err := s.KEV(ctx, []string{"CVE-2024-0001", "CVE-2024-0002", "CVE-2024-0009"})
	must(t, err)
	if diff := cmp.Diff(map[string]patchbay.KEVEntry{e1.CVE: e1, e2.CVE: e2}, got); diff != "" {
		t.Errorf("kev (-want +got):\n%s", diff)
	}
	// A new catalog replaces the old one.
	must(t, s.ImportKEV(ctx, []patchbay.KEVEntry{e2}))
	got, err = s.KEV(ctx, []string{"CVE-2024-0001", "CVE-2024-0009"})
	must(t, err)
	if diff := cmp.Diff(map[string]patchbay.KEVEntry{e2.CVE: e2}, got); diff != "" {
		t.Errorf("kev after replace (-want +got):\n%s", diff)
	}
	wantCode(t, s.ImportKEV(ctx, []patchbay.KEVEntry{{}}), patchbay.EINVALID)
}

func testEvalHosts(t *testing.T, s patchbay.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	a := f.enroll("m-a", "a", at(0))
	b := f.enroll("m-b", "b", at(0))
	f.enroll("m-c", "c-no-inventory", at(0))
	invA := inventory(a, []patchbay.Package{pkg("openssl", "3.0.11-1~deb12u2"), pkg("bash", "5.2.15-2+b2")}, nil)
	invB := inventory(b, []patchbay.Package{pkg("openssl", "3.0.11-1~deb12u2")}, nil)
	invB.OS = patchbay.OS{ID: "almalinux", VersionID: "9.4"}
	invB.PackageManager = "dnf"
	must(t, s.SaveInventory(ctx, a.ID, "", invA, nil, at(time.Minute)))
	must(t, s.SaveInventory(ctx, b.ID, "", invB, nil, at(time.Minute)))

	collect := func(ids []int64) []patchbay.EvalHost {
		var out []patchbay.EvalHost
		must(t, s.EvalHosts(ctx, ids, func(h patchbay.EvalHost) error {
			out = append(out, h)
			return nil
		}))
		return out
	}
	all := collect(nil)
	if len(all) != 2 || all[0].ID != a.ID || all[1].ID != b.ID {
		t.Fatalf("eval hosts = %+v, want hosts a and b (c has no inventory)", all)
	}
	if all[0].InventoryHash != invA.ContentHash() || all[1].OS.ID != "almalinux" || all[1].OS.VersionID != "9.4" || all[1].PackageManager != "dnf" {
		t.Errorf("eval host facts: %+v", all)
	}
	// The same package version on two hosts has one id.
	if !slices.Contains(all[0].PackageIDs, all[1].PackageIDs[0]) || len(all[0].PackageIDs) != 2 {
		t.Errorf("package ids a %v, b %v: want b's openssl id among a's two", all[0].PackageIDs, all[1].PackageIDs)
	}
	pv, err := s.PackageVersions(ctx, all[0].PackageIDs)
	must(t, err)
	var got []patchbay.Package
	for _, id := range all[0].PackageIDs {
		got = append(got, pv[id])
	}
	if diff := cmp.Diff(invA.Packages, got, cmpopts.SortSlices(func(x, y patchbay.Package) bool { return x.Name < y.Name })); diff != "" {
		t.Errorf("package versions (-want +got):\n%s", diff)
	}
	if only := collect([]int64{b.ID}); len(only) != 1 || only[0].ID != b.ID {
		t.Errorf("eval hosts [b] = %+v", only)
	}
	if none := collect([]int64{}); len(none) != 0 {
		t.Errorf("eval hosts [] = %+v, want none", none)
	}
}

func testReconcileFindings(t *testing.T, s patchbay.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	a := f.enroll("m-a", "a", at(0))
	b := f.enroll("m-b", "b", at(0))
	_, err := s.UpdateHost(ctx, a.ID, patchbay.HostChanges{Assets: map[string]string{"environment": "prod"}, Labels: map[string]string{"rack": "r1"}})
	must(t, err)
	invA := inventory(a, []patchbay.Package{pkg("openssl", "3.0.11-1~deb12u2"), pkg("bash", "5.2.15-2")}, nil)
	invB := inventory(b, []patchbay.Package{pkg("openssl", "3.0.11-1~deb12u2")}, nil)
	must(t, s.SaveInventory(ctx, a.ID, "", invA, nil, at(time.Minute)))
	must(t, s.SaveInventory(ctx, b.ID, "", invB, nil, at(time.Minute)))
	_, err = s.ImportAdvisories(ctx, []patchbay.Advisory{
		advisory("DSA-1", patchbay.SeverityHigh, "Debian:12", "openssl", "3.0.13-1~deb12u1", "CVE-2024-0001", "CVE-2024-0002"),
		advisory("DSA-2", patchbay.SeverityLow, "Debian:12", "bash", "", "CVE-2024-0003"),
	}, at(0))
	must(t, err)
	must(t, s.ImportKEV(ctx, []patchbay.KEVEntry{{CVE: "CVE-2024-0002"}}))

	finding := func(h patchbay.Host, p, installed, adv, fixed string) patchbay.Finding {
		return patchbay.Finding{HostID: h.ID, Package: p, Arch: "amd64", SourceName: p, InstalledVersion: installed,
			AdvisoryID: adv, FixedVersion: fixed, Evidence: adv + " matched " + installed}
	}
	sslA := finding(a, "openssl", "3.0.11-1~deb12u2", "DSA-1", "3.0.13-1~deb12u1")
	bashA := finding(a, "bash", "5.2.15-2", "DSA-2", "")
	sslB := finding(b, "openssl", "3.0.11-1~deb12u2", "DSA-1", "3.0.13-1~deb12u1")

	ch, err := s.ReconcileFindings(ctx, patchbay.HostEvaluation{HostID: a.ID, InventoryHash: invA.ContentHash(), Findings: []patchbay.Finding{sslA, bashA}}, at(2*time.Minute))
	must(t, err)
	if len(ch.Opened) != 2 || len(ch.Resolved) != 0 || ch.Opened[0].ID == 0 || !ch.Opened[0].FirstSeen.Equal(at(2*time.Minute)) {
		t.Fatalf("first reconcile: %+v", ch)
	}
	_, err = s.ReconcileFindings(ctx, patchbay.HostEvaluation{HostID: b.ID, InventoryHash: invB.ContentHash(), Findings: []patchbay.Finding{sslB}}, at(2*time.Minute))
	must(t, err)

	// Reconciling the same set again changes nothing.
	ch, err = s.ReconcileFindings(ctx, patchbay.HostEvaluation{HostID: a.ID, InventoryHash: invA.ContentHash(), Findings: []patchbay.Finding{bashA, sslA}}, at(3*time.Minute))
	must(t, err)
	if len(ch.Opened)+len(ch.Resolved)+ch.Updated != 0 {
		t.Errorf("idempotent reconcile changed %+v", ch)
	}

	full := func(x patchbay.Finding, h patchbay.Host, sev patchbay.Severity, kev bool, cves ...string) patchbay.Finding {
		x.Hostname, x.Severity, x.SeverityRaw, x.CVSSScore, x.KEV, x.CVEs, x.FirstSeen = h.Hostname, sev, "raw-"+string(sev), 7.5, kev, cves, at(2*time.Minute)
		return x
	}
	wantSSLA := full(sslA, a, patchbay.SeverityHigh, true, "CVE-2024-0001", "CVE-2024-0002")
	wantSSLB := full(sslB, b, patchbay.SeverityHigh, true, "CVE-2024-0001", "CVE-2024-0002")
	wantBashA := full(bashA, a, patchbay.SeverityLow, false, "CVE-2024-0003")
	ignoreID := cmpopts.IgnoreFields(patchbay.Finding{}, "ID")
	for _, tc := range []struct {
		name string
		f    patchbay.FindingFilter
		want []patchbay.Finding
	}{
		{"all, worst first", patchbay.FindingFilter{}, []patchbay.Finding{wantSSLA, wantSSLB, wantBashA}},
		{"host", patchbay.FindingFilter{HostID: b.ID}, []patchbay.Finding{wantSSLB}},
		{"high or worse", patchbay.FindingFilter{MinSeverity: patchbay.SeverityHigh}, []patchbay.Finding{wantSSLA, wantSSLB}},
		{"kev", patchbay.FindingFilter{KEV: true, HostID: a.ID}, []patchbay.Finding{wantSSLA}},
		{"fixable", patchbay.FindingFilter{Fixable: true}, []patchbay.Finding{wantSSLA, wantSSLB}},
		{"cve", patchbay.FindingFilter{CVE: "CVE-2024-0003"}, []patchbay.Finding{wantBashA}},
		{"advisory", patchbay.FindingFilter{AdvisoryID: "DSA-1"}, []patchbay.Finding{wantSSLA, wantSSLB}},
		{"asset label", patchbay.FindingFilter{Labels: map[string]string{"environment": "prod"}}, []patchbay.Finding{wantSSLA, wantBashA}},
		{"free label", patchbay.FindingFilter{Labels: map[string]string{"rack": "r2"}}, []patchbay.Finding{}},
		{"limit offset", patchbay.FindingFilter{Limit: 1, Offset: 1}, []patchbay.Finding{wantSSLB}},
		{"resolved", patchbay.FindingFilter{Resolved: true}, []patchbay.Finding{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Findings(ctx, tc.f)
			must(t, err)
			if diff := cmp.Diff(tc.want, got, ignoreID, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}

	// A newer inventory makes an evaluation of the old one a conflict.
	invA2 := inventory(a, []patchbay.Package{pkg("openssl", "3.0.13-1~deb12u1"), pkg("bash", "5.2.15-2")}, nil)
	must(t, s.SaveInventory(ctx, a.ID, invA.ContentHash(), invA2, nil, at(4*time.Minute)))
	_, err = s.ReconcileFindings(ctx, patchbay.HostEvaluation{HostID: a.ID, InventoryHash: invA.ContentHash()}, at(5*time.Minute))
	wantCode(t, err, patchbay.ECONFLICT)
	_, err = s.ReconcileFindings(ctx, patchbay.HostEvaluation{HostID: 9999}, at(5*time.Minute))
	wantCode(t, err, patchbay.ENOTFOUND)

	// openssl upgraded: its finding resolves with an event saying so; the
	// bash finding stays open with new evidence.
	bashA2 := bashA
	bashA2.Evidence = "re-evaluated"
	ch, err = s.ReconcileFindings(ctx, patchbay.HostEvaluation{HostID: a.ID, InventoryHash: invA2.ContentHash(), Findings: []patchbay.Finding{bashA2},
		Installed: func(k string) string {
			return map[string]string{"openssl:amd64": "3.0.13-1~deb12u1", "bash:amd64": "5.2.15-2"}[k]
		}}, at(5*time.Minute))
	must(t, err)
	if len(ch.Opened) != 0 || len(ch.Resolved) != 1 || ch.Resolved[0].AdvisoryID != "DSA-1" || ch.Updated != 1 {
		t.Fatalf("reconcile after upgrade: %+v", ch)
	}
	resolved, err := s.Findings(ctx, patchbay.FindingFilter{Resolved: true})
	must(t, err)
	if len(resolved) != 1 || resolved[0].HostID != a.ID || !resolved[0].ResolvedAt.Equal(at(5*time.Minute)) || !resolved[0].FirstSeen.Equal(at(2*time.Minute)) {
		t.Errorf("resolved findings: %+v", resolved)
	}
	for _, c := range []struct {
		since time.Time
		n     int
	}{{at(5 * time.Minute), 1}, {at(5*time.Minute + time.Nanosecond), 0}} {
		got, err := s.Findings(ctx, patchbay.FindingFilter{Resolved: true, ResolvedSince: c.since})
		must(t, err)
		if len(got) != c.n {
			t.Errorf("findings resolved since %s: %d, want %d", c.since, len(got), c.n)
		}
	}
	open, err := s.Findings(ctx, patchbay.FindingFilter{HostID: a.ID})
	must(t, err)
	if len(open) != 1 || open[0].Evidence != "re-evaluated" || !open[0].FirstSeen.Equal(at(2*time.Minute)) {
		t.Errorf("open findings after upgrade: %+v", open)
	}
	ev, err := s.Events(ctx, patchbay.EventFilter{HostID: a.ID, Kinds: []patchbay.EventKind{patchbay.EventFindingOpened, patchbay.EventFindingResolved}})
	must(t, err)
	wantEv := []patchbay.Event{
		patchbay.FindingResolvedEvent(full(sslA, a, patchbay.SeverityHigh, true, "CVE-2024-0001", "CVE-2024-0002"), "3.0.13-1~deb12u1", at(5*time.Minute)),
		patchbay.FindingOpenedEvent(full(sslA, a, "", false, "CVE-2024-0001", "CVE-2024-0002"), at(2*time.Minute)),
		patchbay.FindingOpenedEvent(full(bashA, a, "", false, "CVE-2024-0003"), at(2*time.Minute)),
	}
	if diff := cmp.Diff(wantEv, ev, ignoreEventID()); diff != "" {
		t.Errorf("finding events (-want +got):\n%s", diff)
	}

	// The same match coming back (a downgrade) opens a new finding; the
	// resolved one keeps its history.
	ch, err = s.ReconcileFindings(ctx, patchbay.HostEvaluation{HostID: a.ID, InventoryHash: invA2.ContentHash(), Findings: []patchbay.Finding{bashA2, sslA}}, at(6*time.Minute))
	must(t, err)
	if len(ch.Opened) != 1 || ch.Opened[0].ID == resolved[0].ID {
		t.Errorf("reopen: %+v (resolved id %d)", ch, resolved[0].ID)
	}

	// Findings must name a stored advisory, and be unique per key.
	_, err = s.ReconcileFindings(ctx, patchbay.HostEvaluation{HostID: b.ID, InventoryHash: invB.ContentHash(), Findings: []patchbay.Finding{finding(b, "x", "1", "NOPE-1", "")}}, at(7*time.Minute))
	wantCode(t, err, patchbay.EINVALID)
	_, err = s.ReconcileFindings(ctx, patchbay.HostEvaluation{HostID: b.ID, InventoryHash: invB.ContentHash(), Findings: []patchbay.Finding{sslB, sslB}}, at(7*time.Minute))
	wantCode(t, err, patchbay.EINVALID)
	if got, err := s.Findings(ctx, patchbay.FindingFilter{HostID: b.ID}); err != nil || len(got) != 1 {
		t.Errorf("host b after refused reconciles: %v %+v", err, got)
	}
}
