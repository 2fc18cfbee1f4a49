package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/patchbay/patchbay"
)

// TestRollbackRoute: POST /api/v1/rollouts/{id}/rollback answers the new
// draft with rollback_of set; a host's credential is refused, a draft
// cannot be rolled back, a bad ring is a 400.
func TestRollbackRoute(t *testing.T) {
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
		Rings: []patchbay.Ring{{Name: "all", Percent: 100, MaxConcurrency: 1}}})
	code, out := f.do(t, "POST", "/api/v1/rollouts", f.admin, def)
	var d patchbay.RolloutDetail
	if err := json.Unmarshal([]byte(out), &d); code != http.StatusCreated || err != nil {
		t.Fatalf("create: %d %s", code, out)
	}
	base := fmt.Sprintf("/api/v1/rollouts/%d", d.Rollout.ID)
	if code, out := f.do(t, "POST", base+"/rollback", f.admin, nil); code != http.StatusConflict {
		t.Errorf("rollback of a draft: %d %s", code, out)
	}
	for _, a := range []string{"approve", "start"} {
		if code, out := f.do(t, "POST", base+"/"+a, f.admin, nil); code != http.StatusOK {
			t.Fatalf("%s: %d %s", a, code, out)
		}
	}
	if code, out := f.do(t, "POST", base+"/rollback", cred, nil); code != http.StatusForbidden {
		t.Errorf("rollback by a host: %d %s", code, out)
	}
	if code, out := f.do(t, "POST", base+"/rollback", f.admin, []byte(`{"ring":"nope"}`)); code != http.StatusBadRequest {
		t.Errorf("rollback of an unknown ring: %d %s", code, out)
	}
	code, out = f.do(t, "POST", base+"/rollback", f.admin, []byte(fmt.Sprintf(`{"host":%q}`, d.Hosts[0].Hostname)))
	var rb patchbay.RolloutDetail
	if err := json.Unmarshal([]byte(out), &rb); code != http.StatusCreated || err != nil {
		t.Fatalf("rollback: %d %s", code, out)
	}
	if rb.Rollout.RollbackOf != d.Rollout.ID || rb.Rollout.State != patchbay.RolloutDraft || len(rb.Hosts) != 1 || rb.Hosts[0].State != patchbay.HostSkipped {
		// The job has not reported: the host's history holds no change of
		// the rollout yet, so it is skipped.
		t.Errorf("rollback detail: %+v", rb)
	}
}
