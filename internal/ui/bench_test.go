package ui_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/service"
)

// BenchmarkHostsPage10k renders the first page of the host list, and a
// filtered, sorted page, with 10,000 hosts in the database. Hosts are
// enrolled and given inventories through the service, as agents would.
// The dashboard is measured again once advisories opened 30,000 findings
// (three on every host, one of them of a KEV CVE), with the vulnerability
// list and the SLA report.
func BenchmarkHostsPage10k(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	for i := range 10_000 {
		tok, _, err := f.svc.CreateEnrollToken(f.admin, service.NewEnrollToken{})
		if err != nil {
			b.Fatal(err)
		}
		machine := fmt.Sprintf("%032x", i+1)
		name := fmt.Sprintf("host-%05d.example.com", i)
		res, err := f.svc.Enroll(ctx, patchbay.EnrollRequest{Token: tok, MachineID: machine, Hostname: name, IntervalSeconds: 60})
		if err != nil {
			b.Fatal(err)
		}
		sp := hostSpec{name: name, os: "debian", packages: 5, reboot: i%7 == 0}
		if i%3 == 0 {
			sp.updates = []patchbay.Update{secUpdate("openssl"), plainUpdate("tzdata")}
		}
		f.report(b, res.Credential, inventoryFor(machine, sp))
	}
	br := f.browser(b)
	br.signIn()
	run := func(name, path string) {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				r := br.get(path)
				if r.status != http.StatusOK {
					b.Fatalf("status %d", r.status)
				}
			}
		})
	}
	run("first page", "/hosts")
	run("security, by security updates", "/hosts?security=1&sort=security&desc=1")
	run("page 100", "/hosts?page=100")
	run("dashboard", "/")

	f.addVulns(b)
	if e, err := f.svc.Exposure(f.admin, 30); err != nil || e.Counts.Findings != 30_000 {
		b.Fatalf("findings: %+v, %v; want 30,000", e.Counts, err)
	}
	run("dashboard, 30,000 findings", "/")
	// The SLA report reads every open finding, as the vulnerability list
	// (its baseline here) does.
	run("vulns, 30,000 findings", "/vulns")
	run("sla report, 30,000 findings", "/reports/sla")
}
