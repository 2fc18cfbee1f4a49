package ui_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/service"
	"github.com/patchbay/patchbay/internal/ui"
)

var pathParam = regexp.MustCompile(`\{[^}$]+\}`)

// TestEveryRouteNeedsSession walks the route table: only the allow-listed
// routes answer without a session; every other GET sends the browser to
// the sign-in form (the live endpoint answers 401, it is polled by a
// script) and every other method is refused with 401, with no cookie as
// with a forged one.
func TestEveryRouteNeedsSession(t *testing.T) {
	f := newFixture(t)
	u := ui.New(f.svc, slog.New(slog.DiscardHandler), ui.Options{})
	public := []string{"GET /static/{file}", "GET /login", "POST /login"}
	var gotPublic []string
	for _, rt := range u.Routes() {
		key := rt.Method + " " + rt.Pattern
		if rt.Public {
			gotPublic = append(gotPublic, key)
			continue
		}
		path := strings.ReplaceAll(pathParam.ReplaceAllString(rt.Pattern, "1"), "{$}", "")
		for _, cookie := range []string{"", "pbs_forged", "garbage"} {
			req, err := http.NewRequest(rt.Method, f.srv.URL+path, strings.NewReader("csrf=x"))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if cookie != "" {
				req.AddCookie(&http.Cookie{Name: "__Host-patchbay_session", Value: cookie})
			}
			c := f.srv.Client()
			c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			switch {
			case rt.Method == "GET" && !strings.HasSuffix(path, "/live"):
				loc := resp.Header.Get("Location")
				if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/login?next=") {
					t.Errorf("%s with cookie %q: %d to %q, want 303 to /login", key, cookie, resp.StatusCode, loc)
				}
			default:
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("%s with cookie %q: status %d, want 401", key, cookie, resp.StatusCode)
				}
			}
		}
	}
	if diff := cmp.Diff(public, gotPublic); diff != "" {
		t.Errorf("public routes (-want +got):\n%s", diff)
	}
}

func TestSignInAndOut(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)

	r := b.get("/hosts?security=1")
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login?next=%2Fhosts%3Fsecurity%3D1" {
		t.Fatalf("anonymous GET /hosts: %d to %q", r.status, r.header.Get("Location"))
	}
	login := b.get(r.header.Get("Location"))
	mustContain(t, login.body, `name="next" value="/hosts?security=1"`)
	token := csrf(t, login.body)

	for _, tc := range []struct{ name, user, password string }{
		{"wrong password", "admin", "not-the-password"},
		{"unknown user", "root", f.password},
		{"empty password", "admin", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := b.post("/login", url.Values{"csrf": {token}, "username": {tc.user}, "password": {tc.password}, "next": {"/"}})
			if r.status != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", r.status)
			}
			mustContain(t, r.body, "wrong username or password")
			token = csrf(t, r.body) // each form gets a fresh token
			if strings.Contains(r.header.Get("Set-Cookie"), "__Host-patchbay_session=pbs_") {
				t.Error("a failed sign-in set a session cookie")
			}
		})
	}

	r = b.post("/login", url.Values{"csrf": {token}, "username": {"admin"}, "password": {f.password}, "next": {"/hosts?security=1"}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/hosts?security=1" {
		t.Fatalf("sign in: %d to %q:\n%s", r.status, r.header.Get("Location"), r.body)
	}
	var session *http.Cookie
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == "__Host-patchbay_session" {
			session = c
		}
	}
	if session == nil || !session.HttpOnly || !session.Secure || session.SameSite != http.SameSiteLaxMode || session.Path != "/" {
		t.Fatalf("session cookie = %+v, want HttpOnly, Secure, SameSite=Lax, Path=/", session)
	}
	dash := b.get("/")
	if dash.status != 200 {
		t.Fatalf("dashboard: %d", dash.status)
	}
	mustContain(t, dash.body, "<h1>Dashboard</h1>", `<span class="who">admin</span>`)
	if got := dash.header.Get("Content-Security-Policy"); !strings.Contains(got, "script-src 'self'") {
		t.Errorf("Content-Security-Policy = %q", got)
	}

	// Signing out ends the session on the server, not only in this browser.
	r = b.post("/logout", url.Values{"csrf": {csrf(t, dash.body)}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login" {
		t.Fatalf("sign out: %d to %q", r.status, r.header.Get("Location"))
	}
	if _, _, err := f.svc.SessionPrincipal(t.Context(), session.Value); patchbay.ErrorCode(err) != patchbay.EUNAUTHORIZED {
		t.Errorf("session after sign-out: err %v, want unauthorized", err)
	}
	replay := f.browser(t)
	u, _ := url.Parse(f.srv.URL)
	replay.jar.SetCookies(u, []*http.Cookie{{Name: session.Name, Value: session.Value}})
	if r := replay.get("/"); r.status != http.StatusSeeOther {
		t.Errorf("old session cookie after sign-out: status %d, want 303 to sign-in", r.status)
	}
}

