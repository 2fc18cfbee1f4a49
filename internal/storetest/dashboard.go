package storetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay"
)

// dashboardFleet makes three hosts with findings opened and resolved at
// known times (minutes after at(0)):
//
//	a openssl DSA-1 (high, KEV)  open 10 →
//	a bash    DSA-2 (low)        open 10 → resolved 30
//	b openssl DSA-1 (high, KEV)  open 20 →
//	c curl    DSA-3 (critical)   open 40 →
//	c bash    DSA-2 (low)        open 40 → resolved 50, open again 60 →
func dashboardFleet(t *testing.T, s patchbay.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	_, err := s.ImportAdvisories(ctx, []patchbay.Advisory{
		advisory("DSA-1", patchbay.SeverityHigh, "Debian:12", "openssl", "3.0.13-1~deb12u1", "CVE-2024-0001", "CVE-2024-0002"),
		advisory("DSA-2", patchbay.SeverityLow, "Debian:12", "bash", "", "CVE-2024-0003"),
		advisory("DSA-3", patchbay.SeverityCritical, "Debian:12", "curl", "7.88.1-11", "CVE-2024-0004"),
	}, at(0))
	must(t, err)
	must(t, s.ImportKEV(ctx, []patchbay.KEVEntry{{CVE: "CVE-2024-0002"}}))
	hosts := map[string]patchbay.Host{}
	invs := map[string]patchbay.Inventory{}
	for _, n := range []string{"a", "b", "c"} {
		h := f.enroll("m-"+n, n, at(0))
		inv := inventory(h, []patchbay.Package{pkg("openssl", "3.0.11-1~deb12u2"), pkg("bash", "5.2.15-2"), pkg("curl", "7.88.1-10")}, nil)
		must(t, s.SaveInventory(ctx, h.ID, "", inv, nil, at(time.Minute)))
		hosts[n], invs[n] = h, inv
	}
	finding := func(p, adv string) patchbay.Finding {
		return patchbay.Finding{Package: p, Arch: "amd64", SourceName: p, InstalledVersion: "1", AdvisoryID: adv}
	}
	ssl, bash, curl := finding("openssl", "DSA-1"), finding("bash", "DSA-2"), finding("curl", "DSA-3")
	for _, step := range []struct {
		min      int
		host     string
		findings []patchbay.Finding
	}{
		{10, "a", []patchbay.Finding{ssl, bash}},
		{20, "b", []patchbay.Finding{ssl}},
		{30, "a", []patchbay.Finding{ssl}},
		{40, "c", []patchbay.Finding{curl, bash}},
		{50, "c", []patchbay.Finding{curl}},
		{60, "c", []patchbay.Finding{curl, bash}},
	} {
		h := hosts[step.host]
		fs := make([]patchbay.Finding, len(step.findings))
		for i, x := range step.findings {
			x.HostID = h.ID
			fs[i] = x
		}
		_, err := s.ReconcileFindings(ctx, patchbay.HostEvaluation{HostID: h.ID, InventoryHash: invs[step.host].ContentHash(), Findings: fs},
			at(time.Duration(step.min)*time.Minute))
		must(t, err)
	}
}

func testFindingCounts(t *testing.T, s patchbay.Store) {
	got, err := s.FindingCounts(t.Context())
	must(t, err)
	if diff := cmp.Diff(patchbay.FindingCounts{BySeverity: []patchbay.SeverityCount{}}, got); diff != "" {
		t.Errorf("no findings (-want +got):\n%s", diff)
	}
	dashboardFleet(t, s)
	got, err = s.FindingCounts(t.Context())
	must(t, err)
	want := patchbay.FindingCounts{
		BySeverity: []patchbay.SeverityCount{
			{Severity: patchbay.SeverityCritical, Findings: 1},
			{Severity: patchbay.SeverityHigh, Findings: 2, KEV: 2},
			{Severity: patchbay.SeverityLow, Findings: 1},
		},
		Findings: 4, Hosts: 3, KEVFindings: 2, KEVHosts: 2,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func testOpenFindingsTrend(t *testing.T, s patchbay.Store) {
	ctx := t.Context()
	dashboardFleet(t, s)
	for _, tc := range []struct {
		name  string
		start time.Time
		step  time.Duration
		n     int
		want  []int
	}{
		// At 10, 20, …, 70 minutes: an instant counts what opened at it,
		// not what resolved at it.
		{"every 10 min", at(0), 10 * time.Minute, 7, []int{2, 3, 2, 4, 3, 4, 4}},
		// Between the changes, and before any finding.
		{"every 5 min", at(-10 * time.Minute), 5 * time.Minute, 16, []int{0, 0, 0, 2, 2, 3, 3, 2, 2, 4, 4, 3, 3, 4, 4, 4}},
		{"one point, long after", at(0), 24 * time.Hour, 1, []int{4}},
		{"one point, before", at(-48 * time.Hour), 24 * time.Hour, 1, []int{0}},
		// The start falls after changes: they count in the first point.
		{"start after changes", at(35 * time.Minute), 10 * time.Minute, 3, []int{4, 3, 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.OpenFindingsTrend(ctx, tc.start, tc.step, tc.n)
			must(t, err)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	for _, bad := range []struct {
		step time.Duration
		n    int
	}{{0, 3}, {time.Hour, 0}, {time.Hour, patchbay.MaxTrendPoints + 1}} {
		_, err := s.OpenFindingsTrend(ctx, at(0), bad.step, bad.n)
		wantCode(t, err, patchbay.EINVALID)
	}
}

func testRolloutHostCounts(t *testing.T, s patchbay.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	a := f.enroll("m-a", "a", at(0))
	b := f.enroll("m-b", "b", at(0))
	c := f.enroll("m-c", "c", at(0))
	run := func(h patchbay.Host, st patchbay.HostRunState) patchbay.HostRun {
		return patchbay.HostRun{HostID: h.ID, Hostname: h.Hostname, State: st, Patches: []patchbay.PackageVersion{{Name: "bash", Version: "5.2.15-2+b7"}}}
	}
	r1, err := s.CreateRollout(ctx, testRollout(), []patchbay.HostRun{run(a, patchbay.HostPending), run(b, patchbay.HostPending), run(c, patchbay.HostSkipped)}, nil)
	must(t, err)
	r2, err := s.CreateRollout(ctx, testRollout(), []patchbay.HostRun{run(a, patchbay.HostPending)}, nil)
	must(t, err)
	r3, err := s.CreateRollout(ctx, testRollout(), nil, nil)
	must(t, err)
	must(t, s.UpdateRollout(ctx, r1.ID, func(r patchbay.Rollout, hosts []patchbay.HostRun) (*patchbay.RolloutUpdate, error) {
		for i := range hosts {
			if hosts[i].HostID == a.ID {
				hosts[i].State = patchbay.HostFailed
				return &patchbay.RolloutUpdate{Rollout: r, Hosts: hosts[i : i+1]}, nil
			}
		}
		t.Fatal("no host a")
		return nil, nil
	}))
	got, err := s.RolloutHostCounts(ctx, []int64{r1.ID, r2.ID, r3.ID, r1.ID, 9999})
	must(t, err)
	want := map[int64]map[patchbay.HostRunState]int{
		r1.ID: {patchbay.HostFailed: 1, patchbay.HostPending: 1, patchbay.HostSkipped: 1},
		r2.ID: {patchbay.HostPending: 1},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	got, err = s.RolloutHostCounts(ctx, nil)
	must(t, err)
	if len(got) != 0 {
		t.Errorf("no ids: %v", got)
	}
}
