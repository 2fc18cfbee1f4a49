package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/patchbay/patchbay"
)

// TestRetireRoutes: retire answers the retired host; the agent's next
// heartbeat is a 403 that says how to take it back; the host list leaves
// it out unless status=retired; unretire lets the agent in again; the
// dormant report answers its shape; bad input is a 400.
func TestRetireRoutes(t *testing.T) {
	f := newFixture(t)
	cred := f.enrolHost(t, "0123456789abcdef0123456789abcdef", "web1")
	f.enrolHost(t, "0123456789abcdef0123456789abcdee", "web2")
	hb, _ := json.Marshal(patchbay.Heartbeat{SchemaVersion: patchbay.InventorySchemaVersion})
	if code, out := f.do(t, "POST", "/api/v1/agent/heartbeat", cred, hb); code != http.StatusOK {
		t.Fatalf("heartbeat: %d %s", code, out)
	}
	if code, out := f.do(t, "POST", "/api/v1/hosts/web1/retire", cred, []byte(`{}`)); code != http.StatusForbidden {
		t.Errorf("a host retiring itself: %d %s", code, out)
	}
	if code, out := f.do(t, "POST", "/api/v1/hosts/web1/retire", f.admin, []byte(`{"reason": 7}`)); code != http.StatusBadRequest {
		t.Errorf("a reason that is not a string: %d %s", code, out)
	}
	code, out := f.do(t, "POST", "/api/v1/hosts/web1/retire", f.admin, []byte(`{"reason": "  moved to the new cluster "}`))
	var h patchbay.Host
	if err := json.Unmarshal([]byte(out), &h); code != http.StatusOK || err != nil {
		t.Fatalf("retire: %d %s", code, out)
	}
	if h.Status != patchbay.HostRetired || h.RetiredReason != "moved to the new cluster" || h.RetiredAt.IsZero() {
		t.Errorf("retired host: %+v", h)
	}
	if code, out := f.do(t, "POST", "/api/v1/hosts/web1/retire", f.admin, []byte(`{}`)); code != http.StatusConflict {
		t.Errorf("retire twice: %d %s", code, out)
	}
	if code, out := f.do(t, "POST", "/api/v1/hosts/nope/retire", f.admin, []byte(`{}`)); code != http.StatusNotFound {
		t.Errorf("retire an unknown host: %d %s", code, out)
	}
	code, out = f.do(t, "POST", "/api/v1/agent/heartbeat", cred, hb)
	if code != http.StatusForbidden || !strings.Contains(out, "patchbay hosts unretire web1") {
		t.Errorf("heartbeat of a retired host: %d %s", code, out)
	}
	for query, want := range map[string]string{"": "web2", "?status=retired": "web1", "?status=active": "web2"} {
		code, out := f.do(t, "GET", "/api/v1/hosts"+query, f.admin, nil)
		var hosts []patchbay.Host
		if err := json.Unmarshal([]byte(out), &hosts); code != http.StatusOK || err != nil {
			t.Fatalf("list %q: %d %s", query, code, out)
		}
		if len(hosts) != 1 || hosts[0].Hostname != want {
			t.Errorf("list %q = %d hosts, want only %s", query, len(hosts), want)
		}
	}
	if code, out := f.do(t, "GET", "/api/v1/hosts?status=gone", f.admin, nil); code != http.StatusBadRequest || !strings.Contains(out, "active, stale, dormant or retired") {
		t.Errorf("unknown status: %d %s", code, out)
	}
	if code, out := f.do(t, "POST", "/api/v1/hosts/web1/unretire", f.admin, nil); code != http.StatusOK {
		t.Fatalf("unretire: %d %s", code, out)
	}
	if code, out := f.do(t, "POST", "/api/v1/agent/heartbeat", cred, hb); code != http.StatusOK {
		t.Errorf("heartbeat after unretire: %d %s", code, out)
	}
	code, out = f.do(t, "GET", "/api/v1/reports/dormant", f.admin, nil)
	var rep patchbay.DormantReport
	if err := json.Unmarshal([]byte(out), &rep); code != http.StatusOK || err != nil {
		t.Fatalf("dormant report: %d %s", code, out)
	}
	if len(rep.Hosts) != 0 || rep.Lifecycle.DormantAfter != patchbay.DefaultDormantAfter || !strings.Contains(out, `"hosts": []`) {
		t.Errorf("dormant report of a fresh fleet: %s", out)
	}
}