func TestSessionExpires(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	b.signIn()
	f.clock.set(f.clock.now().Add(12*time.Hour + time.Second))
	if r := b.get("/"); r.status != http.StatusSeeOther {
		t.Fatalf("after 12 h: status %d, want 303 to sign-in", r.status)
	}
}

func TestLoginNeedsCSRF(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	b.get("/login") // sets the login cookie
	r := b.post("/login", url.Values{"username": {"admin"}, "password": {f.password}})
	if r.status != http.StatusForbidden {
		t.Fatalf("sign-in without CSRF token: %d, want 403", r.status)
	}
	r = b.post("/login", url.Values{"csrf": {"forged"}, "username": {"admin"}, "password": {f.password}})
	if r.status != http.StatusForbidden {
		t.Fatalf("sign-in with a wrong CSRF token: %d, want 403", r.status)
	}
}

func TestNoOpenRedirect(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	login := b.get("/login?next=//evil.example/x")
	mustContain(t, login.body, `name="next" value="/"`)
	for _, next := range []string{"//evil.example/", "https://evil.example/", "/\\evil.example"} {
		b := f.browser(t)
		r := b.post("/login", url.Values{"csrf": {csrf(t, b.get("/login").body)}, "username": {"admin"}, "password": {f.password}, "next": {next}})
		if loc := r.header.Get("Location"); loc != "/" {
			t.Errorf("next=%q: redirected to %q, want /", next, loc)
		}
	}
}

func TestFormPostsNeedCSRF(t *testing.T) {
	f := newFixture(t)
	h := f.addHost(t, hostSpec{name: "web1", assets: map[string]string{"owner": "alice"}})
	b := f.browser(t)
	token := b.signIn()
	path := fmt.Sprintf("/hosts/%d/assets", h.ID)
	for _, form := range []url.Values{
		{"owner": {"mallory"}},
		{"owner": {"mallory"}, "csrf": {""}},
		{"owner": {"mallory"}, "csrf": {"forged" + token}},
	} {
		if r := b.post(path, form); r.status != http.StatusForbidden {
			t.Errorf("asset form %v: status %d, want 403", form, r.status)
		}
	}
	if r := b.post("/logout", url.Values{}); r.status != http.StatusForbidden {
		t.Errorf("sign-out without CSRF: status %d, want 403", r.status)
	}
	got, err := f.svc.Host(f.admin, fmt.Sprint(h.ID))
	if err != nil {
		t.Fatal(err)
	}
	if got.Assets.Owner != "alice" {
		t.Errorf("owner = %q after refused posts, want alice", got.Assets.Owner)
	}
	if r := b.get("/"); r.status != 200 {
		t.Errorf("session after refused sign-out: status %d, want 200", r.status)
	}
}

