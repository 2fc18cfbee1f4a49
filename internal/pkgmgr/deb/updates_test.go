package deb

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/pkgmgr"
	"github.com/patchbay/patchbay/internal/pkgmgr/osexec"
)

// TestUpdatesGolden replays captured apt output through Updates, checks
// the result against the golden file and against what `apt list
// --upgradable` said on the same host at the same time.
func TestUpdatesGolden(t *testing.T) {
	tests := []struct {
		dir          string
		wantCommands []string // what Updates must run, in order
		wantSecurity int
	}{
		{
			// Everything from the simulation: no apt-cache policy of the
			// package files is needed.
			dir:          "debian12-dev",
			wantCommands: []string{"apt-get dist-upgrade", "apt-cache policy NAMES"},
			wantSecurity: 81,
		},
		{
			// pb-held and pb-keptback come from apt-cache policy.
			dir:          "bookworm-lab",
			wantCommands: []string{"apt-get dist-upgrade", "apt-cache policy NAMES", "apt-cache policy"},
			wantSecurity: 6,
		},
		{
			// The simulation fails: everything comes from apt-cache policy.
			dir:          "bookworm-broken",
			wantCommands: []string{"apt-get dist-upgrade", "apt-cache policy NAMES", "apt-cache policy"},
			wantSecurity: 6,
		},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			dir := filepath.Join("testdata", tt.dir)
			r := &replayRunner{t: t, dir: dir}
			m := New(rootWithStatus(t, filepath.Join(dir, "status")), r)
			ups, err := m.Updates(context.Background())
			if err != nil {
				t.Fatalf("Updates: %v", err)
			}
			checkUpdateInvariants(t, ups)
			checkGolden(t, filepath.Join(dir, "updates.golden.json"), ups)

			want := parseAptList(t, mustRead(t, filepath.Join(dir, "apt-list-upgradable.stdout")))
			if diff := cmp.Diff(want, asListed(ups)); diff != "" {
				t.Errorf("Updates differs from apt list --upgradable (-apt +Updates):\n%s", diff)
			}
			security := 0
			for _, u := range ups {
				if u.Security {
					security++
				}
			}
			if security != tt.wantSecurity {
				t.Errorf("%d security updates, want %d", security, tt.wantSecurity)
			}
			var cmds []string
			for _, c := range r.calls {
				cmd := c.Path + " " + c.Args[len(c.Args)-1]
				if c.Path == "apt-cache" && c.Args[len(c.Args)-1] != "policy" {
					cmd = "apt-cache policy NAMES"
				}
				cmds = append(cmds, cmd)
				if c.Path == "apt-get" && (!slices.Contains(c.Args, "-s") || !slices.Contains(c.Args, "Debug::NoLocking=1")) {
					t.Errorf("apt-get run without -s -o Debug::NoLocking=1: %q", c.Args)
				}
				if !slices.Contains(c.Env, "DEBIAN_FRONTEND=noninteractive") {
					t.Errorf("%s run without DEBIAN_FRONTEND=noninteractive", c.Path)
				}
			}
			if diff := cmp.Diff(tt.wantCommands, cmds); diff != "" {
				t.Errorf("commands (-want +got):\n%s", diff)
			}
		})
	}
}

func checkUpdateInvariants(t *testing.T, ups []patchbay.Update) {
	t.Helper()
	for i, u := range ups {
		if !validName(u.Name) || !validName(u.Arch) || !validWord(u.InstalledVersion) || !validWord(u.CandidateVersion) {
			t.Errorf("update %d invalid: %+v", i, u)
		}
		if !newer(u.CandidateVersion, u.InstalledVersion) {
			t.Errorf("update %s: candidate %s not newer than %s", u.Key(), u.CandidateVersion, u.InstalledVersion)
		}
		if u.Origin == "" {
			t.Errorf("update %s: no origin", u.Key())
		}
		if i > 0 && ups[i-1].Key() >= u.Key() {
			t.Errorf("not sorted by key at %d", i)
		}
	}
}

