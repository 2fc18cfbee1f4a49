package check

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/pkgmgr/osexec"
)

func nagios(name string, argv ...string) Spec {
	return Spec{Name: name, Type: TypeNagios, Command: argv, Timeout: Duration(5 * time.Second)}
}

func TestNagios(t *testing.T) {
	tests := []struct {
		name        string
		script      string
		wantState   patchbay.CheckState
		wantMessage string
	}{
		{"ok", "echo 'DISK OK - free space: / 3326 MB (56%);| /=2643MB;5948;5958;0;5968'; echo 'second line'", patchbay.CheckOK, "DISK OK - free space: / 3326 MB (56%);"},
		{"warning", "echo WARN; exit 1", patchbay.CheckWarning, "WARN"},
		{"critical", "echo CRIT; exit 2", patchbay.CheckCritical, "CRIT"},
		{"unknown", "echo 'UNKNOWN - no such mount'; exit 3", patchbay.CheckUnknown, "UNKNOWN - no such mount"},
		{"other exit code", "echo weird; exit 42", patchbay.CheckUnknown, "weird"},
		{"no output", "exit 7", patchbay.CheckUnknown, "exit 7"},
		{"message on stderr", "echo 'CRITICAL: broken' >&2; exit 2", patchbay.CheckCritical, "CRITICAL: broken"},
		{"killed by a signal", "kill -9 $$", patchbay.CheckUnknown, "exit 137"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := New(Config{Checks: []Spec{nagios("c", "sh", "-c", tt.script)}}, osexec.Runner{}, nil)
			r, err := set.Run(context.Background(), "c")
			if err != nil {
				t.Fatal(err)
			}
			if r.State != tt.wantState || r.Message != tt.wantMessage || r.Name != "c" {
				t.Errorf("got %s %q, want %s %q", r.State, r.Message, tt.wantState, tt.wantMessage)
			}
		})
	}
}

func TestNagiosTimeoutAndMissingCommand(t *testing.T) {
	set := New(Config{Checks: []Spec{
		{Name: "slow", Type: TypeNagios, Command: []string{"sleep", "30"}, Timeout: Duration(200 * time.Millisecond)},
		nagios("missing", "/nonexistent/check_nothing"),
	}}, osexec.Runner{}, nil)
	start := time.Now()
	r, err := set.Run(context.Background(), "slow")
	if err != nil {
		t.Fatal(err)
	}
	if r.State != patchbay.CheckUnknown || !strings.Contains(r.Message, "timed out") {
		t.Errorf("slow: %s %q", r.State, r.Message)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("timeout of 200ms took %s", d)
	}
	r, err = set.Run(context.Background(), "missing")
	if err != nil {
		t.Fatal(err)
	}
	if r.State != patchbay.CheckUnknown || !strings.Contains(r.Message, "check_nothing") {
		t.Errorf("missing: %s %q", r.State, r.Message)
	}
}

func TestNotRegistered(t *testing.T) {
	set := New(Config{}, osexec.Runner{}, nil)
	if _, err := set.Run(context.Background(), "rm -rf /"); patchbay.ErrorCode(err) != patchbay.ENOTFOUND {
		t.Errorf("err = %v", err)
	}
	var nilSet *Set
	if nilSet.Has("x") {
		t.Error("a nil set has a check")
	}
}

func TestHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/health":
			w.Write([]byte(`{"status":"ok"}`))
		case "/down":
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("maintenance"))
		case "/moved":
			http.Redirect(w, r, "/health", http.StatusFound)
		case "/slow":
			time.Sleep(2 * time.Second)
		}
	}))
	defer srv.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	tests := []struct {
		spec        Spec
		wantState   patchbay.CheckState
		wantMessage string
	}{
		{Spec{URL: srv.URL + "/health"}, patchbay.CheckOK, "HTTP 200"},
		{Spec{URL: srv.URL + "/health", BodyContains: `"ok"`}, patchbay.CheckOK, "HTTP 200"},
		{Spec{URL: srv.URL + "/health", BodyContains: "healthy"}, patchbay.CheckCritical, `HTTP 200, body does not contain "healthy"`},
		{Spec{URL: srv.URL + "/down"}, patchbay.CheckCritical, "HTTP 503, want 200"},
		{Spec{URL: srv.URL + "/down", ExpectStatus: 503, BodyContains: "maint"}, patchbay.CheckOK, "HTTP 503"},
		{Spec{URL: srv.URL + "/moved"}, patchbay.CheckCritical, "HTTP 302, want 200"},
		{Spec{URL: srv.URL + "/moved", ExpectStatus: 302}, patchbay.CheckOK, "HTTP 302"},
		{Spec{URL: srv.URL + "/slow", Timeout: Duration(100 * time.Millisecond)}, patchbay.CheckCritical, "context deadline exceeded"},
		{Spec{URL: closedURL}, patchbay.CheckCritical, "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.spec.URL, func(t *testing.T) {
			tt.spec.Name, tt.spec.Type = "web", TypeHTTP
			if err := tt.spec.Validate(); err != nil {
				t.Fatal(err)
			}
			r, err := New(Config{Checks: []Spec{tt.spec}}, osexec.Runner{}, nil).Run(context.Background(), "web")
			if err != nil {
				t.Fatal(err)
			}
			if r.State != tt.wantState || !strings.Contains(r.Message, tt.wantMessage) {
				t.Errorf("got %s %q, want %s %q", r.State, r.Message, tt.wantState, tt.wantMessage)
			}
		})
	}
}

