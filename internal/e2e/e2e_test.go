// Package e2e runs the real patchbay binary end to end: a server on a
// random loopback port and real agent processes against it.
package e2e

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/e2e/e2etest"
	"github.com/patchbay/patchbay/internal/pki"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "patchbay-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if binary, err = e2etest.Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is a `patchbay server` process with helpers for these tests.
type server struct{ *e2etest.Server }

func startServer(t testing.TB) *server { return &server{e2etest.StartServer(t, binary)} }

func run(t testing.TB, args ...string) (stdout, stderr []byte, code int) {
	t.Helper()
	return e2etest.Run(t, binary, args...)
}

func decode[T any](t testing.TB, data []byte) T {
	t.Helper()
	return e2etest.Decode[T](t, data)
}

// fakeRoot is a root filesystem that is not running: the agent inventories
// it with --root, so the test can change its packages at will.
type fakeRoot struct {
	dir    string
	status []string // dpkg status paragraphs
}

func newFakeRoot(t *testing.T, machineID, hostname string) *fakeRoot {
	t.Helper()
	r := &fakeRoot{dir: t.TempDir()}
	files := map[string]string{
		"etc/os-release": `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
`,
		"etc/machine-id":           machineID + "\n",
		"etc/hostname":             hostname + "\n",
		"etc/apt/sources.list":     "",
		"var/lib/dpkg/arch":        "",
		"var/lib/apt/lists/.keep":  "",
		"var/cache/apt/.keep":      "",
		"etc/apt/apt.conf.d/.keep": "",
	}
	for name, content := range files {
		p := filepath.Join(r.dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r.set(t, map[string]string{"base-files": "12.4+deb12u7", "bash": "5.2.15-2+b7", "openssl": "3.0.15-1~deb12u1", "libssl3": "3.0.15-1~deb12u1"})
	return r
}

// set writes a dpkg status file with exactly these packages (name -> version).
func (r *fakeRoot) set(t *testing.T, pkgs map[string]string) {
	t.Helper()
	var b strings.Builder
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range pkgs {
			if !yield(k) {
				return
			}
		}
	}) {
		src := ""
		if name == "libssl3" {
			src = "Source: openssl\n"
		}
		fmt.Fprintf(&b, "Package: %s\nStatus: install ok installed\nPriority: optional\nArchitecture: amd64\n%sVersion: %s\nDescription: test package\n\n", name, src, pkgs[name])
	}
	if err := os.WriteFile(filepath.Join(r.dir, "var/lib/dpkg/status"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (s *server) agentOnce(t *testing.T, root, stateDir, token string) ([]byte, int) {
	t.Helper()
	args := []string{"agent", "--once", "--image=false", "--server", s.URL, "--root", root, "--state-dir", stateDir, "--log-level", "debug"}
	if token != "" {
		args = append(args, "--token", token)
	}
	_, errOut, code := run(t, args...)
	return errOut, code
}

func TestEnrolInventoryHistory(t *testing.T) {
	s := startServer(t)
	tok := decode[patchbay.CreateTokenResponse](t, s.CLI(t, "tokens", "create", "--uses", "2", "--label", "env=prod", "--label", "rack=b4", "-o", "json"))
	if !strings.HasPrefix(tok.Token, "pbe1.") {
		t.Fatalf("token %q", tok.Token)
	}

	const mid = "0123456789abcdef0123456789abcdef"
	root := newFakeRoot(t, mid, "e2e-host")
	state1 := filepath.Join(t.TempDir(), "state")
	if out, code := s.agentOnce(t, root.dir, state1, tok.Token); code != 0 {
		t.Fatalf("agent enrol: exit %d\n%s", code, out)
	}
	if fi, err := os.Stat(filepath.Join(state1, "state.json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v %v", fi, err)
	}

	raw := s.CLI(t, "hosts", "list", "-o", "json")
	hosts := decode[[]patchbay.Host](t, raw)
	if len(hosts) != 1 {
		t.Fatalf("hosts: %+v", hosts)
	}
	h := hosts[0]
	// The JSON contract of `hosts list` (scripts rely on these names).
	fields := decode[[]map[string]any](t, raw)[0]
	for _, k := range []string{"id", "hostname", "machine_id", "os_id", "os_version_id", "kernel", "arch", "packages_count", "updates_count", "security_updates_count", "reboot_required", "last_seen", "status", "labels"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("hosts list -o json: no field %q", k)
		}
	}
	if fields["os_id"] != "debian" || fields["os_version_id"] != "12" {
		t.Errorf("os_id/os_version_id = %v/%v", fields["os_id"], fields["os_version_id"])
	}
	if h.MachineID != mid || h.Hostname != "e2e-host" || h.OS.ID != "debian" || h.OS.VersionID != "12" || h.PackagesCount != 4 || h.Assets.Environment != "prod" || h.Labels["rack"] != "b4" {
		t.Fatalf("host after enrolment: %+v", h)
	}
	pkgs := decode[[]patchbay.Package](t, s.CLI(t, "hosts", "packages", "e2e-host", "-o", "json"))
	var libssl patchbay.Package
	for _, p := range pkgs {
		if p.Name == "libssl3" {
			libssl = p
		}
	}
	if libssl.SourceName != "openssl" || libssl.SourceVersion != "3.0.15-1~deb12u1" {
		t.Fatalf("libssl3's source: %+v", libssl)
	}

	// A package change (openssl upgraded, curl installed, bash removed)
	// shows up in the history after the next check-in.
	root.set(t, map[string]string{"base-files": "12.4+deb12u7", "openssl": "3.0.17-1~deb12u2", "libssl3": "3.0.17-1~deb12u2", "curl": "7.88.1-10+deb12u12"})
	if out, code := s.agentOnce(t, root.dir, state1, ""); code != 0 {
		t.Fatalf("agent second run: exit %d\n%s", code, out)
	}
	last := decode[[]patchbay.Event](t, s.CLI(t, "hosts", "history", mid, "--package", "openssl", "--limit", "1", "-o", "json"))
	if len(last) != 1 || last[0].Kind != patchbay.EventPackageUpgraded || last[0].OldVersion != "3.0.15-1~deb12u1" || last[0].NewVersion != "3.0.17-1~deb12u2" || last[0].Cause != "observed" {
		t.Fatalf("last openssl change: %+v", last)
	}
	all := decode[[]patchbay.Event](t, s.CLI(t, "hosts", "history", "e2e-host", "--since", "1h", "-o", "json"))
	kinds := map[string]patchbay.EventKind{}
	for _, e := range all {
		if e.Package != "" {
			kinds[e.Package] = e.Kind
		}
	}
	want := map[string]patchbay.EventKind{"openssl": "package_upgraded", "libssl3": "package_upgraded", "curl": "package_installed", "bash": "package_removed"}
	for p, k := range want {
		if kinds[p] != k {
			t.Errorf("history of %s: %q, want %q (all: %+v)", p, kinds[p], k, all)
		}
	}

	// The same machine enrolling again (state lost, same machine-id) keeps
	// one host, and the old credential stops working.
	state2 := filepath.Join(t.TempDir(), "state")
	if out, code := s.agentOnce(t, root.dir, state2, tok.Token); code != 0 {
		t.Fatalf("re-enrol: exit %d\n%s", code, out)
	}
	if hosts := decode[[]patchbay.Host](t, s.CLI(t, "hosts", "list", "-o", "json")); len(hosts) != 1 || hosts[0].ID != h.ID {
		t.Fatalf("after re-enrolment: %+v", hosts)
	}
	if out, code := s.agentOnce(t, root.dir, state1, ""); code == 0 || !bytes.Contains(out, []byte("credentials")) {
		t.Fatalf("old credential still accepted: exit %d\n%s", code, out)
	}
	// The token had 2 uses: a third enrolment is refused with a reason.
	other := newFakeRoot(t, "fedcba9876543210fedcba9876543210", "other")
	if out, code := s.agentOnce(t, other.dir, filepath.Join(t.TempDir(), "s"), tok.Token); code == 0 || !bytes.Contains(out, []byte("used 2 of 2")) {
		t.Fatalf("used-up token: exit %d\n%s", code, out)
	}
}

func TestUnauthenticatedRefused(t *testing.T) {
	s := startServer(t)
	tlsCfg, err := pki.PoolConfig(s.CAPEM)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}, Timeout: 5 * time.Second}
	for _, p := range []string{"/api/v1/hosts", "/api/v1/tokens", "/api/v1/openapi.json", "/api/v1/hosts/1/history"} {
		resp, err := c.Get(s.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Errorf("GET %s without credentials: %d, want 401", p, resp.StatusCode)
		}
	}
	// The CLI without a token says what is wrong and exits 1.
	cfg := filepath.Join(t.TempDir(), "c.json")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`{"server":%q,"ca_pem":%q}`, s.URL, s.CAPEM)), 0o600)
	_, errOut, code := run(t, "--config", cfg, "hosts", "list")
	if code != 1 || !bytes.Contains(errOut, []byte("authentication required")) {
		t.Fatalf("hosts list without token: exit %d, %s", code, errOut)
	}
	// A wrong pin is refused before anything is sent.
	bad := strings.Repeat("0", 64)
	tok := decode[patchbay.CreateTokenResponse](t, s.CLI(t, "tokens", "create", "-o", "json")).Token
	forged := tok[:len(tok)-64] + bad
	root := newFakeRoot(t, "0123456789abcdef0123456789abcdef", "pin")
	if out, code := s.agentOnce(t, root.dir, t.TempDir(), forged); code == 0 || !bytes.Contains(out, []byte("does not match")) {
		t.Fatalf("agent with wrong CA pin: exit %d\n%s", code, out)
	}
	_ = tls.VersionTLS12
}

