package apk

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/pkgmgr"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// The inputs are reconstructed, not captured (there is no apk here): see
// testdata/README.md.
const (
	installedFile   = "testdata/reconstructed-alpine320-installed"
	versionListFile = "testdata/reconstructed-apk-version-l.txt"
)

func golden(t *testing.T, name string, got any) {
	t.Helper()
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	path := filepath.Join("testdata", "golden", name+".json")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
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
		t.Errorf("%s differs from the golden file (-want +got):\n%s", path, diff)
	}
}

func read(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseInstalledGolden(t *testing.T) {
	pkgs, err := parseInstalled(read(t, installedFile))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(pkgs), strings.Count(string(read(t, installedFile)), "\nP:"); got != want {
		t.Errorf("%d packages, want %d (one per P: line)", got, want)
	}
	checkPackages(t, pkgs)
	golden(t, "reconstructed-alpine320-installed", pkgs)
}

func TestParseInstalled(t *testing.T) {
	tests := []struct {
		name, input string
		want        []patchbay.Package
		wantErr     bool
	}{
		{
			name:  "subpackage with origin",
			input: "C:Q1abc=\nP:libssl3\nV:3.3.2-r0\nA:x86_64\nT:SSL shared libraries: the libssl part\no:openssl\nD:so:libcrypto.so.3\n",
			want:  []patchbay.Package{{Name: "libssl3", Arch: "x86_64", Version: "3.3.2-r0", SourceName: "openssl", SourceVersion: "3.3.2-r0"}},
		},
		{
			name:  "no origin: its own",
			input: "P:zlib\nV:1.3.1-r1\nA:x86_64\n\n\n",
			want:  []patchbay.Package{{Name: "zlib", Arch: "x86_64", Version: "1.3.1-r1", SourceName: "zlib", SourceVersion: "1.3.1-r1"}},
		},
		{
			name:  "no final blank line, two blocks",
			input: "P:a\nV:1-r0\nA:x86\n\nP:b\nV:2_rc1-r3\nA:x86",
			want: []patchbay.Package{
				{Name: "a", Arch: "x86", Version: "1-r0", SourceName: "a", SourceVersion: "1-r0"},
				{Name: "b", Arch: "x86", Version: "2_rc1-r3", SourceName: "b", SourceVersion: "2_rc1-r3"},
			},
		},
		{name: "empty", input: "", want: nil},
		{name: "no version", input: "P:zlib\nA:x86_64\n", wantErr: true},
		{name: "no name", input: "V:1.3.1-r1\nA:x86_64\n", wantErr: true},
		{name: "not a field", input: "P:zlib\nV:1.3.1-r1\nzlib\n", wantErr: true},
		{name: "bad version", input: "P:zlib\nV:1.3.1 r1\n", wantErr: true},
		{name: "bad name", input: "P:-zlib\nV:1.3.1-r1\n", wantErr: true},
		{name: "twice", input: "P:zlib\nV:1.3.1-r1\n\nP:zlib\nV:1.3.1-r2\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseInstalled([]byte(tt.input))
			if tt.wantErr {
				if err == nil {
					t.Errorf("no error; parsed %+v", got)
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

func TestParseVersionList(t *testing.T) {
	got, err := parseVersionList(read(t, versionListFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 8 {
		t.Errorf("%d updates, want the 8 lines of the file", len(got))
	}
	golden(t, "reconstructed-apk-version-l", got)

	tests := []struct {
		name, input string
		want        []pending
		wantErr     bool
	}{
		{name: "tagged repository", input: "py3-cryptography-42.0.8-r0              < 43.0.1-r0 @edge\n",
			want: []pending{{NameVersion: "py3-cryptography-42.0.8-r0", Available: "43.0.1-r0", Tag: "edge"}}},
		{name: "other comparisons skipped", input: "musl-1.2.5-r1                           = 1.2.5-r1 \nfoo-2-r0                           > 1-r0 \n"},
		{name: "quiet header gone", input: "musl-1.2.5-r0 < 1.2.5-r1\n", want: []pending{{NameVersion: "musl-1.2.5-r0", Available: "1.2.5-r1"}}},
		{name: "a warning on stdout", input: "WARNING: opening from cache https://dl-cdn.alpinelinux.org/alpine/v3.20/main: No such file or directory\n", wantErr: true},
		{name: "bad candidate", input: "musl-1.2.5-r0 < 1.2.5-1\n", wantErr: true},
		{name: "bad package", input: "musl < 1.2.5-r1\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseVersionList([]byte(tt.input))
			if tt.wantErr {
				if err == nil {
					t.Errorf("no error; parsed %+v", got)
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

func TestValidVersion(t *testing.T) {
	valid := []string{"1-r0", "1.0", "1.2.3a-r1", "1.0_alpha1-r0", "1.0_p1", "2024b-r0", "13.2.1_git20240309-r0",
		"1.0_rc1_p2-r10", "0.7.2-r5", "1.0~a1b2c3-r0", "20240705-r0", "1.0_pre"}
	invalid := []string{"", "a1", "1.0-r", "1.0-1", "1..0", ".1", "1.0_foo", "1.0ab", "1.0_alpha_", "1.0-r0-r1",
		"1.0~", "1.0~XYZ-r0", "1.0 -r0", "1.0-r0\n", "-r0"}
	for _, v := range valid {
		if !ValidVersion(v) {
			t.Errorf("ValidVersion(%q) = false, want true", v)
		}
	}
	for _, v := range invalid {
		if ValidVersion(v) {
			t.Errorf("ValidVersion(%q) = true, want false", v)
		}
	}
}

func TestSplitNameVersion(t *testing.T) {
	tests := []struct{ in, name, version string }{
		{"musl-1.2.5-r0", "musl", "1.2.5-r0"},
		{"busybox-binsh-1.36.1-r29", "busybox-binsh", "1.36.1-r29"},
		{"py3-foo-2-1.0-r0", "py3-foo-2", "1.0-r0"},
		{"libstdc++-13.2.1_git20240309-r0", "libstdc++", "13.2.1_git20240309-r0"},
		{"font-noto-cjk-0_git20220127-r1", "font-noto-cjk", "0_git20220127-r1"},
	}
	for _, tt := range tests {
		name, version, ok := splitNameVersion(tt.in)
		if !ok || name != tt.name || version != tt.version {
			t.Errorf("splitNameVersion(%q) = %q %q %v, want %q %q", tt.in, name, version, ok, tt.name, tt.version)
		}
	}
	for _, in := range []string{"musl", "musl-", "-1.0-r0", "musl-r0"} {
		if n, v, ok := splitNameVersion(in); ok {
			t.Errorf("splitNameVersion(%q) = %q %q, want failure", in, n, v)
		}
	}
}

// fakeRunner answers apk commands from fixed results, keyed by argv.
type fakeRunner struct {
	t       *testing.T
	results map[string]pkgmgr.Result
	calls   []string
}

func (r *fakeRunner) Run(_ context.Context, c pkgmgr.Cmd) (pkgmgr.Result, error) {
	argv := strings.Join(append([]string{c.Path}, c.Args...), " ")
	r.calls = append(r.calls, argv)
	if c.Timeout <= 0 {
		r.t.Errorf("%s: no timeout", argv)
	}
	res, ok := r.results[argv]
	if !ok {
		r.t.Errorf("unexpected command %q", argv)
		return pkgmgr.Result{ExitCode: -1}, errors.New("unexpected command")
	}
	return res, nil
}

// newRoot is an Alpine root with the reconstructed installed db.
func newRoot(t *testing.T) string {
	root := t.TempDir()
	db := filepath.Join(root, "lib", "apk", "db")
	if err := os.MkdirAll(db, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(db, "installed"), read(t, installedFile), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestManager(t *testing.T) {
	ctx := context.Background()
	root := newRoot(t)
	r := &fakeRunner{t: t, results: map[string]pkgmgr.Result{
		"apk --root " + root + " version -l <": {Stdout: read(t, versionListFile)},
		"apk --root " + root + " update":       {Stdout: []byte("v3.20.3-123-gabc [https://dl-cdn.alpinelinux.org/alpine/v3.20/main]\nOK: 24165 distinct packages available\n")},
	}}
	m := New(root, r, Options{RunningKernel: func(context.Context) (string, error) { return "6.6.58-0-lts\n", nil }})
	if m.Name() != "apk" {
		t.Errorf("Name() = %q", m.Name())
	}
	pkgs, err := m.Packages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) != 18 {
		t.Errorf("%d packages, want 18", len(pkgs))
	}
	inv := patchbay.Inventory{SchemaVersion: patchbay.InventorySchemaVersion, MachineID: "m", Hostname: "h", Packages: pkgs}
	if err := inv.Validate(); err != nil {
		t.Errorf("the inventory would be refused: %v", err)
	}
	if err := m.Refresh(ctx); err != nil {
		t.Errorf("Refresh: %v", err)
	}
	updates, err := m.Updates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	u := func(name, installed, candidate string) patchbay.Update {
		return patchbay.Update{Name: name, Arch: "x86_64", InstalledVersion: installed, CandidateVersion: candidate}
	}
	want := []patchbay.Update{
		u("busybox-binsh", "1.36.1-r29", "1.36.1-r30"),
		u("busybox", "1.36.1-r29", "1.36.1-r30"),
		u("libcrypto3", "3.3.2-r0", "3.3.2-r1"),
		u("libssl3", "3.3.2-r0", "3.3.2-r1"),
		u("linux-lts", "6.6.58-r0", "6.6.62-r0"),
		u("musl-utils", "1.2.5-r0", "1.2.5-r1"),
		u("musl", "1.2.5-r0", "1.2.5-r1"),
		u("ssl_client", "1.36.1-r29", "1.36.1-r30"),
	}
	if diff := cmp.Diff(want, updates); diff != "" {
		t.Errorf("Updates -want +got:\n%s", diff)
	}
}

func TestManagerFailures(t *testing.T) {
	ctx := context.Background()
	root := newRoot(t)
	r := &fakeRunner{t: t, results: map[string]pkgmgr.Result{
		// apk update's exit code counts the repositories it could not fetch.
		"apk --root " + root + " update": {ExitCode: 1,
			Stdout: []byte("1 unavailable, 0 stale; 24165 distinct packages available\n"),
			Stderr: []byte("WARNING: updating and opening https://dl-cdn.alpinelinux.org/alpine/v3.20/community: temporary error (try again later)\n")},
		// An index missing from the cache: a warning, exit 0, no list.
		"apk --root " + root + " version -l <": {
			Stdout: []byte("Installed:                                Available:\n"),
			Stderr: []byte("WARNING: opening from cache https://dl-cdn.alpinelinux.org/alpine/v3.20/main: No such file or directory\n")},
	}}
	m := New(root, r, Options{})
	if err := m.Refresh(ctx); err == nil || !strings.Contains(err.Error(), "temporary error") {
		t.Errorf("Refresh: %v, want the warning in an error", err)
	}
	if u, err := m.Updates(ctx); err == nil {
		t.Errorf("Updates: no error, %+v", u)
	}
	if _, err := New(t.TempDir(), r, Options{}).Packages(ctx); err == nil {
		t.Error("Packages without an installed db: no error")
	}
}

func TestRebootRequired(t *testing.T) {
	tests := []struct {
		running string
		want    bool
		reasons []string
	}{
		{"6.6.58-0-lts", false, nil},
		{"6.6.50-0-lts", true, []string{"running kernel 6.6.50-0-lts, installed linux-lts 6.6.58-r0"}},
		{"6.6.58-1-lts", true, []string{"running kernel 6.6.58-1-lts, installed linux-lts 6.6.58-r0"}},
		{"6.6.58-0-virt", false, nil},  // linux-virt not installed: a kernel not from this root
		{"6.1.0-28-amd64", false, nil}, // a Debian host's kernel under a container
		{"garbage", false, nil},
	}
	root := newRoot(t)
	for _, tt := range tests {
		t.Run(tt.running, func(t *testing.T) {
			m := New(root, &fakeRunner{t: t}, Options{RunningKernel: func(context.Context) (string, error) { return tt.running, nil }})
			got, reasons, err := m.RebootRequired(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("RebootRequired() = %v, want %v", got, tt.want)
			}
			if diff := cmp.Diff(tt.reasons, reasons); diff != "" {
				t.Errorf("reasons -want +got:\n%s", diff)
			}
		})
	}
}

func checkPackages(t *testing.T, pkgs []patchbay.Package) {
	t.Helper()
	for _, p := range pkgs {
		if !ValidName(p.Name) || !ValidVersion(p.Version) {
			t.Errorf("%+v: invalid name or version", p)
		}
		if p.Arch != "" && !validArch(p.Arch) {
			t.Errorf("%+v: invalid arch", p)
		}
		if !ValidName(p.SourceName) || p.SourceVersion != p.Version {
			t.Errorf("%+v: bad source", p)
		}
	}
}

func FuzzParseInstalled(f *testing.F) {
	f.Add(read(f, installedFile))
	f.Add([]byte("P:a\nV:1-r0\n\nP:b\nV:2-r0\no:a\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		pkgs, err := parseInstalled(b)
		if err != nil {
			return
		}
		checkPackages(t, pkgs)
		seen := map[string]bool{}
		for _, p := range pkgs {
			if seen[p.Name] {
				t.Errorf("%s twice", p.Name)
			}
			seen[p.Name] = true
			if !strings.Contains(string(b), "P:"+p.Name) {
				t.Errorf("%s: not in the input", p.Name)
			}
		}
	})
}

func FuzzParseVersionList(f *testing.F) {
	f.Add(read(f, versionListFile))
	f.Fuzz(func(t *testing.T, b []byte) {
		list, err := parseVersionList(b)
		if err != nil {
			return
		}
		for _, p := range list {
			name, version, ok := splitNameVersion(p.NameVersion)
			if !ok || !ValidName(name) || !ValidVersion(version) || name+"-"+version != p.NameVersion {
				t.Errorf("%+v: installed name-version does not split", p)
			}
			if !ValidVersion(p.Available) {
				t.Errorf("%+v: bad candidate version", p)
			}
		}
	})
}

func FuzzSplitNameVersion(f *testing.F) {
	f.Add("py3-foo-2-1.0-r0")
	f.Add("libstdc++-13.2.1_git20240309-r0")
	f.Fuzz(func(t *testing.T, s string) {
		name, version, ok := splitNameVersion(s)
		if !ok {
			return
		}
		if name+"-"+version != s || !ValidName(name) || !ValidVersion(version) {
			t.Errorf("splitNameVersion(%q) = %q %q", s, name, version)
		}
	})
}
