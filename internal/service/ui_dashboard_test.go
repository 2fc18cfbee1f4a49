package service_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/service"
)

// TestExposure: the open findings by severity and KEV, and the count at
// the end of each UTC day, today's being now.
func TestExposure(t *testing.T) {
	f := newFleet(t, "h1", "h2") // 2026-09-01, openssl 3.0.14-1~deb12u2 on both
	if err := f.svc.ImportKEV(f.admin, []patchbay.KEVEntry{{CVE: "CVE-2099-0001"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.ImportAdvisories(f.admin, []patchbay.Advisory{{ID: "DSA-9001", Source: "osv", Severity: patchbay.SeverityCritical,
		CVEs: []string{"CVE-2099-0001"}, Affected: []patchbay.Affected{{Ecosystem: "Debian:12", Package: "openssl",
			Ranges: []patchbay.Range{{Type: "ECOSYSTEM", Events: []patchbay.RangeEvent{{Introduced: "0"}, {Fixed: "3.0.15-1~deb12u1"}}}}}}}}); err != nil {
		t.Fatal(err)
	}
	// Two days later h1 installs the fix.
	f.clock = f.clock.Add(48 * time.Hour)
	f.report(f.hosts["h1"], patchbay.Inventory{SchemaVersion: patchbay.InventorySchemaVersion, MachineID: "00000000000000000000000000000001", Hostname: "h1",
		PackageManager: "apt", Arch: "amd64", OS: patchbay.OS{ID: "debian", VersionID: "12", Codename: "bookworm", Name: "Debian GNU/Linux"},
		Packages: []patchbay.Package{debPkg("openssl", "openssl", "3.0.15-1~deb12u1"), debPkg("vim", "vim", "2:9.0.1378-2")}})
	e, err := f.svc.Exposure(f.admin, 4)
	if err != nil {
		t.Fatal(err)
	}
	day := func(d int) time.Time { return time.Date(2026, 8, 31+d, 0, 0, 0, 0, time.UTC) }
	want := service.Exposure{
		Counts: patchbay.FindingCounts{BySeverity: []patchbay.SeverityCount{{Severity: patchbay.SeverityCritical, Findings: 1, KEV: 1}},
			Findings: 1, Hosts: 1, KEVFindings: 1, KEVHosts: 1},
		Trend: []service.DayCount{{day(0), 0}, {day(1), 2}, {day(2), 2}, {day(3), 1}},
	}
	if diff := cmp.Diff(want, e); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := f.svc.Exposure(f.admin, 0); patchbay.ErrorCode(err) != patchbay.EINVALID {
		t.Errorf("0 days: %v", err)
	}
	if _, err := f.svc.Exposure(f.hosts["h1"], 30); patchbay.ErrorCode(err) != patchbay.EFORBIDDEN {
		t.Errorf("as a host: %v, want forbidden", err)
	}
}

// TestActiveRollouts: running and paused rollouts with their hosts
// counted; drafts and finished ones are not there.
func TestActiveRollouts(t *testing.T) {
	f := newFleet(t, "h1", "h2", "h3")
	def := twoRings()
	f.create(def) // a draft
	running := f.create(def).Rollout.ID
	paused := f.create(def).Rollout.ID
	aborted := f.create(def).Rollout.ID
	for _, id := range []int64{running, paused, aborted} {
		f.act(id, service.ActionApprove)
		f.act(id, service.ActionStart)
	}
	f.act(paused, service.ActionPause)
	f.act(aborted, service.ActionAbort)
	got, err := f.svc.ActiveRollouts(f.admin)
	if err != nil {
		t.Fatal(err)
	}
	rows := summaryRows(got)
	// The canary of each started rollout runs; h1 is the canary of all.
	want := []summaryRow{
		{running, patchbay.RolloutRunning, 3, map[patchbay.HostRunState]int{patchbay.HostRunning: 1, patchbay.HostPending: 2}},
		{paused, patchbay.RolloutPaused, 3, map[patchbay.HostRunState]int{patchbay.HostRunning: 1, patchbay.HostPending: 2}},
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := f.svc.ActiveRollouts(f.hosts["h1"]); patchbay.ErrorCode(err) != patchbay.EFORBIDDEN {
		t.Errorf("as a host: %v, want forbidden", err)
	}
}
