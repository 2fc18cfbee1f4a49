package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/patchbay/patchbay"
)

// TestSLAReportRoute: the report answers its shape with the server's
// clocks or a what-if; bad since or sla is a 400 naming the problem; a
// host credential is refused.
func TestSLAReportRoute(t *testing.T) {
	f := newFixture(t)
	cred := f.enrolHost(t, "0123456789abcdef0123456789abcdef", "web1")
	code, out := f.do(t, "GET", "/api/v1/reports/sla", f.admin, nil)
	var rep patchbay.SLAReport
	if err := json.Unmarshal([]byte(out), &rep); code != http.StatusOK || err != nil {
		t.Fatalf("sla report: %d %s", code, out)
	}
	if rep.SLA != patchbay.DefaultSLA || rep.Compliance != 100 || len(rep.Open) != len(patchbay.SLAClasses) || !strings.Contains(out, `"overdue": []`) {
		t.Errorf("report of a fresh fleet: %s", out)
	}
	if rep.Now.Sub(rep.Since) != 90*24*60*60*1e9 {
		t.Errorf("default since: %s → %s", rep.Since, rep.Now)
	}
	code, out = f.do(t, "GET", "/api/v1/reports/sla?since=30d&sla=critical%3D3d,low%3Dnone", f.admin, nil)
	rep = patchbay.SLAReport{}
	if err := json.Unmarshal([]byte(out), &rep); code != http.StatusOK || err != nil {
		t.Fatalf("what-if report: %d %s", code, out)
	}
	if rep.SLA.Critical != 3*24*60*60*1e9 || rep.SLA.Low != 0 || rep.SLA.High != patchbay.DefaultSLA.High || rep.Now.Sub(rep.Since) != 30*24*60*60*1e9 {
		t.Errorf("what-if report: sla %+v since %s", rep.SLA, rep.Since)
	}
	for query, want := range map[string]string{
		"?since=soon":           "since: ",
		"?since=-3d":            "negative",
		"?sla=critical":         "want CLASS=DURATION",
		"?sla=urgent%3D1d":      `unknown class \"urgent\"`,
		"?sla=critical%3D9000d": "up to 5 years",
	} {
		if code, out := f.do(t, "GET", "/api/v1/reports/sla"+query, f.admin, nil); code != http.StatusBadRequest || !strings.Contains(out, want) {
			t.Errorf("%s: %d %s; want 400 with %q", query, code, out, want)
		}
	}
	if code, out := f.do(t, "GET", "/api/v1/reports/sla", cred, nil); code != http.StatusForbidden {
		t.Errorf("a host reading the report: %d %s", code, out)
	}
}
