package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/api"
	"github.com/patchbay/patchbay/internal/service"
	"github.com/patchbay/patchbay/internal/sqlite"
)

const caHash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

type fixture struct {
	srv   *httptest.Server
	svc   *service.Service
	admin string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db.sqlite"), logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	svc := service.New(db, service.Options{Logger: logger, CAHash: caHash})
	admin, err := svc.CreateAdminToken(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.New(svc, logger).Handler())
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, svc: svc, admin: admin}
}

func (f *fixture) do(t *testing.T, method, path, token string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// enrolHost enrols a host through the API and returns its credential.
func (f *fixture) enrolHost(t *testing.T, machineID, hostname string) string {
	t.Helper()
	ctx := context.Background()
	p, err := f.svc.Authenticate(ctx, f.admin)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := f.svc.CreateEnrollToken(patchbay.NewContext(ctx, p), service.NewEnrollToken{})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(patchbay.EnrollRequest{Token: tok, MachineID: machineID, Hostname: hostname, IntervalSeconds: 60})
	code, out := f.do(t, "POST", "/api/v1/enroll", "", body)
	if code != 200 {
		t.Fatalf("enrol: %d %s", code, out)
	}
	var r patchbay.EnrollResponse
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	return r.Credential
}

var pathParam = regexp.MustCompile(`\{[^}]+\}`)

// TestEveryRouteNeedsAuth walks the route table: only the allow-listed
// routes answer without a credential; every other one refuses a missing,
// a malformed and a wrong credential with 401.
func TestEveryRouteNeedsAuth(t *testing.T) {
	f := newFixture(t)
	a := api.New(f.svc, slog.New(slog.DiscardHandler))
	public := []string{"GET /api/v1/health", "POST /api/v1/enroll"}
	var gotPublic []string
	for _, rt := range a.Routes() {
		key := rt.Method + " " + rt.Pattern
		if rt.Public {
			gotPublic = append(gotPublic, key)
			continue
		}
		path := pathParam.ReplaceAllString(rt.Pattern, "1")
		for _, tok := range []string{"", "garbage", "pba_wrongwrongwrong", "pbh_wrongwrongwrong"} {
			code, body := f.do(t, rt.Method, path, tok, []byte("{}"))
			if code != http.StatusUnauthorized {
				t.Errorf("%s with token %q: status %d, want 401 (body %s)", key, tok, code, body)
			}
		}
	}
	if !slices.Equal(gotPublic, public) {
		t.Fatalf("public routes = %v, want exactly %v", gotPublic, public)
	}
	// An unknown path is 404 even without a credential, and says so.
	if code, body := f.do(t, "GET", "/api/v1/nope", "", nil); code != 404 || !strings.Contains(body, "no such endpoint") {
		t.Fatalf("unknown path: %d %s", code, body)
	}
}

// TestHostsCannotReadOtherHosts: a host credential reads only its own data
// and cannot use user routes.
func TestHostsCannotReadOtherHosts(t *testing.T) {
	f := newFixture(t)
	credA := f.enrolHost(t, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "host-a")
	f.enrolHost(t, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "host-b")
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/api/v1/hosts/host-a", 200},
		{"GET", "/api/v1/hosts/self", 200},
		{"GET", "/api/v1/hosts/host-a/packages", 200},
		{"GET", "/api/v1/hosts/host-b", 403},
		{"GET", "/api/v1/hosts/host-b/packages", 403},
		{"GET", "/api/v1/hosts/host-b/history", 403},
		{"GET", "/api/v1/hosts/host-a/findings", 200},
		{"GET", "/api/v1/hosts/host-b/findings", 403},
		{"GET", "/api/v1/vulns", 403},
		{"GET", "/api/v1/advisories", 403},
		{"GET", "/api/v1/hosts", 403},
		{"PATCH", "/api/v1/hosts/host-a", 403},
		{"GET", "/api/v1/tokens", 403},
		{"POST", "/api/v1/tokens", 403},
	} {
		var body []byte
		if tc.method != "GET" {
			body = []byte(`{"set":{"owner":"x"}}`)
			if strings.HasSuffix(tc.path, "tokens") {
				body = []byte(`{}`)
			}
		}
		if code, out := f.do(t, tc.method, tc.path, credA, body); code != tc.want {
			t.Errorf("%s %s as host-a: %d, want %d (%s)", tc.method, tc.path, code, tc.want, out)
		}
	}
	// Users may not post inventories.
	if code, _ := f.do(t, "POST", "/api/v1/agent/heartbeat", f.admin, []byte(`{"schema_version":1}`)); code != 403 {
		t.Errorf("heartbeat as user: %d, want 403", code)
	}
}

