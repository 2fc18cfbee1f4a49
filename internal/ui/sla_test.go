package ui_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay"
)

// TestSLAPage: ten days after the findings open, the KEV finding (7-day
// clock) is overdue by 3 days on web1 and listed with its owner; on web2
// an exception covers it, so it is shown apart and not counted; the
// compliance figure and the class table agree; the period select and a
// bad period behave; the vulnerabilities page links the report.
func TestSLAPage(t *testing.T) {
	f := newFixture(t)
	start := f.clock.now()
	f.addHost(t, hostSpec{name: "web1", assets: map[string]string{"owner": "alice"}})
	f.addHost(t, hostSpec{name: "web2"})
	f.addVulns(t)
	if _, err := f.svc.CreateException(f.admin, patchbay.ExceptionRequest{Host: "web2", Package: "pkg0000",
		Reason: "mitigated by the WAF", Owner: "secops", ExpiresAt: start.Add(30 * 24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	f.clock.set(start.Add(10 * 24 * time.Hour))
	b := f.browser(t)
	b.signIn()

	r := b.get("/reports/sla")
	if r.status != http.StatusOK {
		t.Fatalf("GET /reports/sla: %d\n%s", r.status, r.body)
	}
	// web1: 3 findings with a clock, web2: 2 (its KEV one is excepted); 1 overdue.
	mustContain(t, r.body, "Compliance: <strong>80.0%</strong>",
		`<td>kev</td><td>7d</td><td class="num">2</td><td class="num">0</td>`, `<span class="badge bad">1</span>`,
		`<td>critical</td><td>15d</td><td class="num">0</td>`,
		`<td>medium</td><td>90d</td><td class="num">2</td><td class="num">2</td>`,
		"Overdue findings <span class=\"muted\">1</span>", ">web1</a>", "<td>alice</td>", `<a href="/vulns/CVE-2099-0001">CVE-2099-0001</a>`,
		`<span class="badge bad">KEV</span>`, `<td class="num">3.0d</td>`,
		"Covered by an exception <span class=\"muted\">1</span>", ">web2</a>", `href="/exceptions#exception-1">#1</a>`,
		`<option value="90d" selected>90d</option>`)
	if r := b.get("/reports/sla?since=30d"); r.status != http.StatusOK {
		t.Errorf("since=30d: %d", r.status)
	} else {
		mustContain(t, r.body, `<option value="30d" selected>30d</option>`)
	}
	if r := b.get("/reports/sla?since=yesterday"); r.status != http.StatusBadRequest {
		t.Errorf("since=yesterday: %d", r.status)
	}
	mustContain(t, b.get("/vulns").body, `<a href="/reports/sla" id="sla-link">`)
}

// TestWebhooksPage: the page lists a webhook with its events and a
// failing receiver's state, escaped, and never its secret; the rollouts
// page links it.
func TestWebhooksPage(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	b.signIn()
	mustContain(t, b.get("/webhooks").body, "No webhook.")
	hook, err := f.svc.CreateWebhook(f.admin, patchbay.WebhookRequest{Name: "ops-chat", URL: "http://127.0.0.1:1/hook?a=1&b=<2>", Events: []string{"state", "host_failed"}})
	if err != nil {
		t.Fatal(err)
	}
	hook.Failures, hook.LastError, hook.NextAttempt = 3, `connection refused <script>`, f.clock.now().Add(time.Minute)
	if err := f.db.RecordWebhook(t.Context(), hook); err != nil {
		t.Fatal(err)
	}
	page := b.get("/webhooks").body
	mustContain(t, page, "<td>ops-chat</td>", "<code>http://127.0.0.1:1/hook?a=1&amp;b=&lt;2&gt;</code>", "<td>host_failed, state</td>",
		`<span class="badge bad">3</span>`, "connection refused &lt;script&gt;", `<span class="muted">never</span>`)
	if strings.Contains(page, hook.Secret) {
		t.Error("the page shows the webhook's secret")
	}
	mustContain(t, b.get("/rollouts").body, `<a href="/webhooks" id="webhooks-link">`)
}