// TestUpdatesMatchAptOnThisMachine compares Updates on "/" with `apt list
// --upgradable` for the same apt state, security marking included.
func TestUpdatesMatchAptOnThisMachine(t *testing.T) {
	requireTool(t, "apt-get", "apt-cache", "apt", "dpkg")
	m := New("/", osexec.Runner{})
	// The apt state may change while the test runs (someone runs apt-get
	// update): compare only when apt list says the same before and after.
	for try := 0; try < 3; try++ {
		before := run(t, "apt", "list", "--upgradable").Stdout
		ups, err := m.Updates(context.Background())
		if err != nil {
			t.Fatalf("Updates: %v", err)
		}
		after := run(t, "apt", "list", "--upgradable").Stdout
		if string(before) != string(after) {
			continue
		}
		checkUpdateInvariants(t, ups)
		want := parseAptList(t, after)
		if diff := cmp.Diff(want, asListed(ups)); diff != "" {
			t.Errorf("Updates differs from apt list --upgradable (-apt +Updates):\n%s", diff)
		}
		t.Logf("%d updates, as apt lists them", len(ups))
		return
	}
	t.Fatalf("apt state kept changing during the test")
}

// TestAptOnAnotherRoot builds a Debian root filesystem that is not running
// (a dpkg status, sources pointing at local repositories) and runs the
// real apt on it through Refresh and Updates: it checks that -o Dir=ROOT/
// makes apt use that tree's sources, lists, status and architectures, and
// not the host's.
func TestAptOnAnotherRoot(t *testing.T) {
	requireTool(t, "apt-get", "apt-cache", "apt", "dpkg")
	requireRoot(t)
	tmp := t.TempDir()
	root := filepath.Join(tmp, "root")
	for _, d := range []string{"etc/apt/apt.conf.d", "etc/apt/preferences.d", "etc/apt/sources.list.d", "var/lib/apt/lists/partial", "var/cache/apt/archives/partial"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	installed := func(name, arch, version, state string) string {
		return fmt.Sprintf("Package: %s\nStatus: %s\nArchitecture: %s\nVersion: %s\n\n", name, state, arch, version)
	}
	writeFile(t, filepath.Join(root, "var/lib/dpkg/status"),
		installed("dpkg", "amd64", "1.21.22", "install ok installed")+
			installed("pb-sec", "amd64", "1.0-1", "install ok installed")+
			installed("pb-lib", "i386", "2.0-1", "install ok installed")+
			installed("pb-plain", "all", "1:0.9~rc1-1", "install ok installed")+
			installed("pb-held", "all", "1.0-1", "hold ok installed")+
			installed("pb-same", "amd64", "3.0-1", "install ok installed"))
	writeFile(t, filepath.Join(root, "var/lib/dpkg/arch"), "amd64\ni386\n")
	pkg := func(name, arch, version string) string {
		return fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: %s\nFilename: ./%s_%s_%s.deb\nSize: 100\nDescription: test\n\n", name, version, arch, name, version, arch)
	}
	writeRepo(t, filepath.Join(tmp, "security"), "Origin: Debian\nLabel: Debian-Security\nSuite: oldstable-security\nCodename: bookworm-security\nVersion: 12\n",
		pkg("pb-sec", "amd64", "1.0-1+deb12u1")+pkg("pb-lib", "i386", "2.0-1+deb12u1"))
	writeRepo(t, filepath.Join(tmp, "main"), "Origin: Debian\nLabel: Debian\nSuite: oldstable\nCodename: bookworm\nVersion: 12.15\n",
		pkg("pb-plain", "all", "1:0.9-1")+pkg("pb-held", "all", "1.1-1")+pkg("pb-same", "amd64", "3.0-1")+pkg("pb-new", "amd64", "1.0-1"))
	writeFile(t, filepath.Join(root, "etc/apt/sources.list"),
		fmt.Sprintf("deb [trusted=yes] file:%s/security ./\ndeb [trusted=yes] file:%s/main ./\n", tmp, tmp))

	m := New(root, osexec.Runner{})
	ctx := context.Background()
	if err := m.Refresh(ctx); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	ups, err := m.Updates(ctx)
	if err != nil {
		t.Fatalf("Updates: %v", err)
	}
	want := []patchbay.Update{
		{Name: "pb-held", Arch: "all", InstalledVersion: "1.0-1", CandidateVersion: "1.1-1", Origin: "Debian:12.15/oldstable"},
		{Name: "pb-lib", Arch: "i386", InstalledVersion: "2.0-1", CandidateVersion: "2.0-1+deb12u1", Origin: "Debian-Security:12/oldstable-security", Security: true},
		{Name: "pb-plain", Arch: "all", InstalledVersion: "1:0.9~rc1-1", CandidateVersion: "1:0.9-1", Origin: "Debian:12.15/oldstable"},
		{Name: "pb-sec", Arch: "amd64", InstalledVersion: "1.0-1", CandidateVersion: "1.0-1+deb12u1", Origin: "Debian-Security:12/oldstable-security", Security: true},
	}
	if diff := cmp.Diff(want, ups); diff != "" {
		t.Errorf("Updates (-want +got):\n%s", diff)
	}
	list := run(t, "apt", append(m.aptOptions(), "list", "--upgradable")...)
	if diff := cmp.Diff(parseAptList(t, list.Stdout), asListed(ups)); diff != "" {
		t.Errorf("Updates differs from apt list --upgradable (-apt +Updates):\n%s", diff)
	}

	// A source that fails makes Refresh fail.
	writeFile(t, filepath.Join(root, "etc/apt/sources.list.d/missing.list"), fmt.Sprintf("deb [trusted=yes] file:%s/missing ./\n", tmp))
	if err := m.Refresh(ctx); err == nil || !strings.Contains(err.Error(), "exit 100") {
		t.Errorf("Refresh with a missing repository: err = %v, want an exit 100 error", err)
	}
}

// writeRepo writes a flat apt repository with a Release file (fields
// plus the hash of Packages) and the given Packages file.
func writeRepo(t *testing.T, dir, fields, packages string) {
	t.Helper()
	writeFile(t, filepath.Join(dir, "Packages"), packages)
	sum := sha256.Sum256([]byte(packages))
	writeFile(t, filepath.Join(dir, "Release"), fields+
		"Architectures: amd64 i386 all\nDate: "+time.Now().UTC().Format(time.RFC1123Z)+"\n"+
		fmt.Sprintf("SHA256:\n %s %d Packages\n", hex.EncodeToString(sum[:]), len(packages)))
}

func TestRefresh(t *testing.T) {
	tests := []struct {
		name    string
		root    string
		res     pkgmgr.Result
		wantErr string
		wantArg []string
	}{
		{name: "ok", root: "/", res: pkgmgr.Result{}, wantArg: []string{"-q", "--error-on=any", "-o", "Acquire::Languages=none", "update"}},
		{
			name: "a source failed",
			root: "/",
			res: pkgmgr.Result{ExitCode: 100, Stderr: []byte("W: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease  Could not resolve 'deb.debian.org'\n" +
				"E: Some index files failed to download. They have been ignored, or old ones used instead.\n")},
			wantErr: "apt-get update: exit 100: W: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease  Could not resolve 'deb.debian.org'; E: Some index files failed to download. They have been ignored, or old ones used instead.",
			wantArg: []string{"-q", "--error-on=any", "-o", "Acquire::Languages=none", "update"},
		},
		{
			name: "another root", root: "/srv/img", res: pkgmgr.Result{},
			wantArg: []string{"-o", "Dir=/srv/img/", "-o", "Dir::State::status=/srv/img/var/lib/dpkg/status", "-q", "--error-on=any", "-o", "Acquire::Languages=none", "update"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &fixedRunner{res: tt.res}
			err := New(tt.root, r).Refresh(context.Background())
			if got := fmt.Sprint(err); tt.wantErr != "" && got != tt.wantErr || tt.wantErr == "" && err != nil {
				t.Errorf("Refresh: err = %v, want %q", err, tt.wantErr)
			}
			if len(r.calls) != 1 {
				t.Fatalf("%d commands, want 1", len(r.calls))
			}
			c := r.calls[0]
			if diff := cmp.Diff(tt.wantArg, c.Args); c.Path != "apt-get" || diff != "" {
				t.Errorf("command %s (-want +got args):\n%s", c.Path, diff)
			}
			if diff := cmp.Diff([]string{"DEBIAN_FRONTEND=noninteractive", "NEEDRESTART_SUSPEND=1"}, c.Env); diff != "" {
				t.Errorf("env (-want +got):\n%s", diff)
			}
		})
	}
}

type fixedRunner struct {
	res   pkgmgr.Result
	calls []pkgmgr.Cmd
}

func (r *fixedRunner) Run(ctx context.Context, c pkgmgr.Cmd) (pkgmgr.Result, error) {
	r.calls = append(r.calls, c)
	return r.res, nil
}

func TestIsSecurity(t *testing.T) {
	tests := []struct {
		origin string
		want   bool
	}{
		{"Debian-Security:12/oldstable-security", true},
		{"Debian:12.14/oldstable, Debian-Security:12/oldstable-security", true},
		{"Debian:12.14/oldstable", false},
		{"Debian:12-updates/oldstable-updates", false},
		{"Ubuntu:22.04/jammy-security", true},
		{"Ubuntu:22.04/jammy-updates, Ubuntu:22.04/jammy-security", true},
		{"Ubuntu:22.04/jammy-updates", false},
		{"UbuntuESMApps:22.04/jammy-apps-security", true},
		{"Debian-Security:oldstable-security", true}, // Release without Version
		{"PB-Lab:1.0/lab", false},
		{"localhost", false},
		{"", false},
		{"Security-Team:1/stable", false}, // only the suite or Debian's label count
	}
	for _, tt := range tests {
		t.Run(tt.origin, func(t *testing.T) {
			if got := isSecurity(tt.origin); got != tt.want {
				t.Errorf("isSecurity(%q) = %v, want %v", tt.origin, got, tt.want)
			}
		})
	}
}

func TestParseSimulationLines(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		want    []simInst
		wantErr bool
	}{
		{
			name: "security",
			line: "Inst perl-base [5.36.0-7+deb12u3] (5.36.0-7+deb12u4 Debian-Security:12/oldstable-security [amd64])",
			want: []simInst{{name: "perl-base", installed: "5.36.0-7+deb12u3", candidate: "5.36.0-7+deb12u4", origin: "Debian-Security:12/oldstable-security", arch: "amd64"}},
		},
		{
			name: "two origins and a broken-dependency note",
			line: "Inst libcups2 [2.4.2-3+deb12u8] (2.4.2-3+deb12u9 Debian:12.14/oldstable, Debian-Security:12/oldstable-security [amd64]) [libcups2-dev:amd64 ]",
			want: []simInst{{name: "libcups2", installed: "2.4.2-3+deb12u8", candidate: "2.4.2-3+deb12u9", origin: "Debian:12.14/oldstable, Debian-Security:12/oldstable-security", arch: "amd64"}},
		},
		{
			name: "foreign architecture",
			line: "Inst pb-demo:i386 [1.0-1] (1.0-2 PB-Lab:1.0/lab [i386])",
			want: []simInst{{name: "pb-demo", qual: "i386", installed: "1.0-1", candidate: "1.0-2", origin: "PB-Lab:1.0/lab", arch: "i386"}},
		},
		{name: "new package", line: "Inst pb-newdep (0.1-1 PB-Lab:1.0/lab [all])"},
		{name: "no origin (RelStr empty)", line: "Inst a [1] (2  [all])", want: []simInst{{name: "a", installed: "1", candidate: "2", arch: "all"}}},
		{name: "Conf and Remv lines are not read", line: "Conf perl-base (5.36.0-7+deb12u4 Debian-Security:12/oldstable-security [amd64])\nRemv foo [1.0]"},
		{name: "no candidate", line: "Inst perl-base [5.36.0-7+deb12u3]", wantErr: true},
		{name: "unclosed", line: "Inst perl-base [5.36.0-7+deb12u3 (5.36.0-7+deb12u4 Debian-Security:12/oldstable-security [amd64])", wantErr: true},
		{name: "bad name", line: "Inst Perl/base [1] (2 X:1/y [amd64])", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSimulation([]byte(tt.line + "\n"))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(simInst{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzParseSimulation checks that every accepted upgrade has a valid name,
// versions and architecture, and that there are no more upgrades than
// "Inst" lines with an installed version.
func FuzzParseSimulation(f *testing.F) {
	for _, c := range []string{"debian12-dev", "bookworm-lab", "bookworm-broken"} {
		data, err := os.ReadFile(filepath.Join("testdata", c, "dist-upgrade.stdout"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data[:min(len(data), 3000)])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		insts, err := parseSimulation(data)
		if err != nil {
			return
		}
		lines := 0
		for _, l := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(l, "Inst ") && strings.Contains(l, " [") {
				lines++
			}
		}
		if len(insts) > lines {
			t.Fatalf("%d upgrades from %d Inst lines", len(insts), lines)
		}
		for _, s := range insts {
			if !validName(s.name) || s.qual != "" && !validName(s.qual) || !validWord(s.installed) || !validWord(s.candidate) || !validName(s.arch) {
				t.Fatalf("invalid upgrade %+v", s)
			}
			if strings.ContainsAny(s.origin, "\n") {
				t.Fatalf("origin spans lines: %q", s.origin)
			}
		}
	})
}

// FuzzParsePolicy checks that every accepted entry names a valid package
// and has Installed and Candidate, and that a version's package files are
// never empty strings.
func FuzzParsePolicy(f *testing.F) {
	for _, c := range []string{"bookworm-lab", "debian12-dev"} {
		data, err := os.ReadFile(filepath.Join("testdata", c, "policy-packages.stdout"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data[:min(len(data), 3000)])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := parsePolicy(data)
		if err != nil {
			return
		}
		for _, e := range entries {
			if !validName(e.name) || e.qual != "" && !validName(e.qual) || e.installed == "" || e.candidate == "" {
				t.Fatalf("invalid entry %+v", e)
			}
			for v, srcs := range e.sources {
				for _, s := range srcs {
					if v == "" || strings.TrimSpace(s) == "" {
						t.Fatalf("entry %s: empty version or package file in %+v", e.name, e.sources)
					}
				}
			}
		}
		// The package files table must never panic on the same input.
		_ = relStr([]string{"x"}, parsePolicyFiles(data))
	})
}

func TestRelStr(t *testing.T) {
	files := parsePolicyFiles(mustRead(t, "testdata/bookworm-lab/policy-files.stdout"))
	tests := []struct {
		name    string
		sources []string
		want    string
	}{
		{"security", []string{"http://deb.debian.org/debian-security bookworm-security/main amd64 Packages"}, "Debian-Security:12/oldstable-security"},
		{"two files, status left out", []string{"http://deb.debian.org/debian bookworm/main amd64 Packages", "http://deb.debian.org/debian-security bookworm-security/main amd64 Packages", "/var/lib/dpkg/status"}, "Debian:12.15/oldstable, Debian-Security:12/oldstable-security"},
		{"same release twice (amd64 and i386 lists)", []string{"http://deb.debian.org/debian bookworm/main amd64 Packages", "http://deb.debian.org/debian bookworm/main i386 Packages"}, "Debian:12.15/oldstable"},
		{"flat repository", []string{"file:/srv/pbrepo ./ Packages"}, "PB-Lab:1.0/lab"},
		{"unknown file", []string{"http://example.invalid x Packages"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := relStr(tt.sources, files); got != tt.want {
				t.Errorf("relStr = %q, want %q", got, tt.want)
			}
		})
	}
	noRelease := map[string]packageFile{
		"a": {release: map[string]string{"a": "stable"}, site: "example.org"},
		"b": {release: map[string]string{}, site: "example.org"},
		"c": {release: map[string]string{}},
	}
	if got, want := relStr([]string{"a", "b", "c"}, noRelease), "stable, example.org, localhost"; got != want {
		t.Errorf("relStr without labels = %q, want %q", got, want)
	}
}

// TestPolicyOriginsMatchSimulation checks that origins rebuilt from
// apt-cache policy (bookworm-broken, where the simulation fails) read
// exactly as apt printed them in "Inst" lines for the same packages and
// indexes (bookworm-lab).
func TestPolicyOriginsMatchSimulation(t *testing.T) {
	updates := func(dir string) map[string]patchbay.Update {
		dir = filepath.Join("testdata", dir)
		ups, err := New(rootWithStatus(t, filepath.Join(dir, "status")), &replayRunner{t: t, dir: dir}).Updates(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]patchbay.Update{}
		for _, u := range ups {
			m[u.Key()] = u
		}
		return m
	}
	fromSim, fromPolicy := updates("bookworm-lab"), updates("bookworm-broken")
	sim := mustRead(t, "testdata/bookworm-lab/dist-upgrade.stdout")
	compared := 0
	for k, p := range fromPolicy {
		s, ok := fromSim[k]
		if !ok || !strings.Contains(string(sim), "Inst "+s.Name) {
			continue
		}
		compared++
		if p.Origin != s.Origin {
			t.Errorf("%s: origin from apt-cache policy %q, apt-get printed %q", k, p.Origin, s.Origin)
		}
	}
	if compared < 5 {
		t.Errorf("only %d packages to compare", compared)
	}
}

func TestAptErrors(t *testing.T) {
	// Real output of apt-get update --error-on=any on a root whose
	// sources name a file: repository that is not there.
	stdout := "Get:1 file:/srv/pbrepo ./ InRelease\nIgn:1 file:/srv/pbrepo ./ InRelease\n" +
		"Err:3 file:/srv/pbrepo ./ Packages\n  File not found - /srv/pbrepo/./Packages (2: No such file or directory)\n" +
		"Err:3 file:/srv/pbrepo ./ Packages\n  File not found - /srv/pbrepo/./Packages (2: No such file or directory)\nReading package lists...\n"
	stderr := "E: Failed to fetch file:/srv/pbrepo/./Packages  File not found - /srv/pbrepo/./Packages (2: No such file or directory)\n" +
		"E: Some index files failed to download. They have been ignored, or old ones used instead.\n"
	tests := []struct {
		name string
		res  pkgmgr.Result
		want string
	}{
		{"E lines, no repeats of the log", pkgmgr.Result{Stdout: []byte(stdout), Stderr: []byte(stderr)},
			"E: Failed to fetch file:/srv/pbrepo/./Packages  File not found - /srv/pbrepo/./Packages (2: No such file or directory); E: Some index files failed to download. They have been ignored, or old ones used instead."},
		{"Err lines when there is no E line", pkgmgr.Result{Stdout: []byte(stdout)}, "Err:3 file:/srv/pbrepo ./ Packages"},
		{"last lines of stderr otherwise", pkgmgr.Result{Stderr: []byte("a\nb\nc\nd\n")}, "b; c; d"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := aptErrors(tt.res); got != tt.want {
				t.Errorf("aptErrors = %q\nwant %q", got, tt.want)
			}
		})
	}
}
