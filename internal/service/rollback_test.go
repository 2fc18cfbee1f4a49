package service_test

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/service"
)

// reportOpenssl reports host name's inventory with openssl at version.
func (f *fleet) reportOpenssl(name, version string) {
	f.t.Helper()
	f.report(f.hosts[name], patchbay.Inventory{SchemaVersion: patchbay.InventorySchemaVersion, MachineID: fmt.Sprintf("%032x", f.ids[name]), Hostname: name,
		PackageManager: "apt", Arch: "amd64", OS: patchbay.OS{ID: "debian", VersionID: "12", Codename: "bookworm", Name: "Debian GNU/Linux"},
		Packages: []patchbay.Package{debPkg("openssl", "openssl", version), debPkg("vim", "vim", "2:9.0.1378-2")}})
}

// TestRollbackPlanFromHistory: a rollback of a rollout plans, on each host
// the rollout changed, the versions its timeline says the rollout
// replaced, skips the host it changed nothing on with the reason, keeps
// the normal approve/start flow, and its jobs allow downgrades; --host and
// --ring limit it.
func TestRollbackPlanFromHistory(t *testing.T) {
	f := newFleet(t, "h1", "h2", "h3")
	def := twoRings()
	def.Rings = []patchbay.Ring{{Name: "all", Percent: 100, MaxConcurrency: 3}}
	def.Budget = patchbay.FailureBudget{Count: 3}
	id := f.create(def).Rollout.ID
	if _, err := f.svc.RollbackRollout(f.admin, id, service.RollbackRequest{}); patchbay.ErrorCode(err) != patchbay.ECONFLICT {
		t.Fatalf("rollback of a draft: %v, want a conflict", err)
	}
	f.act(id, service.ActionApprove)
	f.act(id, service.ActionStart)
	f.result("h1", patchbay.JobSucceeded)
	f.result("h2", patchbay.JobSucceeded)
	f.result("h3", patchbay.JobFailed)
	f.reportOpenssl("h1", "3.0.15-1~deb12u1")
	f.reportOpenssl("h2", "3.0.15-1~deb12u1")

	d, err := f.svc.RollbackRollout(f.admin, id, service.RollbackRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Rollout.RollbackOf != id || d.Rollout.State != patchbay.RolloutDraft {
		t.Fatalf("rollback rollout: rollback_of %d, state %s", d.Rollout.RollbackOf, d.Rollout.State)
	}
	type row struct {
		State   patchbay.HostRunState
		Patches []patchbay.PackageVersion
		Reason  string
	}
	got := map[string]row{}
	for _, h := range d.Hosts {
		got[h.Hostname] = row{h.State, h.Patches, h.Reason}
	}
	prev := []patchbay.PackageVersion{{Name: "openssl", Arch: "amd64", Version: "3.0.14-1~deb12u2"}}
	want := map[string]row{
		"h1": {patchbay.HostPending, prev, ""},
		"h2": {patchbay.HostPending, prev, ""},
		"h3": {patchbay.HostSkipped, []patchbay.PackageVersion{}, fmt.Sprintf("rollout %d changed no package on this host that can be rolled back", id)},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("rollback plan (-want +got):\n%s", diff)
	}
	rid := d.Rollout.ID
	// The plan is frozen from history: plan does not replace it with
	// pending updates.
	if d, err = f.svc.PlanRollout(f.admin, rid); err != nil || len(d.Hosts) != 3 || len(d.Hosts[0].Patches) != 1 || d.Hosts[0].Patches[0].Version != "3.0.14-1~deb12u2" {
		t.Fatalf("plan of a rollback: %v, %+v", err, d.Hosts)
	}
	list, err := f.svc.ListRollouts(f.admin)
	if err != nil || list[0].ID != rid || list[0].RollbackOf != id {
		t.Fatalf("list: %v %+v", err, list)
	}
	f.act(rid, service.ActionApprove)
	f.act(rid, service.ActionStart)
	poll, err := f.svc.PollJobs(f.hosts["h1"], 0)
	if err != nil || len(poll.Jobs) != 1 {
		t.Fatalf("h1 jobs: %v %+v", err, poll.Jobs)
	}
	if j := poll.Jobs[0]; !j.AllowDowngrade || !cmp.Equal(j.Packages, prev) {
		t.Fatalf("h1's rollback job: allow_downgrade %v, packages %v", j.AllowDowngrade, j.Packages)
	}
	if ids := f.jobs("h3"); len(ids) != 0 {
		t.Fatalf("h3 got jobs %v from the rollback", ids)
	}

	// Limits.
	d, err = f.svc.RollbackRollout(f.admin, id, service.RollbackRequest{Host: "h2"})
	if err != nil || len(d.Hosts) != 1 || d.Hosts[0].Hostname != "h2" {
		t.Fatalf("--host h2: %v %+v", err, d.Hosts)
	}
	if d, err = f.svc.RollbackRollout(f.admin, id, service.RollbackRequest{Ring: "all"}); err != nil || len(d.Hosts) != 3 {
		t.Fatalf("--ring all: %v %+v", err, d.Hosts)
	}
	for _, req := range []service.RollbackRequest{{Ring: "nope"}, {Host: "h1", Ring: "all"}} {
		if _, err := f.svc.RollbackRollout(f.admin, id, req); patchbay.ErrorCode(err) != patchbay.EINVALID {
			t.Errorf("rollback %+v: %v, want invalid", req, err)
		}
	}
}
