package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/patchbay/patchbay"
)

// TestRolloutRoutes drives a rollout through the API: create (plan shown),
// approve, start; the host's long poll gets its job, the result settles
// the host; users cannot use agent routes and hosts cannot act on
// rollouts.
func TestRolloutRoutes(t *testing.T) {
	f := newFixture(t)
	mid := "0123456789abcdef0123456789abcdef"
	cred := f.enrolHost(t, mid, "web1")
	inv := validInventory(mid)
	inv.Updates = []patchbay.Update{{Name: "openssl", Arch: "amd64", InstalledVersion: "3.0.14-1~deb12u2", CandidateVersion: "3.0.15-1~deb12u1", Security: true}}
	body, _ := json.Marshal(inv)
	if code, out := f.do(t, "PUT", "/api/v1/agent/inventory", cred, body); code != http.StatusNoContent {
		t.Fatalf("inventory: %d %s", code, out)
	}

	def, _ := json.Marshal(patchbay.Rollout{Name: "r", Policy: patchbay.PolicySecurity,
		Rings: []patchbay.Ring{{Name: "all", Percent: 100, MaxConcurrency: 1, HealthGates: []string{"web"}}}})
	code, out := f.do(t, "POST", "/api/v1/rollouts", f.admin, def)
	if code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, out)
	}
	var d patchbay.RolloutDetail
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Hosts) != 1 || len(d.Hosts[0].Patches) != 1 || d.Hosts[0].Patches[0].Version != "3.0.15-1~deb12u1" {
		t.Fatalf("plan = %+v", d.Hosts)
	}
	base := fmt.Sprintf("/api/v1/rollouts/%d", d.Rollout.ID)
	if code, out := f.do(t, "POST", base+"/approve", cred, nil); code != http.StatusForbidden {
		t.Errorf("approve by a host: %d %s", code, out)
	}
	if code, out := f.do(t, "POST", base+"/start", f.admin, nil); code != http.StatusConflict {
		t.Errorf("start of a draft: %d %s", code, out)
	}
	for _, a := range []string{"approve", "start"} {
		if code, out := f.do(t, "POST", base+"/"+a, f.admin, nil); code != http.StatusOK {
			t.Fatalf("%s: %d %s", a, code, out)
		}
	}

	if code, out := f.do(t, "GET", "/api/v1/agent/jobs?wait=0", f.admin, nil); code != http.StatusForbidden {
		t.Errorf("poll by a user: %d %s", code, out)
	}
	if code, out := f.do(t, "GET", "/api/v1/agent/jobs?wait=61", cred, nil); code != http.StatusBadRequest {
		t.Errorf("wait=61: %d %s", code, out)
	}
	code, out = f.do(t, "GET", "/api/v1/agent/jobs?wait=1", cred, nil)
	var poll patchbay.JobsPoll
	if err := json.Unmarshal([]byte(out), &poll); code != http.StatusOK || err != nil || len(poll.Jobs) != 1 {
		t.Fatalf("poll: %d %s", code, out)
	}
	job := poll.Jobs[0]
	if job.Action != patchbay.JobInstall || len(job.Checks) != 1 || job.Checks[0] != "web" {
		t.Errorf("job = %+v", job)
	}

	res, _ := json.Marshal(patchbay.JobResult{JobID: job.ID, Action: job.Action, Status: patchbay.JobSucceeded})
	if code, out := f.do(t, "POST", "/api/v1/agent/jobs/nope/result", cred, res); code != http.StatusNotFound {
		t.Errorf("result of an unknown job: %d %s", code, out)
	}
	for range 2 {
		if code, out := f.do(t, "POST", "/api/v1/agent/jobs/"+job.ID+"/result", cred, res); code != http.StatusNoContent {
			t.Fatalf("result: %d %s", code, out)
		}
	}
	code, out = f.do(t, "GET", base, f.admin, nil)
	if err := json.Unmarshal([]byte(out), &d); code != http.StatusOK || err != nil {
		t.Fatalf("show: %d %s", code, out)
	}
	if d.Hosts[0].State != patchbay.HostSucceeded {
		t.Errorf("host after its result: %+v", d.Hosts[0])
	}
	code, out = f.do(t, "GET", "/api/v1/agent/jobs?wait=0", cred, nil)
	if err := json.Unmarshal([]byte(out), &poll); code != http.StatusOK || err != nil || len(poll.Jobs) != 0 {
		t.Errorf("poll after the result: %d %s", code, out)
	}
	if code, out := f.do(t, "GET", "/api/v1/rollouts/x", f.admin, nil); code != http.StatusBadRequest {
		t.Errorf("bad id: %d %s", code, out)
	}
}
