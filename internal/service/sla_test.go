package service_test

import (
	"testing"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/service"
)

// TestSLAReport: three hosts get a critical openssl finding; the report
// follows them on the injected clock: due soon at day 10, one fixed
// (time to fix 10 days, within its 15), one covered by an exception
// (shown apart, not overdue), one overdue by 5 days at day 20 and listed
// under its owner. A what-if SLA, a shorter since and retiring the host
// change the report as they should; a host may not read it.
func TestSLAReport(t *testing.T) {
	f := newFleet(t, "h1", "h2", "h3")
	for name, owner := range map[string]string{"h1": "web-team", "h2": "dba"} {
		if _, err := f.svc.UpdateHost(f.admin, name, map[string]string{"owner": owner}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.svc.ImportAdvisories(f.admin, []patchbay.Advisory{opensslAdvisory(patchbay.SeverityCritical)}); err != nil {
		t.Fatal(err)
	}
	report := func(req service.SLAReportRequest) patchbay.SLAReport {
		t.Helper()
		rep, err := f.svc.SLAReport(f.admin, req)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	critical := func(rep patchbay.SLAReport) patchbay.SLAOpen {
		for _, o := range rep.Open {
			if o.Class == "critical" {
				return o
			}
		}
		t.Fatal("no critical row")
		return patchbay.SLAOpen{}
	}
	start := f.clock

	f.clock = start.Add(10 * day)
	rep := report(service.SLAReportRequest{})
	if o := critical(rep); o.Open != 3 || o.DueSoon != 3 || o.Clock != 15*day || rep.Compliance != 100 {
		t.Fatalf("day 10: %+v, compliance %.0f", o, rep.Compliance)
	}
	f.reportOpenssl("h3", "3.0.15-1~deb12u1") // fixed after 10 days
	if _, err := f.svc.CreateException(f.admin, patchbay.ExceptionRequest{Host: "h2", Package: "openssl",
		Reason: "vendor certifies 3.0.14 only", Owner: "dba", ExpiresAt: f.clock.Add(60 * day)}); err != nil {
		t.Fatal(err)
	}

	f.clock = start.Add(20 * day)
	rep = report(service.SLAReportRequest{})
	if o := critical(rep); o.Open != 2 || o.Overdue != 1 || o.Excepted != 1 || o.DueSoon != 0 {
		t.Errorf("day 20: %+v", o)
	}
	if rep.Compliance != 0 {
		t.Errorf("day 20: compliance %.0f%%, want 0 (h1 overdue, h2 excepted)", rep.Compliance)
	}
	if len(rep.Overdue) != 1 || rep.Overdue[0].Hostname != "h1" || rep.Overdue[0].OverdueBy != 5*day || rep.Overdue[0].Owner != "web-team" ||
		rep.Overdue[0].FixedVersion != "3.0.15-1~deb12u1" {
		t.Errorf("overdue: %+v", rep.Overdue)
	}
	if len(rep.Excepted) != 1 || rep.Excepted[0].Hostname != "h2" || rep.Excepted[0].ExceptionID == 0 {
		t.Errorf("excepted: %+v", rep.Excepted)
	}
	if len(rep.ByOwner) != 1 || rep.ByOwner[0] != (patchbay.SLAOwnerRow{Owner: "web-team", Hosts: 1, Overdue: 1}) {
		t.Errorf("by owner: %+v", rep.ByOwner)
	}
	var fixed patchbay.SLAFixed
	for _, x := range rep.Fixed {
		if x.Class == "critical" {
			fixed = x
		}
	}
	if fixed.Fixed != 1 || fixed.Within != 1 || fixed.Median != 10*day {
		t.Errorf("critical time to fix: %+v", fixed)
	}

	// What if critical had 30 days? h1 is due in 10.
	what, _ := patchbay.ParseSLA("critical=30d")
	if o := critical(report(service.SLAReportRequest{SLA: &what})); o.Overdue != 0 || o.Within != 1 {
		t.Errorf("with critical=30d: %+v", o)
	}
	// Since 5 days: h3's fix, 10 days ago, is out.
	for _, x := range report(service.SLAReportRequest{Since: 5 * day}).Fixed {
		if x.Fixed != 0 {
			t.Errorf("since 5d: %+v", x)
		}
	}
	if _, err := f.svc.SLAReport(f.admin, service.SLAReportRequest{Since: -day}); patchbay.ErrorCode(err) != patchbay.EINVALID {
		t.Errorf("negative since: %v", err)
	}
	if _, err := f.svc.SLAReport(f.hosts["h1"], service.SLAReportRequest{}); patchbay.ErrorCode(err) != patchbay.EFORBIDDEN {
		t.Errorf("a host reading the report: %v", err)
	}
	// A retired host leaves the figures.
	if _, err := f.svc.RetireHost(f.admin, "h1", "decommissioned"); err != nil {
		t.Fatal(err)
	}
	if o := critical(report(service.SLAReportRequest{})); o.Open != 1 || o.Overdue != 0 {
		t.Errorf("after retiring h1: %+v", o)
	}
}