func TestHostListFilters(t *testing.T) {
	f := newFixture(t)
	// "old" was last seen an hour ago: stale (interval 60 s).
	f.clock.set(f.clock.now().Add(-time.Hour))
	f.addHost(t, hostSpec{name: "old", os: "ubuntu"})
	f.clock.set(f.clock.now().Add(time.Hour))
	f.addHost(t, hostSpec{name: "db1", updates: []patchbay.Update{secUpdate("openssl"), secUpdate("libc6"), plainUpdate("tzdata")}, reboot: true,
		assets: map[string]string{"environment": "prod", "team": "data"}})
	f.addHost(t, hostSpec{name: "web1", updates: []patchbay.Update{secUpdate("openssl")}, assets: map[string]string{"environment": "prod", "team": "web"}})
	f.addHost(t, hostSpec{name: "web2", os: "almalinux", updates: []patchbay.Update{plainUpdate("tzdata")}, packages: 9, assets: map[string]string{"environment": "staging", "team": "web"}})
	f.addHost(t, hostSpec{name: strings.Repeat("very-long-hostname-", 12) + "end", reboot: true})
	long := strings.Repeat("very-long-hostname-", 12) + "end"
	b := f.browser(t)
	b.signIn()

	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"", []string{"db1", "old", long, "web1", "web2"}},
		{"q=WEB", []string{"web1", "web2"}},
		{"label=team%3Dweb", []string{"web1", "web2"}},
		{"label=environment%3Dprod+team%3Dweb", []string{"web1"}},
		{"os=ubuntu", []string{"old"}},
		{"status=stale", []string{"old"}},
		{"status=active", []string{"db1", long, "web1", "web2"}},
		{"security=1", []string{"db1", "web1"}},
		{"updates=1", []string{"db1", "web1", "web2"}},
		{"reboot=1", []string{"db1", long}},
		{"security=1&reboot=1", []string{"db1"}},
		{"sort=security&desc=1", []string{"db1", "web1", "old", long, "web2"}},
		{"sort=packages&desc=1", []string{"web2", "db1", "old", long, "web1"}},
		{"sort=hostname&desc=1", []string{"web2", "web1", long, "old", "db1"}},
		{"q=nomatch", []string{}},
	} {
		t.Run(tc.query, func(t *testing.T) {
			r := b.get("/hosts?" + tc.query)
			if r.status != 200 {
				t.Fatalf("status %d:\n%s", r.status, r.body)
			}
			if diff := cmp.Diff(tc.want, listed(r.body)); diff != "" {
				t.Errorf("hosts (-want +got):\n%s", diff)
			}
		})
	}
	for _, bad := range []string{"sort=name--drop", "status=gone", "page=0", "label=novalue"} {
		if r := b.get("/hosts?" + bad); r.status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", bad, r.status)
		}
	}
	// The filter form keeps its state, and column links keep the filters.
	r := b.get("/hosts?security=1&sort=security&desc=1")
	mustContain(t, r.body, `name="security" value="1" checked`, `href="/hosts?security=1&amp;sort=security"`, `aria-sort="descending"`)
}

func TestHostListPages(t *testing.T) {
	f := newFixture(t)
	for i := range 120 {
		f.addHost(t, hostSpec{name: fmt.Sprintf("h%03d", i), packages: 1})
	}
	b := f.browser(t)
	b.signIn()
	r := b.get("/hosts?page=2")
	got := listed(r.body)
	if len(got) != 50 || got[0] != "h050" || got[49] != "h099" {
		t.Fatalf("page 2 = %d hosts %v…, want h050…h099", len(got), got[:min(3, len(got))])
	}
	mustContain(t, r.body, "Hosts 51–100 of 120", "Page 2 of 3", `href="/hosts?page=3"`, `href="/hosts"`)
	r = b.get("/hosts?page=3")
	if got := listed(r.body); len(got) != 20 || got[19] != "h119" {
		t.Errorf("page 3 = %v", got)
	}
	if strings.Contains(r.body, `rel="next"`) {
		t.Error("last page links to a next page")
	}
	if r := b.get("/hosts?page=9"); len(listed(r.body)) != 0 || r.status != 200 {
		t.Errorf("page past the end: status %d, %d hosts", r.status, len(listed(r.body)))
	}
}