func validInventory(machineID string) patchbay.Inventory {
	return patchbay.Inventory{
		SchemaVersion: 1, MachineID: machineID, Hostname: "host-a", PackageManager: "apt",
		OS:       patchbay.OS{ID: "debian", VersionID: "12"},
		Packages: []patchbay.Package{{Name: "bash", Arch: "amd64", Version: "5.2.15-2+b7", SourceName: "bash", SourceVersion: "5.2.15-2"}},
	}
}

// TestInventoryBadBodies: malformed bodies get 400 with a message that says
// what is wrong, oversized ones 413, and nothing stored is lost.
func TestInventoryBadBodies(t *testing.T) {
	f := newFixture(t)
	mid := "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	cred := f.enrolHost(t, mid, "host-a")
	good, _ := json.Marshal(validInventory(mid))
	if code, out := f.do(t, "PUT", "/api/v1/agent/inventory", cred, good); code != 204 {
		t.Fatalf("good inventory: %d %s", code, out)
	}
	wrongMachine, _ := json.Marshal(validInventory("cccccccccccccccccccccccccccccccc"))
	badVersion := bytes.Replace(good, []byte(`"schema_version": 1`), []byte(`"schema_version": 9`), 1)
	badVersion = bytes.Replace(badVersion, []byte(`"schema_version":1`), []byte(`"schema_version":9`), 1)
	big := append([]byte(`{"schema_version":1,"hostname":"`), bytes.Repeat([]byte("x"), 33<<20)...)
	big = append(big, []byte(`"}`)...)
	for _, tc := range []struct {
		name string
		body []byte
		code int
		msg  string
	}{
		{"truncated", good[:len(good)/2], 400, "JSON ends too early"},
		{"not json", []byte("hello"), 400, "malformed JSON"},
		{"empty", []byte(""), 400, "empty"},
		{"wrong type", []byte(`{"schema_version":"one"}`), 400, "want int, got JSON string"},
		{"unknown field", []byte(`{"schema_version":1,"bogus":true}`), 400, "unknown field"},
		{"unsupported version", badVersion, 400, "schema_version 9"},
		{"package without version", []byte(`{"schema_version":1,"machine_id":"` + mid + `","hostname":"h","packages":[{"name":"x"}]}`), 400, "packages[0]"},
		{"other machine", wrongMachine, 403, "belongs to machine"},
		{"too large", big, 413, "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := f.do(t, "PUT", "/api/v1/agent/inventory", cred, tc.body)
			if code != tc.code || !strings.Contains(out, tc.msg) {
				t.Fatalf("status %d body %s; want %d containing %q", code, out, tc.code, tc.msg)
			}
		})
	}
	code, out := f.do(t, "GET", "/api/v1/hosts/host-a/packages", f.admin, nil)
	if code != 200 || !strings.Contains(out, `"5.2.15-2+b7"`) {
		t.Fatalf("stored packages after bad bodies: %d %s", code, out)
	}
}

// TestOpenAPIMatchesRoutes: the OpenAPI document describes exactly the
// routes the server serves, and docs/openapi.json is the same document.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	f := newFixture(t)
	code, body := f.do(t, "GET", "/api/v1/openapi.json", f.admin, nil)
	if code != 200 {
		t.Fatalf("openapi.json: %d", code)
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	var documented, served []string
	for p, ops := range doc.Paths {
		for m := range ops {
			documented = append(documented, strings.ToUpper(m)+" "+p)
		}
	}
	for _, rt := range api.New(f.svc, slog.New(slog.DiscardHandler)).Routes() {
		served = append(served, rt.Method+" "+rt.Pattern)
	}
	slices.Sort(documented)
	slices.Sort(served)
	if !slices.Equal(documented, served) {
		t.Fatalf("OpenAPI paths differ from routes:\ndocumented %v\nserved     %v", documented, served)
	}
	docs, err := os.ReadFile("../../docs/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if string(docs) != body {
		t.Fatal("docs/openapi.json differs from the served document: copy internal/api/openapi.json to docs/")
	}
}

func TestParseSince(t *testing.T) {
	for in, want := range map[string]time.Duration{"7d": 7 * 24 * time.Hour, "36h": 36 * time.Hour, "90m": 90 * time.Minute} {
		if got, err := api.ParseSince(in); err != nil || got != want {
			t.Errorf("ParseSince(%q) = %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "x", "-1d", "7days", "-5m"} {
		if _, err := api.ParseSince(bad); err == nil {
			t.Errorf("ParseSince(%q) accepted", bad)
		}
	}
}
