package service_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/service"
)

const day = 24 * time.Hour

// opensslAdvisory fixes the fleet's openssl (3.0.14 → 3.0.15) with the
// distribution's rating sev.
func opensslAdvisory(sev patchbay.Severity) patchbay.Advisory {
	return patchbay.Advisory{ID: "DSA-9999-1", Source: "osv", CVEs: []string{"CVE-2099-0001"}, Severity: sev, SeverityRaw: string(sev),
		Affected: []patchbay.Affected{{Ecosystem: "Debian:12", Package: "openssl",
			Ranges: []patchbay.Range{{Type: "ECOSYSTEM", Events: []patchbay.RangeEvent{{Introduced: "0"}, {Fixed: "3.0.15-1~deb12u1"}}}}}}}
}

// planOf creates a one-ring rollout with policy and returns host → planned
// package names and host → excluded name → reason.
func (f *fleet) planOf(policy string) (patchbay.RolloutDetail, map[string][]string, map[string]map[string]string) {
	f.t.Helper()
	d := f.create(patchbay.Rollout{Name: "p-" + policy, Policy: policy, Rings: []patchbay.Ring{{Name: "all", Percent: 100, MaxConcurrency: 5}}})
	planned, excluded := map[string][]string{}, map[string]map[string]string{}
	for _, h := range d.Hosts {
		for _, p := range h.Patches {
			planned[h.Hostname] = append(planned[h.Hostname], p.Name)
		}
		excluded[h.Hostname] = map[string]string{}
		for _, x := range h.Excluded {
			excluded[h.Hostname][x.Name] = x.Reason
		}
	}
	return d, planned, excluded
}

func (f *fleet) policy(p patchbay.Policy) {
	f.t.Helper()
	if _, err := f.svc.CreatePolicy(f.admin, p); err != nil {
		f.t.Fatal(err)
	}
}