func TestDashboard(t *testing.T) {
	f := newFixture(t)
	f.clock.set(f.clock.now().Add(-time.Hour))
	f.addHost(t, hostSpec{name: "stale1"})
	f.clock.set(f.clock.now().Add(time.Hour))
	f.addHost(t, hostSpec{name: "db1", updates: []patchbay.Update{secUpdate("openssl"), secUpdate("libc6")}, reboot: true})
	f.addHost(t, hostSpec{name: "web<1>", updates: []patchbay.Update{secUpdate("openssl")}})
	b := f.browser(t)
	b.signIn()
	r := b.get("/")
	mustContain(t, r.body,
		`<span class="n">3</span> hosts`, `<span class="n ok">2</span> active`, `<span class="n warn">1</span> stale`,
		`<span class="n bad">2</span> with security updates`, `<span class="n warn">1</span> need a reboot`,
		">Hosts by status: 2 active, 1 stale or dormant</title>",
		"<title>db1: 2</title>", "web&lt;1&gt;", // bars, hostnames escaped
	)
	if strings.Index(r.body, "<title>db1: 2</title>") > strings.Index(r.body, "<title>web&lt;1&gt;: 1</title>") {
		t.Error("bars are not ordered by pending security updates")
	}
}

func TestHostPage(t *testing.T) {
	f := newFixture(t)
	h := f.addHost(t, hostSpec{name: "db1", packages: 450, reboot: true,
		updates: []patchbay.Update{plainUpdate("tzdata"), secUpdate("openssl")}, assets: map[string]string{"owner": "alice", "team": "data"}})
	b := f.browser(t)
	b.signIn()
	path := fmt.Sprintf("/hosts/%d", h.ID)
	r := b.get(path)
	if r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
	mustContain(t, r.body, `<h1 class="hostname">db1</h1>`, "debian 12", "6.1.0-18-amd64", `value="alice"`, `<span class="tag">team=data</span>`,
		"reboot required", "first inventory", "Page 1 of 5.", `data-live="/hosts/`)
	// Security updates first, marked.
	sec, plain := strings.Index(r.body, "openssl"), strings.Index(r.body, "tzdata")
	if sec < 0 || plain < 0 || sec > plain {
		t.Errorf("security update not listed first (openssl at %d, tzdata at %d)", sec, plain)
	}
	mustContain(t, r.body, `<tr class="sec">`)

	r = b.get(path + "?pkg=PKG004")
	mustContain(t, r.body, "10 match “PKG004”.", ">pkg0040<", ">pkg0049<")
	if strings.Contains(r.body, ">pkg0050<") {
		t.Error("package search shows a package that does not match")
	}
	r = b.get(path + "?pp=5")
	if !strings.Contains(r.body, ">pkg0449<") || strings.Contains(r.body, ">pkg0399<") {
		t.Error("package page 5 does not hold pkg0400…pkg0449")
	}
	if r := b.get("/hosts/99999"); r.status != http.StatusNotFound || !strings.Contains(r.body, "404") {
		t.Errorf("unknown host: status %d", r.status)
	}
}