// TestThisMachine runs the agent against this machine's real dpkg and apt
// and checks that the server holds exactly what dpkg-query lists.
func TestThisMachine(t *testing.T) {
	if _, err := os.Stat("/var/lib/dpkg/status"); err != nil {
		if os.Getenv("PATCHBAY_CI") == "1" {
			t.Fatal("no dpkg on this machine, and PATCHBAY_CI=1 forbids skipping")
		}
		t.Skip("SKIPPED: no dpkg on this machine")
	}
	s := startServer(t)
	tok := decode[patchbay.CreateTokenResponse](t, s.CLI(t, "tokens", "create", "-o", "json")).Token
	_, errOut, code := run(t, "agent", "--once", "--server", s.URL, "--token", tok, "--state-dir", t.TempDir())
	if code != 0 {
		t.Fatalf("agent on this machine: exit %d\n%s", code, errOut)
	}
	hosts := decode[[]patchbay.Host](t, s.CLI(t, "hosts", "list", "-o", "json"))
	if len(hosts) != 1 {
		t.Fatalf("hosts: %+v", hosts)
	}
	got := decode[[]patchbay.Package](t, s.CLI(t, "hosts", "packages", fmt.Sprint(hosts[0].ID), "-o", "json"))
	out, err := exec.Command("dpkg-query", "-W", "-f", "${db:Status-Abbrev} ${Package} ${Version} ${Architecture}\n").Output()
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		// "ii " installed; skip config-files only ("rc") and not-installed.
		if len(f) == 4 && f[0] != "rc" && f[0] != "un" && f[0] != "pn" {
			want = append(want, f[1]+" "+f[2]+" "+f[3])
		}
	}
	var have []string
	for _, p := range got {
		have = append(have, p.Name+" "+p.Version+" "+p.Arch)
	}
	slices.Sort(want)
	slices.Sort(have)
	if !slices.Equal(want, have) {
		t.Fatalf("server's packages differ from dpkg-query: %d vs %d entries", len(have), len(want))
	}
	t.Logf("this machine: %d packages, %d updates (%d security), reboot required %v", hosts[0].PackagesCount, hosts[0].UpdatesCount, hosts[0].SecurityUpdatesCount, hosts[0].RebootRequired)
}