func TestParse(t *testing.T) {
	good := `{"checks": [
	  {"name": "disk", "type": "nagios", "command": ["/usr/lib/nagios/plugins/check_disk", "-w", "20%"], "timeout": "45s"},
	  {"name": "app.health", "type": "http", "url": "https://127.0.0.1:8443/health", "expect_status": 204, "body_contains": "ok"}
	]}`
	cfg, err := Parse([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Checks) != 2 || time.Duration(cfg.Checks[0].Timeout) != 45*time.Second || cfg.Checks[1].timeout() != DefaultTimeout {
		t.Errorf("parsed %+v", cfg)
	}
	bad := []struct{ name, json, wantErr string }{
		{"unknown field", `{"checks":[{"name":"a","type":"nagios","command":["x"],"shell":"rm"}]}`, `unknown field "shell"`},
		{"no type", `{"checks":[{"name":"a","command":["x"]}]}`, "a: type missing"},
		{"bad type", `{"checks":[{"name":"a","type":"script","command":["x"]}]}`, `a: unknown type "script"`},
		{"bad name", `{"checks":[{"name":"A b","type":"nagios","command":["x"]}]}`, `check 1: invalid name "A b"`},
		{"duplicate", `{"checks":[{"name":"a","type":"nagios","command":["x"]},{"name":"a","type":"nagios","command":["y"]}]}`, `check 2: name "a" used twice`},
		{"no command", `{"checks":[{"name":"a","type":"nagios"}]}`, "a: a nagios check needs a command"},
		{"empty argv0", `{"checks":[{"name":"a","type":"nagios","command":[""]}]}`, "a: a nagios check needs a command"},
		{"url on nagios", `{"checks":[{"name":"a","type":"nagios","command":["x"],"url":"http://x"}]}`, "belong to http checks"},
		{"no url", `{"checks":[{"name":"a","type":"http"}]}`, `a: url "" is not`},
		{"file url", `{"checks":[{"name":"a","type":"http","url":"file:///etc/passwd"}]}`, "is not an http:// or https:// URL"},
		{"bad status", `{"checks":[{"name":"a","type":"http","url":"http://x/","expect_status":999}]}`, "expect_status 999"},
		{"command on http", `{"checks":[{"name":"a","type":"http","url":"http://x/","command":["x"]}]}`, "command belongs to nagios checks"},
		{"timeout number", `{"checks":[{"name":"a","type":"nagios","command":["x"],"timeout":30}]}`, `a duration is a string such as "30s"`},
		{"timeout too long", `{"checks":[{"name":"a","type":"nagios","command":["x"],"timeout":"1h"}]}`, "timeout 1h0m0s out of range"},
		{"negative timeout", `{"checks":[{"name":"a","type":"nagios","command":["x"],"timeout":"-1s"}]}`, "out of range"},
		{"trailing data", `{"checks":[]} {}`, "data after the JSON object"},
		{"stray bracket", `{"checks":[]} ]`, "data after the JSON object"},
		{"stray brace", `{"checks":[]}}`, "data after the JSON object"},
		{"not json", `checks: []`, "parse:"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.json))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	cfg, err := Load("")
	if err != nil || len(cfg.Checks) != 0 {
		t.Errorf("Load(\"\") = %+v, %v", cfg, err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("a missing explicit file loaded")
	}
	path := filepath.Join(t.TempDir(), "checks.json")
	if err := os.WriteFile(path, []byte(`{"checks":[{"name":"a","type":"bogus"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("err = %v, want the path in it", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"checks":[{"name":"a","type":"nagios","command":["x"]}]}`))
	f.Add([]byte(`{"checks":[{"name":"b","type":"http","url":"http://x/"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data)
		if err != nil {
			return
		}
		// Whatever parses is valid and runnable: names unique and well
		// formed, each check of exactly one kind.
		if err := cfg.Validate(); err != nil {
			t.Fatalf("parsed config does not validate: %v", err)
		}
		for _, s := range cfg.Checks {
			if s.Type == TypeNagios && (len(s.Command) == 0 || s.URL != "") || s.Type == TypeHTTP && (s.URL == "" || len(s.Command) > 0) {
				t.Fatalf("check %+v mixes kinds", s)
			}
		}
	})
}