func TestHostLive(t *testing.T) {
	f := newFixture(t)
	h := f.addHost(t, hostSpec{name: "db1"})
	b := f.browser(t)
	b.signIn()
	live := func() map[string]any {
		r := b.get(fmt.Sprintf("/hosts/%d/live", h.ID))
		if r.status != 200 {
			t.Fatalf("live: %d %s", r.status, r.body)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(r.body), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	before := live()
	if !strings.Contains(before["timeline_html"].(string), "first inventory") || before["status"] != "active" {
		t.Fatalf("live before = %v", before)
	}
	f.clock.set(f.clock.now().Add(2 * time.Minute))
	inv := inventoryFor(h.MachineID, hostSpec{name: "db1", packages: 4, os: "debian"})
	cred := reenrol(t, f, h)
	f.report(t, cred, inv)
	after := live()
	if !strings.Contains(after["timeline_html"].(string), "installed pkg0003 1.0-1") {
		t.Errorf("timeline after a new package lacks it:\n%s", after["timeline_html"])
	}
	if after["last_seen"] == before["last_seen"] {
		t.Errorf("last_seen did not move: %v", after["last_seen"])
	}
}

// reenrol gives the fixture's host a fresh credential (the test does not
// keep the first one).
func reenrol(t *testing.T, f *fixture, h patchbay.Host) string {
	t.Helper()
	tok, _, err := f.svc.CreateEnrollToken(f.admin, service.NewEnrollToken{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.svc.Enroll(t.Context(), patchbay.EnrollRequest{Token: tok, MachineID: h.MachineID, Hostname: h.Hostname, IntervalSeconds: 60})
	if err != nil {
		t.Fatal(err)
	}
	return res.Credential
}

// checkIn makes host name check in now (by re-enrolling it and sending a
// heartbeat), so that it is not away when a rollout reaches it.
func checkIn(t *testing.T, f *fixture, name string) {
	t.Helper()
	h, err := f.svc.Host(f.admin, name)
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.svc.Authenticate(t.Context(), reenrol(t, f, h))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Heartbeat(patchbay.NewContext(t.Context(), p), patchbay.Heartbeat{SchemaVersion: patchbay.InventorySchemaVersion}); err != nil {
		t.Fatal(err)
	}
}

func TestEditAssets(t *testing.T) {
	f := newFixture(t)
	h := f.addHost(t, hostSpec{name: "web1", assets: map[string]string{"owner": "alice", "location": "rack b4"}})
	b := f.browser(t)
	token := b.signIn()
	path := fmt.Sprintf("/hosts/%d", h.ID)
	form := url.Values{"csrf": {token}, "owner": {"bob"}, "environment": {"prod"}, "role": {"web <frontend>"}, "criticality": {"high"}, "location": {""}}
	r := b.post(path+"/assets", form)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != path+"?saved=1#assets" {
		t.Fatalf("save: %d to %q:\n%s", r.status, r.header.Get("Location"), r.body)
	}
	got, err := f.svc.Host(f.admin, fmt.Sprint(h.ID))
	if err != nil {
		t.Fatal(err)
	}
	want := patchbay.Assets{Owner: "bob", Environment: "prod", Role: "web <frontend>", Criticality: "high"}
	if diff := cmp.Diff(want, got.Assets); diff != "" {
		t.Errorf("assets (-want +got):\n%s", diff)
	}
	page := b.get(path + "?saved=1")
	mustContain(t, page.body, "Saved.", `value="web &lt;frontend&gt;"`)
	form.Set("owner", strings.Repeat("x", 201))
	if r := b.post(path+"/assets", form); r.status != http.StatusBadRequest {
		t.Errorf("201-character owner: status %d, want 400", r.status)
	}
	if r := b.post("/hosts/99999/assets", url.Values{"csrf": {token}}); r.status != http.StatusNotFound {
		t.Errorf("unknown host: status %d, want 404", r.status)
	}
}

func TestStaticAndNotFound(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	r := b.get("/static/style.css")
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/css") {
		t.Errorf("style.css: %d %q", r.status, r.header.Get("Content-Type"))
	}
	for _, p := range []string{"/static/nope.css", "/static/..%2fui.go"} {
		if r := b.get(p); r.status != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", p, r.status)
		}
	}
	b.signIn()
	if r := b.get("/no/such/page"); r.status != http.StatusNotFound || !strings.Contains(r.body, "<!doctype html>") {
		t.Errorf("unknown page: status %d", r.status)
	}
}