// TestPlanFollowsPolicy: each rule of a stored policy decides the plan,
// and every update it leaves out is in the plan with the rule that did.
func TestPlanFollowsPolicy(t *testing.T) {
	f := newFleet(t, "h1")
	if _, err := f.svc.ImportAdvisories(f.admin, []patchbay.Advisory{opensslAdvisory(patchbay.SeverityHigh)}); err != nil {
		t.Fatal(err)
	}
	f.policy(patchbay.Policy{Name: "critical-only", Classification: patchbay.ClassAll, MinSeverity: patchbay.SeverityCritical})
	f.policy(patchbay.Policy{Name: "high-up", Classification: patchbay.ClassSecurity, MinSeverity: patchbay.SeverityHigh})
	f.policy(patchbay.Policy{Name: "week-old", Classification: patchbay.ClassAll, MinAge: 7 * day})
	f.policy(patchbay.Policy{Name: "kev-fast", Classification: patchbay.ClassAll, MinAge: 30 * day, ApproveKEV: true})
	f.policy(patchbay.Policy{Name: "lists", Classification: patchbay.ClassSecurity, Approve: []string{"vi*"}, Reject: []string{"openssl"}})

	check := func(policy string, wantPlanned []string, wantExcluded map[string]string) {
		t.Helper()
		_, planned, excluded := f.planOf(policy)
		if strings.Join(planned["h1"], ",") != strings.Join(wantPlanned, ",") {
			t.Errorf("policy %s planned %v, want %v (excluded %v)", policy, planned["h1"], wantPlanned, excluded["h1"])
		}
		if len(excluded["h1"]) != len(wantExcluded) {
			t.Errorf("policy %s excluded %v, want %v", policy, excluded["h1"], wantExcluded)
		}
		for name, part := range wantExcluded {
			if !strings.Contains(excluded["h1"][name], part) {
				t.Errorf("policy %s: %s excluded for %q, want a reason with %q", policy, name, excluded["h1"][name], part)
			}
		}
	}
	// openssl's update fixes a high finding; vim's fixes nothing known.
	check("critical-only", []string{"vim"}, map[string]string{"openssl": "severity high is below critical"})
	check("high-up", []string{"openssl"}, map[string]string{"vim": "not a security update"})
	check("lists", []string{"vim"}, map[string]string{"openssl": `rejected by policy lists (pattern "openssl")`})
	check("week-old", nil, map[string]string{"openssl": "minimum age 7d", "vim": "minimum age 7d"})
	check("kev-fast", nil, map[string]string{"openssl": "minimum age 30d", "vim": "minimum age 30d"})

	// In the KEV catalog, openssl's CVE is approved at once by kev-fast.
	if err := f.svc.ImportKEV(f.admin, []patchbay.KEVEntry{{CVE: "CVE-2099-0001", DateAdded: f.clock}}); err != nil {
		t.Fatal(err)
	}
	check("kev-fast", []string{"openssl"}, map[string]string{"vim": "minimum age 30d"})

	// A week after the fleet first saw them, week-old takes both.
	f.clock = f.clock.Add(7 * day)
	check("week-old", []string{"openssl", "vim"}, nil)

	// A draft made under the old rules takes the new ones at its next plan.
	d, _, _ := f.planOf("critical-only")
	if _, err := f.svc.UpdatePolicy(f.admin, patchbay.Policy{Name: "critical-only", Classification: patchbay.ClassAll}); err != nil {
		t.Fatal(err)
	}
	d, err := f.svc.PlanRollout(f.admin, d.Rollout.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Hosts[0].Patches) != 2 {
		t.Errorf("replanned draft takes %v, want openssl and vim", d.Hosts[0].Patches)
	}

	// Built-in policies cannot be edited or shadowed; an unknown policy is
	// refused when the rollout is created.
	if _, err := f.svc.UpdatePolicy(f.admin, patchbay.Policy{Name: "security", Classification: patchbay.ClassAll}); patchbay.ErrorCode(err) != patchbay.EINVALID {
		t.Errorf("edit of a built-in policy: %v", err)
	}
	if _, err := f.svc.CreatePolicy(f.admin, patchbay.Policy{Name: "all", Classification: patchbay.ClassAll}); patchbay.ErrorCode(err) != patchbay.ECONFLICT {
		t.Errorf("create with a built-in name: %v", err)
	}
	if _, err := f.svc.CreateRollout(f.admin, patchbay.Rollout{Name: "x", Policy: "nope", Rings: []patchbay.Ring{{Name: "a", Percent: 100, MaxConcurrency: 1}}}); patchbay.ErrorCode(err) != patchbay.EINVALID || !strings.Contains(err.Error(), "nope") {
		t.Errorf("rollout with an unknown policy: %v", err)
	}
	list, err := f.svc.ListPolicies(f.admin)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 7 || !list[0].Builtin || list[2].Name != "critical-only" {
		t.Errorf("ListPolicies: %d policies, first %+v", len(list), list[0])
	}
	if _, err := f.svc.ListPolicies(f.hosts["h1"]); patchbay.ErrorCode(err) != patchbay.EFORBIDDEN {
		t.Errorf("a host lists policies: %v", err)
	}
}

// TestKEVFromChangelogs: a Debian update no advisory covers, whose
// candidate's changelog names a CVE in the KEV catalog, is approved at
// once by a policy with ApproveKEV, with the CVE in the reason; before
// the CVE is in the catalog it is not. An exception for that CVE holds it.
func TestKEVFromChangelogs(t *testing.T) {
	f := newFleet(t, "h1") // every fetched changelog says "Fix CVE-2026-0001."
	f.policy(patchbay.Policy{Name: "kev-only", Classification: patchbay.ClassNone, ApproveKEV: true})
	_, planned, excluded := f.planOf("kev-only")
	if len(planned["h1"]) != 0 || !strings.Contains(excluded["h1"]["vim"], "not on policy kev-only's approve list") {
		t.Fatalf("before KEV lists the CVE: planned %v, excluded %v", planned["h1"], excluded["h1"])
	}
	if err := f.svc.ImportKEV(f.admin, []patchbay.KEVEntry{{CVE: "CVE-2026-0001", DateAdded: f.clock}}); err != nil {
		t.Fatal(err)
	}
	d, planned, excluded := f.planOf("kev-only")
	if strings.Join(planned["h1"], ",") != "openssl,vim" || len(excluded["h1"]) != 0 {
		t.Fatalf("after KEV lists the CVE: planned %v, excluded %v", planned["h1"], excluded["h1"])
	}
	f.act(d.Rollout.ID, service.ActionApprove) // frozen: h1 would install both
	reply, err := f.svc.CreateException(f.admin, patchbay.ExceptionRequest{Host: "h1", Advisory: "CVE-2026-0001",
		Reason: "mitigated by configuration", Owner: "secops", ExpiresAt: f.clock.Add(day)})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(reply.Held, ";") != "rollout "+strconv.FormatInt(d.Rollout.ID, 10)+": h1" {
		t.Errorf("the exception held %v of the approved rollout, want h1 (its changelog CVE)", reply.Held)
	}
	_, planned, excluded = f.planOf("kev-only")
	if len(planned["h1"]) != 0 || !strings.Contains(excluded["h1"]["vim"], "held by exception") {
		t.Errorf("with the exception: planned %v, excluded %v", planned["h1"], excluded["h1"])
	}
}

