package deb

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/pkgmgr"
	"github.com/patchbay/patchbay/internal/pkgmgr/osexec"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// checkGolden compares got, as indented JSON, with the golden file path,
// or rewrites the file with -update.
func checkGolden(t *testing.T, path string, got any) {
	t.Helper()
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	if *update {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), string(b)); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", path, diff)
	}
}

// replayRunner answers the commands of Updates with the outputs captured
// in a testdata case directory, and records what it was asked.
type replayRunner struct {
	t   *testing.T
	dir string

	mu    sync.Mutex
	calls []pkgmgr.Cmd
}

func (r *replayRunner) Run(ctx context.Context, c pkgmgr.Cmd) (pkgmgr.Result, error) {
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
	var name string
	last := c.Args[len(c.Args)-1]
	switch {
	case c.Path == "apt-get" && last == "dist-upgrade":
		name = "dist-upgrade"
	case c.Path == "apt-cache" && last == "policy":
		name = "policy-files"
	case c.Path == "apt-cache" && slices.Contains(c.Args, "policy"):
		name = "policy-packages"
	default:
		r.t.Errorf("unexpected command %s %q", c.Path, c.Args)
		return pkgmgr.Result{ExitCode: -1}, fmt.Errorf("replay: no capture for %s", c.Path)
	}
	var res pkgmgr.Result
	var err error
	if res.Stdout, err = os.ReadFile(filepath.Join(r.dir, name+".stdout")); err != nil {
		r.t.Fatal(err)
	}
	res.Stderr, _ = os.ReadFile(filepath.Join(r.dir, name+".stderr"))
	if code, err := os.ReadFile(filepath.Join(r.dir, name+".exitcode")); err == nil {
		res.ExitCode, _ = strconv.Atoi(strings.TrimSpace(string(code)))
	}
	return res, nil
}

// rootWithStatus makes a root filesystem in a temp dir holding the dpkg
// status file statusPath, and returns it.
func rootWithStatus(t *testing.T, statusPath string) string {
	t.Helper()
	root := t.TempDir()
	data, err := os.ReadFile(statusPath)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "var/lib/dpkg/status"), string(data))
	return root
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// listed is one line of `apt list --upgradable`.
type listed struct {
	Name, Arch, Candidate, Installed string
	Security                         bool
}

// parseAptList reads `apt list --upgradable`:
//
//	libcups2/oldstable,oldstable-security 2.4.2-3+deb12u9 amd64 [upgradable from: 2.4.2-3+deb12u8]
//
// Security is true when one of the suites ends in "-security".
func parseAptList(t *testing.T, out []byte) []listed {
	t.Helper()
	var l []listed
	for _, line := range strings.Split(string(out), "\n") {
		if line == "" || line == "Listing..." || strings.HasPrefix(line, "WARNING:") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 6 || f[3] != "[upgradable" || f[4] != "from:" {
			t.Fatalf("apt list line %q", line)
		}
		name, suites, ok := strings.Cut(f[0], "/")
		if !ok {
			t.Fatalf("apt list line %q", line)
		}
		e := listed{Name: name, Candidate: f[1], Arch: f[2], Installed: strings.TrimSuffix(f[5], "]")}
		for _, s := range strings.Split(suites, ",") {
			e.Security = e.Security || strings.HasSuffix(s, "-security")
		}
		l = append(l, e)
	}
	return l
}

// asListed turns updates into what apt list shows of them.
func asListed(ups []patchbay.Update) []listed {
	l := make([]listed, 0, len(ups))
	for _, u := range ups {
		l = append(l, listed{Name: u.Name, Arch: u.Arch, Candidate: u.CandidateVersion, Installed: u.InstalledVersion, Security: u.Security})
	}
	return l
}

// run executes a command for a test with the real runner.
func run(t *testing.T, path string, args ...string) pkgmgr.Result {
	t.Helper()
	res, err := osexec.Runner{}.Run(context.Background(), pkgmgr.Cmd{Path: path, Args: args})
	if err != nil {
		t.Fatalf("%s %s: %v", path, strings.Join(args, " "), err)
	}
	if res.ExitCode != 0 {
		t.Fatalf("%s %s: exit %d: %s", path, strings.Join(args, " "), res.ExitCode, bytes.TrimSpace(res.Stderr))
	}
	return res
}

// requireTool skips t when a tool is missing, or fails it when PATCHBAY_CI
// is 1: CI must never skip silently.
func requireTool(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		found := false
		for _, dir := range filepath.SplitList(osexec.DefaultPath) {
			if _, err := os.Stat(filepath.Join(dir, tool)); err == nil {
				found = true
				break
			}
		}
		if !found {
			skipOrFail(t, "%s not found: this test needs a Debian host with dpkg and apt", tool)
		}
	}
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		skipOrFail(t, "not root: apt-get update needs root")
	}
}

func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("PATCHBAY_CI") == "1" {
		t.Fatalf("PATCHBAY_CI=1: "+format, args...)
	}
	t.Skipf("SKIPPED, proves nothing here: "+format, args...)
}