// TestExitCodes: 0 ok, 1 error, 2 usage; --help everywhere.
func TestExitCodes(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "none.json")
	badChecks := filepath.Join(t.TempDir(), "checks.json")
	if err := os.WriteFile(badChecks, []byte(`{"checks": [{"name": "disk", "type": "nagios", "comand": ["/bin/true"]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--help"}, 0, "patchbay up"},
		{[]string{"hosts", "list", "--help"}, 0, "--security-updates"},
		{[]string{"agent", "--help"}, 0, "--state-dir"},
		{[]string{"version", "-o", "json"}, 0, `"version"`},
		{[]string{"completion", "bash"}, 0, "bash completion"},
		{[]string{"hosts", "list", "--bogus"}, 2, "unknown flag"},
		{[]string{"nosuchcommand"}, 2, "unknown command"},
		{[]string{"hosts", "show"}, 2, "accepts 1 arg"},
		{[]string{"hosts", "list", "-o", "yaml"}, 2, "want table or json"},
		{[]string{"hosts", "set", "h", "novalue"}, 2, "want key=value"},
		{[]string{"--config", cfg, "hosts", "list"}, 2, "no server configured"},
		{[]string{"agent", "--server", "https://127.0.0.1:1", "--state-dir", filepath.Join(t.TempDir(), "st"), "--checks-file", cfg}, 1, "read checks file"},
		{[]string{"agent", "--server", "https://127.0.0.1:1", "--state-dir", filepath.Join(t.TempDir(), "st"), "--checks-file", badChecks}, 1, `unknown field "comand"`},
		{[]string{"--config", cfg, "--server", "https://127.0.0.1:1", "--token", "pba_x", "hosts", "list"}, 1, "connection refused"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, errOut, code := run(t, tc.args...)
			if code != tc.code || !bytes.Contains(append(out, errOut...), []byte(tc.want)) {
				t.Fatalf("exit %d, want %d; output does not contain %q:\n%s%s", code, tc.code, tc.want, out, errOut)
			}
		})
	}
}
