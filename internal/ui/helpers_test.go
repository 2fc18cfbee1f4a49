package ui_test

import (
	"context"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/service"
	"github.com/patchbay/patchbay/internal/sqlite"
	"github.com/patchbay/patchbay/internal/ui"
)

const caHash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// clock is the fixture's time, moved by tests; the zero time stands for
// the real clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.t.IsZero() {
		return time.Now().UTC()
	}
	return c.t
}

func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// fixture is a real UI over a real service and a real SQLite database,
// served over TLS (the cookies are Secure).
type fixture struct {
	db       *sqlite.DB
	svc      *service.Service
	ui       *ui.UI
	srv      *httptest.Server
	clock    *clock
	password string // of the admin user
	admin    context.Context
	n        int
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "patchbay.db"), logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clk := &clock{t: time.Now().UTC()}
	svc := service.New(db, service.Options{Logger: logger, CAHash: caHash, Now: clk.now})
	password, err := svc.EnsureAdminUser(ctx)
	if err != nil || password == "" {
		t.Fatalf("EnsureAdminUser = %q, %v", password, err)
	}
	u := ui.New(svc, logger, ui.Options{Now: clk.now})
	srv := httptest.NewTLSServer(u.Handler())
	t.Cleanup(srv.Close)
	admin := patchbay.NewContext(ctx, patchbay.Principal{Kind: patchbay.PrincipalUser, Name: "test", Role: patchbay.RoleAdmin})
	return &fixture{db: db, svc: svc, ui: u, srv: srv, clock: clk, password: password, admin: admin}
}

// hostSpec describes a test host.
type hostSpec struct {
	name     string
	os       string // os id, default debian
	packages int    // default 3
	updates  []patchbay.Update
	reboot   bool
	assets   map[string]string
}

// addHost enrols a host through the service and reports its inventory as
// the host itself would.
func (f *fixture) addHost(t testing.TB, sp hostSpec) patchbay.Host {
	t.Helper()
	f.n++
	tok, _, err := f.svc.CreateEnrollToken(f.admin, service.NewEnrollToken{})
	if err != nil {
		t.Fatal(err)
	}
	machine := fmt.Sprintf("%032x", f.n)
	res, err := f.svc.Enroll(context.Background(), patchbay.EnrollRequest{Token: tok, MachineID: machine, Hostname: sp.name, IntervalSeconds: 60})
	if err != nil {
		t.Fatal(err)
	}
	if sp.os == "" {
		sp.os = "debian"
	}
	if sp.packages == 0 {
		sp.packages = 3
	}
	inv := inventoryFor(machine, sp)
	f.report(t, res.Credential, inv)
	if sp.assets != nil {
		if _, err := f.svc.UpdateHost(f.admin, fmt.Sprint(res.HostID), sp.assets); err != nil {
			t.Fatal(err)
		}
	}
	h, err := f.svc.Host(f.admin, fmt.Sprint(res.HostID))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func inventoryFor(machine string, sp hostSpec) patchbay.Inventory {
	inv := patchbay.Inventory{
		SchemaVersion: patchbay.InventorySchemaVersion, CollectedAt: time.Now(), MachineID: machine, Hostname: sp.name,
		OS:     patchbay.OS{ID: sp.os, VersionID: "12", PrettyName: sp.os + " 12"},
		Kernel: "6.1.0-18-amd64", Arch: "amd64", BootID: "boot-" + machine, UptimeSeconds: 7200,
		IPAddresses: []string{"192.0.2.1"}, PackageManager: "apt", Updates: sp.updates, RebootRequired: sp.reboot,
	}
	for i := range sp.packages {
		name := fmt.Sprintf("pkg%04d", i)
		inv.Packages = append(inv.Packages, patchbay.Package{Name: name, Arch: "amd64", Version: "1.0-1", SourceName: name, SourceVersion: "1.0-1"})
	}
	return inv
}

// report sends an inventory as the host with credential cred.
func (f *fixture) report(t testing.TB, cred string, inv patchbay.Inventory) {
	t.Helper()
	p, err := f.svc.Authenticate(context.Background(), cred)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.ReportInventory(patchbay.NewContext(context.Background(), p), inv); err != nil {
		t.Fatal(err)
	}
}

func secUpdate(name string) patchbay.Update {
	return patchbay.Update{Name: name, Arch: "amd64", InstalledVersion: "1.0-1", CandidateVersion: "1.0-2", Origin: "Debian-Security:12/stable-security", Security: true}
}

func plainUpdate(name string) patchbay.Update {
	return patchbay.Update{Name: name, Arch: "amd64", InstalledVersion: "1.0-1", CandidateVersion: "1.1-1", Origin: "Debian:12.5/stable"}
}

// browser is an HTTP client with cookies that does not follow redirects,
// so tests see them.
type browser struct {
	t   testing.TB
	f   *fixture
	c   *http.Client
	jar http.CookieJar
}

func (f *fixture) browser(t testing.TB) *browser {
	jar, _ := cookiejar.New(nil)
	c := f.srv.Client()
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &browser{t: t, f: f, c: c, jar: jar}
}

type response struct {
	status int
	body   string
	header http.Header
}

func (b *browser) get(path string) response {
	b.t.Helper()
	resp, err := b.c.Get(b.f.srv.URL + path)
	if err != nil {
		b.t.Fatal(err)
	}
	return read(b.t, resp)
}

func (b *browser) post(path string, form url.Values) response {
	b.t.Helper()
	resp, err := b.c.PostForm(b.f.srv.URL+path, form)
	if err != nil {
		b.t.Fatal(err)
	}
	return read(b.t, resp)
}

func read(t testing.TB, resp *http.Response) response {
	t.Helper()
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, body: string(body), header: resp.Header}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf returns the CSRF token of the first form in a page.
func csrf(t testing.TB, page string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF field in page:\n%s", page)
	}
	return m[1]
}

// signIn signs in as admin and returns the dashboard's CSRF token.
func (b *browser) signIn() string {
	b.t.Helper()
	login := b.get("/login")
	r := b.post("/login", url.Values{"csrf": {csrf(b.t, login.body)}, "username": {"admin"}, "password": {b.f.password}, "next": {"/"}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/" {
		b.t.Fatalf("sign in: status %d, location %q, body:\n%s", r.status, r.header.Get("Location"), r.body)
	}
	dash := b.get("/")
	if dash.status != 200 {
		b.t.Fatalf("dashboard after sign-in: %d", dash.status)
	}
	return csrf(b.t, dash.body)
}

var hostnameCell = regexp.MustCompile(`<td class="name"><a href="/hosts/\d+">([^<]*)</a>`)

// listed returns the hostnames of a host list page, in order.
func listed(page string) []string {
	names := []string{}
	for _, m := range hostnameCell.FindAllStringSubmatch(page, -1) {
		names = append(names, html.UnescapeString(m[1]))
	}
	return names
}

func mustContain(t testing.TB, page string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(page, w) {
			t.Errorf("page lacks %q", w)
		}
	}
}
