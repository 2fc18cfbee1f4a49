package ui_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/service"
)

// TestPoliciesPage: the list shows the built-in policies; the form creates
// a policy; refused input comes back with the reason and the user's values,
// and stores nothing.
func TestPoliciesPage(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	b.signIn()
	r := b.get("/policies")
	if r.status != 200 {
		t.Fatalf("policies: %d\n%s", r.status, r.body)
	}
	mustContain(t, r.body, `href="/policies" aria-current="page">Policies</a>`, "security <span class=\"muted\">built in</span>", `action="/policies"`)
	token := csrf(t, r.body)

	bad := url.Values{"csrf": {token}, "name": {"prod"}, "classification": {"security"}, "min_age": {"7d"}, "approve": {"[oops"}, "description": {"my baseline"}}
	r = b.post("/policies", bad)
	if r.status != http.StatusBadRequest {
		t.Fatalf("bad pattern: %d", r.status)
	}
	mustContain(t, r.body, `role="alert">policy prod: approve pattern: package pattern &#34;[oops&#34;`, `value="my baseline"`, `value="[oops"`, `value="7d"`)
	bad["approve"], bad["min_age"] = []string{"openssl"}, []string{"a week"}
	if r = b.post("/policies", bad); r.status != http.StatusBadRequest || !strings.Contains(r.body, "minimum age &#34;a week&#34;") {
		t.Fatalf("bad age: %d\n%s", r.status, r.body)
	}
	if list, _ := f.svc.ListPolicies(f.admin); len(list) != 2 {
		t.Fatalf("refused forms stored policies: %+v", list)
	}

	good := url.Values{"csrf": {token}, "name": {"prod"}, "classification": {"all"}, "min_severity": {"high"}, "min_age": {"3d"},
		"approve": {"openssl, libssl*"}, "reject": {"linux-image-*"}, "approve_kev": {"on"}}
	r = b.post("/policies", good)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/policies?created=prod" {
		t.Fatalf("create: %d %q\n%s", r.status, r.header.Get("Location"), r.body)
	}
	p, err := f.svc.Policy(f.admin, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if p.MinAge != 72*time.Hour || p.MinSeverity != "high" || !p.ApproveKEV || strings.Join(p.Approve, " ") != "libssl* openssl" || p.CreatedBy != "admin" {
		t.Errorf("stored policy %+v", p)
	}
	r = b.get("/policies?created=prod")
	mustContain(t, r.body, "Policy prod created.", `<span class="tag">linux-image-*</span>`, "<td>3d</td>")
	if r = b.post("/policies", good); r.status != http.StatusBadRequest || !strings.Contains(r.body, "policy prod exists already") {
		t.Errorf("create twice: %d", r.status)
	}
}

// TestExceptionsPage: an exception granted in the form holds a pending
// host of an approved rollout (the page says so), marks the host's finding
// as excepted, is listed with who granted it, and is revoked with a
// reason; refused input keeps the user's values; posts need the CSRF
// token.
func TestExceptionsPage(t *testing.T) {
	f := newFixture(t)
	h := f.addHost(t, hostSpec{name: "web1", updates: []patchbay.Update{secUpdate("pkg0000")}})
	f.addVulns(t)
	d := f.addRollout(t, "dec")
	if _, err := f.svc.ActOnRollout(f.admin, d.Rollout.ID, service.ActionApprove); err != nil {
		t.Fatal(err)
	}
	b := f.browser(t)
	b.signIn()
	r := b.get("/exceptions")
	mustContain(t, r.body, `href="/exceptions" aria-current="page">Exceptions</a>`, "No exceptions in force.", `type="date"`)
	token := csrf(t, r.body)
	expires := time.Now().UTC().AddDate(0, 0, 10).Format(time.DateOnly)

	form := url.Values{"csrf": {token}, "scope": {"host"}, "host": {"web1"}, "target": {"package"}, "value": {"pkg0000"},
		"reason": {"certified on 1.0-1 only"}, "owner": {"team-web"}}
	r = b.post("/exceptions", form)
	if r.status != http.StatusBadRequest {
		t.Fatalf("no expiry: %d", r.status)
	}
	mustContain(t, r.body, "every exception expires", `value="certified on 1.0-1 only"`, `value="team-web"`, `value="pkg0000"`)
	form.Set("expires", expires)
	form.Set("host", "ghost")
	if r = b.post("/exceptions", form); r.status != http.StatusBadRequest || !strings.Contains(r.body, "ghost") {
		t.Fatalf("unknown host: %d\n%s", r.status, r.body)
	}
	if r = b.post("/exceptions", url.Values{"scope": {"all"}, "target": {"package"}, "value": {"x"}, "reason": {"r"}, "owner": {"o"}, "expires": {expires}}); r.status != http.StatusForbidden {
		t.Errorf("post without CSRF: %d", r.status)
	}
	if list, _ := f.svc.ListExceptions(f.admin, true); len(list) != 0 {
		t.Fatalf("refused forms stored exceptions: %+v", list)
	}

	form.Set("host", "web1")
	r = b.post("/exceptions", form)
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/exceptions?created=1") {
		t.Fatalf("grant: %d %q\n%s", r.status, r.header.Get("Location"), r.body)
	}
	r = b.get(r.header.Get("Location"))
	mustContain(t, r.body, "Exception 1 granted.", "Held now (never touched): rollout 1: web1", "package pkg0000",
		`<a href="/hosts/`+fmt.Sprint(h.ID)+`">host web1</a>`, "certified on 1.0-1 only", "by admin", `action="/exceptions/1/revoke"`)
	if rd, err := f.svc.ShowRollout(f.admin, d.Rollout.ID); err != nil || rd.Hosts[0].State != patchbay.HostHeld {
		t.Errorf("web1 in the approved rollout: %+v %v, want held", rd.Hosts, err)
	}
	r = b.get(fmt.Sprintf("/hosts/%d", h.ID))
	mustContain(t, r.body, `href="/exceptions#exception-1">excepted (#1)</a>`)
	r = b.get("/vulns")
	mustContain(t, r.body, `1 excepted</span>`)

	if r = b.post("/exceptions/1/revoke", url.Values{"csrf": {token}}); r.status != http.StatusBadRequest {
		t.Errorf("revoke without a reason: %d", r.status)
	}
	r = b.post("/exceptions/1/revoke", url.Values{"csrf": {token}, "reason": {"app recertified"}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/exceptions?revoked=1" {
		t.Fatalf("revoke: %d %q", r.status, r.header.Get("Location"))
	}
	r = b.get("/exceptions?revoked=1")
	mustContain(t, r.body, "Exception 1 revoked.", "No exceptions in force.")
	r = b.get("/exceptions?all=1")
	mustContain(t, r.body, `<span class="badge x-revoked">revoked</span>`, "by admin: app recertified")
	if strings.Contains(r.body, `action="/exceptions/1/revoke"`) {
		t.Error("a revoked exception offers Revoke")
	}
}