// TestExceptionHoldsUntilExpiry: an exception holds its package off the
// host it covers (the host is held, the others planned), the host's
// finding shows it as excepted; once it expires (injected clock) the next
// rollout includes the package and the finding is plain again.
func TestExceptionHoldsUntilExpiry(t *testing.T) {
	f := newFleet(t, "h1", "h2")
	if _, err := f.svc.ImportAdvisories(f.admin, []patchbay.Advisory{opensslAdvisory(patchbay.SeverityHigh)}); err != nil {
		t.Fatal(err)
	}
	reply, err := f.svc.CreateException(f.admin, patchbay.ExceptionRequest{Host: "h1", Package: "openssl",
		Reason: "app certified on 3.0.14 only", Owner: "team-web", ExpiresAt: f.clock.Add(2 * day)})
	if err != nil {
		t.Fatal(err)
	}
	x := reply.Exception
	if x.CreatedBy != "test" || x.Hostname != "h1" || x.State != patchbay.ExceptionActive || len(reply.Held) != 0 {
		t.Errorf("exception = %+v, reply %+v", x, reply)
	}

	d, planned, excluded := f.planOf(patchbay.PolicySecurity)
	state := map[string]patchbay.HostRun{}
	for _, h := range d.Hosts {
		state[h.Hostname] = h
	}
	if state["h1"].State != patchbay.HostHeld || len(planned["h1"]) != 0 || !strings.Contains(state["h1"].Reason, "openssl") {
		t.Errorf("h1: %s %q planned %v, want held", state["h1"].State, state["h1"].Reason, planned["h1"])
	}
	if !strings.Contains(excluded["h1"]["openssl"], "held by exception") || state["h1"].Excluded[0].ExceptionID != x.ID {
		t.Errorf("h1 openssl excluded as %q (%+v)", excluded["h1"]["openssl"], state["h1"].Excluded)
	}
	if state["h2"].State != patchbay.HostPending || strings.Join(planned["h2"], ",") != "openssl" {
		t.Errorf("h2: %s planned %v, want openssl", state["h2"].State, planned["h2"])
	}
	findings, err := f.svc.Findings(f.admin, service.FindingQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range findings {
		want := map[string]int64{"h1": x.ID, "h2": 0}[fd.Hostname]
		if fd.ExceptionID != want {
			t.Errorf("finding on %s: exception %d, want %d", fd.Hostname, fd.ExceptionID, want)
		}
	}

	f.clock = f.clock.Add(2 * day) // it expires by itself
	got, err := f.svc.Exception(f.admin, x.ID)
	if err != nil || got.State != patchbay.ExceptionExpired {
		t.Fatalf("exception after 2 days: %+v, %v", got, err)
	}
	if active, _ := f.svc.ListExceptions(f.admin, false); len(active) != 0 {
		t.Errorf("active exceptions after expiry: %+v", active)
	}
	_, planned, _ = f.planOf(patchbay.PolicySecurity)
	if strings.Join(planned["h1"], ",") != "openssl" {
		t.Errorf("after expiry h1 planned %v, want openssl", planned["h1"])
	}
	findings, _ = f.svc.Findings(f.admin, service.FindingQuery{Host: "h1"})
	if len(findings) != 1 || findings[0].ExceptionID != 0 {
		t.Errorf("h1 findings after expiry: %+v", findings)
	}
}

// TestExceptionAppliesToFrozenPlans: an exception granted after approval
// holds the pending hosts whose frozen plans it covers (they never get a
// job, the log says who held them); a host already patching finishes and
// is reported; an advisory exception holds the update that fixes it.
func TestExceptionAppliesToFrozenPlans(t *testing.T) {
	f := newFleet(t, "h1", "h2", "h3")
	if _, err := f.svc.ImportAdvisories(f.admin, []patchbay.Advisory{opensslAdvisory(patchbay.SeverityHigh)}); err != nil {
		t.Fatal(err)
	}
	d := f.create(patchbay.Rollout{Name: "oct", Policy: patchbay.PolicySecurity,
		Rings: []patchbay.Ring{{Name: "one", Count: 1, MaxConcurrency: 1}, {Name: "rest", Percent: 100, MaxConcurrency: 2}}})
	id := d.Rollout.ID
	f.act(id, service.ActionApprove)
	f.act(id, service.ActionStart) // h1 runs
	if got := f.jobs("h1"); len(got) != 1 {
		t.Fatalf("h1 jobs %v", got)
	}

	reply, err := f.svc.CreateException(f.admin, patchbay.ExceptionRequest{All: true, Advisory: "CVE-2099-0001",
		Reason: "mitigated", Owner: "secops", ExpiresAt: f.clock.Add(day)})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(reply.Held, ";") != "rollout 1: h2;rollout 1: h3" || strings.Join(reply.Running, ";") != "rollout 1: h1" {
		t.Errorf("reply held %v running %v", reply.Held, reply.Running)
	}
	f.result("h1", patchbay.JobSucceeded)
	f.tick(id)
	st := f.states(id)
	if st["h1"] != patchbay.HostSucceeded || st["h2"] != patchbay.HostHeld || st["h3"] != patchbay.HostHeld {
		t.Errorf("states %v", st)
	}
	for _, h := range []string{"h2", "h3"} {
		if got := f.jobs(h); len(got) != 0 {
			t.Errorf("%s got jobs %v although held", h, got)
		}
	}
	d, _ = f.svc.ShowRollout(f.admin, id)
	if d.Rollout.State != patchbay.RolloutCompleted {
		t.Errorf("rollout %s, want completed (held hosts let rings finish)", d.Rollout.State)
	}
	held := 0
	for _, e := range d.Events {
		if e.Kind == "host_held" && e.Actor == "test" && strings.Contains(e.Detail, "advisory CVE-2099-0001") {
			held++
		}
	}
	if held != 2 {
		t.Errorf("host_held log entries = %d, want 2: %+v", held, d.Events)
	}

	// Revoked early, it holds nothing more; revoking needs a reason and
	// happens once.
	if _, err := f.svc.RevokeException(f.admin, reply.Exception.ID, ""); patchbay.ErrorCode(err) != patchbay.EINVALID {
		t.Errorf("revoke without a reason: %v", err)
	}
	if _, err := f.svc.RevokeException(f.admin, reply.Exception.ID, "patched upstream"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.RevokeException(f.admin, reply.Exception.ID, "again"); patchbay.ErrorCode(err) != patchbay.ECONFLICT {
		t.Errorf("second revoke: %v", err)
	}
	_, planned, _ := f.planOf(patchbay.PolicySecurity)
	if strings.Join(planned["h2"], ",") != "openssl" {
		t.Errorf("after the revoke h2 planned %v", planned["h2"])
	}

	// Bad requests keep nothing.
	for name, req := range map[string]patchbay.ExceptionRequest{
		"two scopes": {Host: "h1", All: true, Package: "x", Reason: "r", Owner: "o", ExpiresAt: f.clock.Add(day)},
		"no scope":   {Package: "x", Reason: "r", Owner: "o", ExpiresAt: f.clock.Add(day)},
		"no expiry":  {All: true, Package: "x", Reason: "r", Owner: "o"},
		"past":       {All: true, Package: "x", Reason: "r", Owner: "o", ExpiresAt: f.clock.Add(-time.Minute)},
		"selector":   {Selector: "env", Package: "x", Reason: "r", Owner: "o", ExpiresAt: f.clock.Add(day)},
	} {
		if _, err := f.svc.CreateException(f.admin, req); patchbay.ErrorCode(err) != patchbay.EINVALID {
			t.Errorf("%s: %v, want EINVALID", name, err)
		}
	}
	if _, err := f.svc.CreateException(f.admin, patchbay.ExceptionRequest{Host: "ghost", Package: "x", Reason: "r", Owner: "o", ExpiresAt: f.clock.Add(day)}); patchbay.ErrorCode(err) != patchbay.ENOTFOUND {
		t.Errorf("unknown host: %v", err)
	}
	all, _ := f.svc.ListExceptions(f.admin, true)
	if len(all) != 1 {
		t.Errorf("exceptions stored: %+v", all)
	}
}
