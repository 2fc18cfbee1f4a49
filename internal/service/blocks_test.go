package service_test

import (
	"strings"
	"testing"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/service"
)

// TestBlockVersion: blocking the version a running rollout planned halts
// it at once; the canary's queued job is withdrawn when its agent polls
// (it fails with the block as its reason, and the poll names the blocked
// version); an approved rollout with the version cannot start, a draft
// cannot be approved and its new plan leaves the version out; check-ins
// carry the list; once removed, plans take the version again.
func TestBlockVersion(t *testing.T) {
	f := newFleet(t, "h1", "h2", "h3")
	rings := []patchbay.Ring{{Name: "one", Count: 1, MaxConcurrency: 1}, {Name: "rest", Percent: 100, MaxConcurrency: 2}}
	running := f.create(patchbay.Rollout{Name: "running", Policy: patchbay.PolicySecurity, Rings: rings}).Rollout.ID
	f.act(running, service.ActionApprove)
	f.act(running, service.ActionStart) // h1's job is queued; h1 has not polled yet
	approved := f.create(patchbay.Rollout{Name: "approved", Policy: patchbay.PolicySecurity, Rings: rings}).Rollout.ID
	f.act(approved, service.ActionApprove)
	draft := f.create(patchbay.Rollout{Name: "draft", Policy: patchbay.PolicySecurity, Rings: rings}).Rollout.ID

	for name, req := range map[string]patchbay.BlockRequest{
		"no version": {Block: "openssl", Reason: "x"},
		"no reason":  {Block: "openssl=3.0.15-1~deb12u1"},
		"pattern":    {Block: "open*=1", Reason: "x"},
	} {
		if _, err := f.svc.AddBlock(f.admin, req); patchbay.ErrorCode(err) != patchbay.EINVALID {
			t.Errorf("%s: %v, want EINVALID", name, err)
		}
	}
	if _, err := f.svc.AddBlock(f.hosts["h1"], patchbay.BlockRequest{Block: "openssl=3.0.15-1~deb12u1", Reason: "x"}); patchbay.ErrorCode(err) != patchbay.EFORBIDDEN {
		t.Errorf("a host blocks: %v", err)
	}
	reply, err := f.svc.AddBlock(f.admin, patchbay.BlockRequest{Block: "openssl=3.0.15-1~deb12u1", Reason: "breaks TLS 1.0 clients"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(reply.Halted, ";") != "rollout 1 (running)" || strings.Join(reply.Running, ";") != "rollout 1: h1" || reply.Block.CreatedBy != "test" {
		t.Errorf("reply %+v", reply)
	}
	if _, err := f.svc.AddBlock(f.admin, patchbay.BlockRequest{Block: "openssl=3.0.15-1~deb12u1", Reason: "again"}); patchbay.ErrorCode(err) != patchbay.ECONFLICT {
		t.Errorf("block twice: %v", err)
	}
	d, _ := f.svc.ShowRollout(f.admin, running)
	if d.Rollout.State != patchbay.RolloutHalted || !strings.Contains(d.Events[len(d.Events)-1].Detail, "openssl=3.0.15-1~deb12u1 is blocked fleet-wide") {
		t.Errorf("running rollout: %s, last event %+v", d.Rollout.State, d.Events[len(d.Events)-1])
	}

	// h1's agent polls: nothing to run, the blocked version named, and the
	// job settled as failed with the block as its reason.
	poll, err := f.svc.PollJobs(f.hosts["h1"], 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(poll.Jobs) != 0 || len(poll.Blocked) != 1 || poll.Blocked[0].Name != "openssl" {
		t.Errorf("poll %+v", poll)
	}
	d, _ = f.svc.ShowRollout(f.admin, running)
	for _, h := range d.Hosts {
		if h.Hostname == "h1" && (h.State != patchbay.HostFailed || !strings.Contains(h.Reason, "withdrawn before it ran")) {
			t.Errorf("h1: %s %q", h.State, h.Reason)
		}
		if h.Hostname != "h1" && h.Attempts != 0 {
			t.Errorf("%s started after the block", h.Hostname)
		}
	}
	if again, _ := f.svc.PollJobs(f.hosts["h1"], 0); len(again.Jobs) != 0 {
		t.Errorf("withdrawn job delivered later: %+v", again.Jobs)
	}
	hb, err := f.svc.Heartbeat(f.hosts["h2"], patchbay.Heartbeat{SchemaVersion: patchbay.InventorySchemaVersion})
	if err != nil || len(hb.Blocked) != 1 {
		t.Errorf("heartbeat reply %+v %v", hb, err)
	}

	if _, err := f.svc.ActOnRollout(f.admin, approved, service.ActionStart); patchbay.ErrorCode(err) != patchbay.ECONFLICT || !strings.Contains(err.Error(), "blocked fleet-wide") {
		t.Errorf("start of an approved rollout with the version: %v", err)
	}
	if _, err := f.svc.ActOnRollout(f.admin, draft, service.ActionApprove); patchbay.ErrorCode(err) != patchbay.ECONFLICT {
		t.Errorf("approve of a draft with the version: %v", err)
	}
	d, err = f.svc.PlanRollout(f.admin, draft)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range d.Hosts {
		if len(h.Patches) != 0 || h.State != patchbay.HostSkipped || len(h.Excluded) != 2 {
			t.Errorf("replanned %s: %s, patches %v, excluded %+v", h.Hostname, h.State, h.Patches, h.Excluded)
		}
		for _, x := range h.Excluded {
			if x.Name == "openssl" && !strings.Contains(x.Reason, "blocked fleet-wide (block 1 by test: breaks TLS 1.0 clients)") {
				t.Errorf("%s: openssl excluded as %q", h.Hostname, x.Reason)
			}
		}
	}
	f.act(draft, service.ActionApprove) // nothing blocked left in its plan

	if _, err := f.svc.RemoveBlock(f.admin, reply.Block.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.RemoveBlock(f.admin, reply.Block.ID); patchbay.ErrorCode(err) != patchbay.ECONFLICT {
		t.Errorf("remove twice: %v", err)
	}
	_, planned, _ := f.planOf(patchbay.PolicySecurity)
	if strings.Join(planned["h2"], ",") != "openssl" {
		t.Errorf("after the removal h2 plans %v", planned["h2"])
	}
	all, _ := f.svc.ListBlocks(f.admin, true)
	active, _ := f.svc.ListBlocks(f.admin, false)
	if len(all) != 1 || all[0].RemovedBy != "test" || len(active) != 0 {
		t.Errorf("blocks: all %+v, active %+v", all, active)
	}
}
