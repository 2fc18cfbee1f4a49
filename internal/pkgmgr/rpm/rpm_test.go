package rpm

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/pkgmgr"
)

// labRunner is a fake at the process boundary: it answers each command
// line with a capture of testdata/lab (NAME.stdout, .stderr, .exit; or an
// absolute path instead of NAME), and
// fails the test on any command it was not told about.
type labRunner struct {
	t        *testing.T
	captures map[string]string // argv joined by spaces -> capture name; "" for "not installed"
	calls    []string
}

func (r *labRunner) Run(_ context.Context, c pkgmgr.Cmd) (pkgmgr.Result, error) {
	argv := strings.Join(append([]string{c.Path}, c.Args...), " ")
	r.calls = append(r.calls, argv)
	if c.Timeout <= 0 {
		r.t.Errorf("%s: no timeout", argv)
	}
	name, ok := r.captures[argv]
	if !ok {
		r.t.Errorf("unexpected command %q", argv)
		return pkgmgr.Result{ExitCode: -1}, errors.New("unexpected command")
	}
	if name == "" {
		return pkgmgr.Result{ExitCode: -1}, exec.ErrNotFound
	}
	path := name
	if !filepath.IsAbs(path) {
		path = filepath.Join("testdata", "lab", name)
	}
	read := func(ext string) []byte {
		b, err := os.ReadFile(path + ext)
		if err != nil {
			r.t.Fatal(err)
		}
		return b
	}
	code, err := strconv.Atoi(strings.TrimSpace(string(read(".exit"))))
	if err != nil {
		r.t.Fatal(err)
	}
	return pkgmgr.Result{Stdout: read(".stdout"), Stderr: read(".stderr"), ExitCode: code}, nil
}

const (
	qa          = "rpm -qa --queryformat " + queryFormat
	dnfPrefix   = "dnf --setopt=*.skip_if_unavailable=False "
	checkUpdate = dnfPrefix + "-C -q check-update"
	updateinfo  = dnfPrefix + "-C -q updateinfo list --security"
	needsRestar = dnfPrefix + "-C -q needs-restarting -r"
	makecache   = dnfPrefix + "-q makecache --refresh"
)

func newLab(t *testing.T, captures map[string]string, opts Options) (*Manager, *labRunner) {
	r := &labRunner{t: t, captures: captures}
	if opts.Tool == "" {
		opts.Tool = "dnf"
	}
	return New("/", r, opts), r
}

func TestPackages(t *testing.T) {
	m, _ := newLab(t, map[string]string{qa: "rpm-qa"}, Options{})
	got, err := m.Packages(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	pkg := func(name, arch, version string) patchbay.Package {
		return patchbay.Package{Name: name, Arch: arch, Version: version, SourceName: name, SourceVersion: version}
	}
	long := "demo-library-with-a-deliberately-very-long-package-name-for-wrapping"
	want := []patchbay.Package{
		// Sorted by Key, name:arch, as Inventory.Normalize does: "-" < ":".
		{Name: "demo-app-libs", Arch: "noarch", Version: "1.0-1.el9", SourceName: "demo-app", SourceVersion: "1.0-1.el9"},
		pkg("demo-app", "noarch", "1.0-1.el9"),
		pkg("demo-epoch", "noarch", "2:3.1-1.el9"),
		pkg(long, "noarch", "1.0-1.el9"),
		pkg("demo-native", "x86_64", "0.9-1.el9"),
		pkg("demo-old", "noarch", "1.0-1.el9"),
		pkg("demo-uptodate", "noarch", "1.0-1.el9"),
		pkg("demo-zero-epoch", "noarch", "1.0-1.el9"),
		// Two kernels are installed: the newer one stands for both.
		pkg("kernel", "x86_64", "5.14.0-427.13.1.el9_4"),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("-want +got:\n%s", diff)
	}
	inv := patchbay.Inventory{SchemaVersion: patchbay.InventorySchemaVersion, MachineID: "m", Hostname: "h", Packages: got}
	if err := inv.Validate(); err != nil {
		t.Errorf("the inventory would be refused: %v", err)
	}
}

func TestUpdates(t *testing.T) {
	long := "demo-library-with-a-deliberately-very-long-package-name-for-wrapping"
	// What capture.sh built: see the table at its top.
	want := []patchbay.Update{
		{Name: "demo-app-libs", Arch: "noarch", InstalledVersion: "1.0-1.el9", CandidateVersion: "1.0-2.el9", Origin: "lab", Security: true},
		{Name: "demo-app", Arch: "noarch", InstalledVersion: "1.0-1.el9", CandidateVersion: "1.0-2.el9", Origin: "lab", Security: true},
		{Name: "demo-epoch", Arch: "noarch", InstalledVersion: "2:3.1-1.el9", CandidateVersion: "2:3.2-1.el9", Origin: "lab"},
		{Name: long, Arch: "noarch", InstalledVersion: "1.0-1.el9", CandidateVersion: "1.0-2.el9", Origin: "lab", Security: true},
		{Name: "demo-native", Arch: "x86_64", InstalledVersion: "0.9-1.el9", CandidateVersion: "0.9-2.el9", Origin: "lab", Security: true},
		{Name: "demo-new", Arch: "noarch", CandidateVersion: "2.0-1.el9", Origin: "lab"},
		{Name: "kernel", Arch: "x86_64", InstalledVersion: "5.14.0-427.13.1.el9_4", CandidateVersion: "5.14.0-503.11.1.el9_5", Origin: "lab", Security: true},
	}
	tests := []struct {
		name     string
		captures map[string]string
		want     []patchbay.Update
		wantErr  string
	}{
		{"updates", map[string]string{qa: "rpm-qa", checkUpdate: "check-update-q", updateinfo: "updateinfo-security-q"}, want, ""},
		{"wrapped", map[string]string{qa: "rpm-qa", checkUpdate: "check-update-tty80", updateinfo: "updateinfo-security-q"}, want, ""},
		{"none", map[string]string{qa: "rpm-qa-upgraded", checkUpdate: "check-update-none"}, []patchbay.Update{}, ""},
		{"broken repository", map[string]string{qa: "rpm-qa", checkUpdate: "check-update-broken"}, nil, "Failed to download metadata for repo 'gone'"},
		// Exit code 100 with an empty list: something is wrong, not "no updates".
		{"100 but empty", map[string]string{qa: "rpm-qa", checkUpdate: "check-update-100-empty"}, nil, "listed no package"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "100 but empty" {
				dir := t.TempDir()
				// Made up: no output but exit code 100.
				writeCapture(t, dir, "check-update-100-empty", "", "", 100)
				tt.captures[checkUpdate] = filepath.Join(dir, "check-update-100-empty")
			}
			m, _ := newLab(t, tt.captures, Options{})
			got, err := m.Updates(context.Background())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("-want +got:\n%s", diff)
			}
		})
	}
}

