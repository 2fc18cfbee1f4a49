package ui_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/service"
)

// TestDashboardFindingsTrendRollouts: open findings by severity with KEV
// called out, the 30-day trend of open findings, and the running
// rollouts with their progress; each empty state first.
func TestDashboardFindingsTrendRollouts(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	b.signIn()
	r := b.get("/")
	mustContain(t, r.body, "No open findings.", "No finding was open in the last 30 days.", "No rollout is running.", `href="/rollouts/new"`)
	if strings.Contains(r.body, "kev-alert") {
		t.Error("a KEV alert without findings")
	}

	// Ten days ago three Debian hosts got their findings; one was fixed
	// three days ago.
	now := f.clock.now()
	f.clock.set(now.Add(-10 * 24 * time.Hour))
	for _, n := range []string{"web1", "web2", "web3"} {
		f.addHost(t, hostSpec{name: n, updates: []patchbay.Update{secUpdate("openssl")}})
	}
	f.addVulns(t) // pkg0000: critical KEV; pkg0001: low; pkg0002: medium, on every host
	f.clock.set(now.Add(-3 * 24 * time.Hour))
	web3, err := f.svc.Host(f.admin, "web3")
	if err != nil {
		t.Fatal(err)
	}
	inv := inventoryFor(web3.MachineID, hostSpec{name: "web3", os: "debian", packages: 3, updates: []patchbay.Update{secUpdate("openssl")}})
	inv.Packages[0].Version, inv.Packages[0].SourceVersion = "1.0-2", "1.0-2" // pkg0000 fixed
	f.report(t, reenrol(t, f, web3), inv)
	f.clock.set(now)
	for _, n := range []string{"web1", "web2", "web3"} {
		checkIn(t, f, n) // not away when the rollout reaches them
	}

	d, err := f.svc.CreateRollout(f.admin, patchbay.Rollout{Name: "web-security", Policy: patchbay.PolicySecurity,
		Rings: []patchbay.Ring{{Name: "canary", Count: 1, MaxConcurrency: 1}, {Name: "rest", Percent: 100, MaxConcurrency: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []service.RolloutAction{service.ActionApprove, service.ActionStart} {
		if _, err := f.svc.ActOnRollout(f.admin, d.Rollout.ID, a); err != nil {
			t.Fatal(err)
		}
	}
	f.addRollout(t, "still a draft")

	r = b.get("/")
	day := func(daysAgo int) string { return now.UTC().AddDate(0, 0, -daysAgo).Format("2006-01-02") }
	mustContain(t, r.body,
		"Open findings <span class=\"muted\">8 on 3 hosts</span>",
		`<a href="/vulns?kev=1"><strong>2 findings</strong> of CVEs known to be exploited (CISA KEV), on <strong>2 hosts</strong></a>`,
		`<span class="badge sev-critical">critical</span></a></td>
      <td class="num">2</td>
      <td class="num"><a class="error" href="/vulns?kev=1&amp;severity=critical">2</a></td>`,
		`<span class="badge sev-low">low</span></a></td>
      <td class="num">3</td>
      <td class="num"><span class="muted">0</span></td>`,
		// The trend: nothing 11 days ago, 9 open from 10 days ago, 8 from
		// 3 days ago.
		"<title>"+day(11)+": 0 open</title>", "<title>"+day(10)+": 9 open</title>", "<title>"+day(4)+": 9 open</title>",
		"<title>"+day(3)+": 8 open</title>", "<title>"+day(0)+": 8 open</title>",
		"Open findings per day, last 30 days: 0 on", ", 8 now</title>",
		// The running rollout, not the draft.
		fmt.Sprintf(`<a class="name" href="/rollouts/%d">web-security</a> <span class="badge r-running">running</span>`, d.Rollout.ID),
		"0 of 3 hosts done, 1 running", `aria-label="web-security: 0 of 3 hosts done, 0 failed, 1 running"`,
		`<title>1 running</title>`, `<title>2 pending</title>`,
	)
	if n := strings.Count(r.body, `<circle class="trend-dot"`); n != 30 {
		t.Errorf("%d points in the trend, want 30", n)
	}
	if strings.Contains(r.body, "still a draft") {
		t.Error("a draft rollout is among the running ones")
	}
}