func writeCapture(t *testing.T, dir, name, stdout, stderr string, code int) {
	t.Helper()
	for ext, s := range map[string]string{".stdout": stdout, ".stderr": stderr, ".exit": strconv.Itoa(code)} {
		if err := os.WriteFile(filepath.Join(dir, name+ext), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestMergeUpdatesSecurityWindow(t *testing.T) {
	installed := []patchbay.Package{{Name: "a", Arch: "x86_64", Version: "1.0-1"}}
	avail := []available{{NEVRA: NEVRA{Name: "a", Arch: "x86_64", Version: "1.0-3"}, Repo: "r"}}
	tests := []struct {
		name string
		advs []advisory
		want bool
	}{
		{"fix in the candidate", []advisory{{ID: "S", Type: "Sec.", NEVRA: NEVRA{Name: "a", Arch: "x86_64", Version: "1.0-3"}}}, true},
		{"fix between installed and candidate", []advisory{{ID: "S", Type: "Important/Sec.", NEVRA: NEVRA{Name: "a", Arch: "x86_64", Version: "1.0-2"}}}, true},
		{"fix already installed", []advisory{{ID: "S", Type: "Sec.", NEVRA: NEVRA{Name: "a", Arch: "x86_64", Version: "1.0-1"}}}, false},
		{"fix newer than the candidate", []advisory{{ID: "S", Type: "Sec.", NEVRA: NEVRA{Name: "a", Arch: "x86_64", Version: "1.0-4"}}}, false},
		{"other arch", []advisory{{ID: "S", Type: "Sec.", NEVRA: NEVRA{Name: "a", Arch: "i686", Version: "1.0-3"}}}, false},
		{"not security", []advisory{{ID: "B", Type: "bugfix", NEVRA: NEVRA{Name: "a", Arch: "x86_64", Version: "1.0-3"}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mergeUpdates(installed, avail, tt.advs)
			if len(got) != 1 || got[0].Security != tt.want {
				t.Errorf("got %+v, want one update with Security %v", got, tt.want)
			}
		})
	}
}

func TestRefresh(t *testing.T) {
	tests := []struct {
		name, capture string
		wantErr       bool
	}{
		{"ok", "makecache", false},
		{"broken repository", "makecache-broken", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := newLab(t, map[string]string{makecache: tt.capture}, Options{})
			err := m.Refresh(context.Background())
			if (err != nil) != tt.wantErr {
				t.Errorf("Refresh() = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestRebootRequired(t *testing.T) {
	kernel := func(release string) func(context.Context) (string, error) {
		return func(context.Context) (string, error) { return release + "\n", nil }
	}
	tests := []struct {
		name        string
		captures    map[string]string
		running     string
		want        bool
		wantReasons []string
	}{
		{"needs-restarting: reboot", map[string]string{needsRestar: "needs-restarting-r"}, "", true, []string{"kernel updated since boot"}},
		{"needs-restarting: none", map[string]string{needsRestar: "needs-restarting-r-none"}, "", false, nil},
		{"no plugin, old kernel running", map[string]string{needsRestar: "needs-restarting-r-noplugin", qa: "rpm-qa"},
			"5.14.0-362.8.1.el9_3.x86_64", true, []string{"running kernel 5.14.0-362.8.1.el9_3.x86_64, newest installed 5.14.0-427.13.1.el9_4.x86_64"}},
		{"no plugin, newest kernel running", map[string]string{needsRestar: "needs-restarting-r-noplugin", qa: "rpm-qa"},
			"5.14.0-427.13.1.el9_4.x86_64", false, nil},
		{"no plugin, debug flavour", map[string]string{needsRestar: "needs-restarting-r-noplugin", qa: "rpm-qa"},
			"5.14.0-362.8.1.el9_3.x86_64+debug", true, []string{"running kernel 5.14.0-362.8.1.el9_3.x86_64, newest installed 5.14.0-427.13.1.el9_4.x86_64"}},
		{"no plugin, foreign kernel", map[string]string{needsRestar: "needs-restarting-r-noplugin", qa: "rpm-qa"},
			"6.1.0-28-amd64", false, nil},
		{"no dnf at all", map[string]string{needsRestar: "", qa: "rpm-qa"},
			"5.14.0-362.8.1.el9_3.x86_64", true, []string{"running kernel 5.14.0-362.8.1.el9_3.x86_64, newest installed 5.14.0-427.13.1.el9_4.x86_64"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := Options{RunningKernel: kernel(tt.running)}
			if tt.running == "" {
				opts.RunningKernel = func(context.Context) (string, error) {
					t.Error("running kernel asked for although needs-restarting answered")
					return "", errors.New("not expected")
				}
			}
			m, _ := newLab(t, tt.captures, opts)
			got, reasons, err := m.RebootRequired(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("RebootRequired() = %v, want %v", got, tt.want)
			}
			if diff := cmp.Diff(tt.wantReasons, reasons); diff != "" {
				t.Errorf("reasons -want +got:\n%s", diff)
			}
		})
	}
}

func TestRebootRequiredCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := runnerFunc(func(ctx context.Context, c pkgmgr.Cmd) (pkgmgr.Result, error) {
		return pkgmgr.Result{ExitCode: -1}, ctx.Err()
	})
	m := New("/", r, Options{Tool: "dnf", RunningKernel: func(context.Context) (string, error) {
		t.Error("fell back to the kernel check after a cancellation")
		return "", nil
	}})
	if _, _, err := m.RebootRequired(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
}

type runnerFunc func(context.Context, pkgmgr.Cmd) (pkgmgr.Result, error)

func (f runnerFunc) Run(ctx context.Context, c pkgmgr.Cmd) (pkgmgr.Result, error) { return f(ctx, c) }

func TestRootAndTool(t *testing.T) {
	mkroot := func(t *testing.T, bins ...string) string {
		root := t.TempDir()
		if err := os.MkdirAll(filepath.Join(root, "usr/bin"), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, b := range bins {
			if err := os.WriteFile(filepath.Join(root, "usr/bin", b), nil, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		return root
	}
	tests := []struct {
		name string
		bins []string
		want string
	}{
		{"el9: dnf and yum", []string{"dnf", "yum"}, "dnf"},
		{"el7: yum only", []string{"yum"}, "yum"},
		{"neither", nil, "dnf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := mkroot(t, tt.bins...)
			var got []string
			r := runnerFunc(func(_ context.Context, c pkgmgr.Cmd) (pkgmgr.Result, error) {
				got = append(got, strings.Join(append([]string{c.Path}, c.Args...), " "))
				return pkgmgr.Result{}, nil
			})
			m := New(root, r, Options{DBPath: "/var/lib/rpm", ExtraArgs: []string{"--releasever=9"}})
			if m.Name() != tt.want {
				t.Errorf("Name() = %q, want %q", m.Name(), tt.want)
			}
			if _, err := m.Packages(context.Background()); err != nil {
				t.Fatal(err)
			}
			if err := m.Refresh(context.Background()); err != nil {
				t.Fatal(err)
			}
			wantCalls := []string{"rpm --root " + root + " --dbpath /var/lib/rpm -qa --queryformat " + queryFormat}
			if tt.want == "yum" {
				wantCalls = append(wantCalls,
					"yum --installroot="+root+" --releasever=9 --setopt=*.skip_if_unavailable=False -q clean expire-cache",
					"yum --installroot="+root+" --releasever=9 --setopt=*.skip_if_unavailable=False -q makecache fast")
			} else {
				wantCalls = append(wantCalls, "dnf --installroot="+root+" --releasever=9 --setopt=*.skip_if_unavailable=False -q makecache --refresh")
			}
			if diff := cmp.Diff(wantCalls, got); diff != "" {
				t.Errorf("commands -want +got:\n%s", diff)
			}
		})
	}
}
