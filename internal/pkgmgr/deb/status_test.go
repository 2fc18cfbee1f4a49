package deb

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay"
)

// statusFiles are the dpkg status files in testdata.
func statusFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("testdata/*/status")
	if err != nil || len(files) < 4 {
		t.Fatalf("status files in testdata: %v, %v", files, err)
	}
	return files
}

func TestParseStatusGolden(t *testing.T) {
	for _, f := range statusFiles(t) {
		dir := filepath.Dir(f)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			pkgs, err := parseStatus(data)
			if err != nil {
				t.Fatalf("parseStatus: %v", err)
			}
			checkPackageInvariants(t, pkgs)
			checkGolden(t, filepath.Join(dir, "packages.golden.json"), pkgs)
		})
	}
}

// TestParseStatusMatchesDpkgQuery checks, for every status file in
// testdata and for this machine's, that Packages lists exactly what
// dpkg-query lists with a state other than not-installed ("n", which
// dpkg-query -W leaves out anyway) and config-files ("c": removed, only
// configuration files remain), with the same version and architecture.
func TestParseStatusMatchesDpkgQuery(t *testing.T) {
	requireTool(t, "dpkg-query")
	files := statusFiles(t)
	files = append(files, "/var/lib/dpkg/status")
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			admindir := filepath.Dir(f)
			if f != "/var/lib/dpkg/status" {
				admindir = t.TempDir()
				data, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				writeFile(t, filepath.Join(admindir, "status"), string(data))
			}
			// The status file of this machine may change while the test runs
			// (someone installs a package): read it right after dpkg-query,
			// and once more if they disagree.
			for try := 0; ; try++ {
				res := run(t, "dpkg-query", "--admindir="+admindir, "-W", "-f", `${db:Status-Abbrev}|${Package}|${Version}|${Architecture}\n`)
				var pkgs []patchbay.Package
				var err error
				if admindir == "/var/lib/dpkg" {
					pkgs, err = New("/", nil).Packages(context.Background())
				} else {
					pkgs, err = parseStatus(mustRead(t, filepath.Join(admindir, "status")))
				}
				if err != nil {
					t.Fatal(err)
				}
				var want, got []string
				abbrevs := map[byte]int{}
				for _, line := range strings.Split(strings.TrimSpace(string(res.Stdout)), "\n") {
					f := strings.Split(line, "|")
					if len(f) != 4 || len(f[0]) < 2 {
						t.Fatalf("dpkg-query line %q", line)
					}
					abbrevs[f[0][1]]++
					if f[0][1] == 'n' || f[0][1] == 'c' {
						continue
					}
					want = append(want, f[1]+" "+f[2]+" "+f[3])
				}
				for _, p := range pkgs {
					got = append(got, p.Name+" "+p.Version+" "+p.Arch)
				}
				slices.Sort(want)
				slices.Sort(got)
				diff := cmp.Diff(want, got)
				if diff != "" && try == 0 && admindir == "/var/lib/dpkg" {
					continue
				}
				if diff != "" {
					t.Errorf("Packages differs from dpkg-query (-dpkg-query +Packages):\n%s", diff)
				}
				t.Logf("%d packages; dpkg-query states (second letter of db:Status-Abbrev): %v", len(got), fmtStates(abbrevs))
				if len(got) == 0 {
					t.Errorf("no packages: the comparison proves nothing")
				}
				return
			}
		})
	}
}

func fmtStates(m map[byte]int) string {
	var s []string
	for k, v := range m {
		s = append(s, fmt.Sprintf("%c=%d", k, v))
	}
	slices.Sort(s)
	return strings.Join(s, " ")
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestParseStatusStates checks which dpkg states count as present, on the
// constructed states file.
func TestParseStatusStates(t *testing.T) {
	pkgs, err := parseStatus(mustRead(t, "testdata/states/status"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range pkgs {
		got = append(got, p.Key())
	}
	want := []string{
		"bash:amd64",          // half-installed, reinstreq
		"dpkg:amd64",          // installed
		"libapt-pkg6.0:amd64", // installed
		"libc-bin:amd64",      // triggers-pending
		"liblzma5:amd64",      // unpacked
		"libpcre2-8-0:amd64",  // half-configured
		"pb-demo:i386",        // installed, foreign architecture
		"perl-base:amd64",     // hold ok installed
		"tzdata:all",          // triggers-awaited
		// not sed (config-files), not pb-purged (not-installed)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("present packages (-want +got):\n%s", diff)
	}
}

func TestParseStatusFields(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []patchbay.Package
	}{
		{
			name: "source with version (binNMU)",
			in:   "Package: bash\nStatus: install ok installed\nArchitecture: amd64\nSource: bash (5.2.15-2)\nVersion: 5.2.15-2+b13\n",
			want: []patchbay.Package{{Name: "bash", Arch: "amd64", Version: "5.2.15-2+b13", SourceName: "bash", SourceVersion: "5.2.15-2"}},
		},
		{
			name: "source name only",
			in:   "Package: perl-base\nStatus: install ok installed\nArchitecture: amd64\nSource: perl\nVersion: 5.36.0-7+deb12u3\n",
			want: []patchbay.Package{{Name: "perl-base", Arch: "amd64", Version: "5.36.0-7+deb12u3", SourceName: "perl", SourceVersion: "5.36.0-7+deb12u3"}},
		},
		{
			name: "no source, epoch kept",
			in:   "Package: login\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:4.13+dfsg1-1+deb12u1\n",
			want: []patchbay.Package{{Name: "login", Arch: "amd64", Version: "1:4.13+dfsg1-1+deb12u1", SourceName: "login", SourceVersion: "1:4.13+dfsg1-1+deb12u1"}},
		},
		{
			name: "CRLF, field names in any case, continuation lines, blank-only separator, comment",
			in: "# written by hand\r\npackage: a\r\nSTATUS: install ok installed\r\nArchitecture: all\r\nVersion: 1.0\r\nDescription: x\r\n more\r\n .\r\n \t\r\n" +
				"Package: b\r\nStatus: install ok installed\r\nArchitecture: amd64\r\nVersion: 2.0\r\n",
			want: []patchbay.Package{
				{Name: "a", Arch: "all", Version: "1.0", SourceName: "a", SourceVersion: "1.0"},
				{Name: "b", Arch: "amd64", Version: "2.0", SourceName: "b", SourceVersion: "2.0"},
			},
		},
		{
			name: "same name in two architectures, sorted by key",
			in: "Package: libc6\nStatus: install ok installed\nArchitecture: i386\nVersion: 2.36-9\n\n" +
				"Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36-9\n\n\n",
			want: []patchbay.Package{
				{Name: "libc6", Arch: "amd64", Version: "2.36-9", SourceName: "libc6", SourceVersion: "2.36-9"},
				{Name: "libc6", Arch: "i386", Version: "2.36-9", SourceName: "libc6", SourceVersion: "2.36-9"},
			},
		},
		{name: "empty file", in: "", want: []patchbay.Package{}},
		{name: "purged entry without version", in: "Package: gone\nStatus: purge ok not-installed\n", want: []patchbay.Package{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatus([]byte(tt.in))
			if err != nil {
				t.Fatalf("parseStatus: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseStatusErrors(t *testing.T) {
	ok := "Package: a\nStatus: install ok installed\nArchitecture: all\nVersion: 1.0\n"
	tests := []struct{ name, in string }{
		{"line without colon", ok + "garbage\n"},
		{"continuation first", " continued\n" + ok},
		{"field twice", ok + "Version: 2.0\n"},
		{"no package name", "Status: install ok installed\nArchitecture: all\nVersion: 1.0\n"},
		{"invalid package name", strings.Replace(ok, "Package: a", "Package: -a", 1)},
		{"unknown state", strings.Replace(ok, "installed", "exploded", 1)},
		{"short status", strings.Replace(ok, "install ok installed", "installed", 1)},
		{"installed without version", strings.Replace(ok, "Version: 1.0\n", "", 1)},
		{"installed without architecture", strings.Replace(ok, "Architecture: all\n", "", 1)},
		{"version with a space", strings.Replace(ok, "1.0", "1.0 beta", 1)},
		{"listed twice", ok + "\n" + ok},
		{"source unclosed", ok + "Source: a (1.0\n"},
		{"source with junk", ok + "Source: a b\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if pkgs, err := parseStatus([]byte(tt.in)); err == nil {
				t.Errorf("parseStatus: no error, got %v", pkgs)
			}
		})
	}
}

func TestPackagesReadsRoot(t *testing.T) {
	root := rootWithStatus(t, "testdata/bookworm-lab/status")
	pkgs, err := New(root, nil).Packages(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want, _ := parseStatus(mustRead(t, "testdata/bookworm-lab/status"))
	if diff := cmp.Diff(want, pkgs); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := New(t.TempDir(), nil).Packages(context.Background()); err == nil {
		t.Errorf("Packages of a root without dpkg status: no error")
	}
}

func checkPackageInvariants(t *testing.T, pkgs []patchbay.Package) {
	t.Helper()
	seen := map[string]bool{}
	for i, p := range pkgs {
		if !validName(p.Name) || !validName(p.SourceName) || !validWord(p.Version) || !validWord(p.SourceVersion) || !validWord(p.Arch) {
			t.Fatalf("package %d: invalid %+v", i, p)
		}
		if seen[p.Key()] {
			t.Fatalf("package %s twice", p.Key())
		}
		seen[p.Key()] = true
		if i > 0 && pkgs[i-1].Key() >= p.Key() {
			t.Fatalf("not sorted by key at %d: %s, %s", i, pkgs[i-1].Key(), p.Key())
		}
	}
}

// formatStatus writes packages as a dpkg status file.
func formatStatus(pkgs []patchbay.Package) []byte {
	var b bytes.Buffer
	for _, p := range pkgs {
		fmt.Fprintf(&b, "Package: %s\nStatus: install ok installed\nArchitecture: %s\nVersion: %s\nSource: %s (%s)\n\n", p.Name, p.Arch, p.Version, p.SourceName, p.SourceVersion)
	}
	return b.Bytes()
}

// FuzzParseStatus checks that whatever parseStatus accepts is a valid,
// sorted, duplicate-free package list that survives a round trip through
// the status format.
func FuzzParseStatus(f *testing.F) {
	for _, path := range []string{"testdata/states/status", "testdata/bookworm-lab/status"} {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data[:min(len(data), 4000)])
	}
	f.Add([]byte("Package: a\r\nStatus: install ok installed\r\nArchitecture: all\r\nVersion: 1:1.0~rc1-1\r\nSource: b (1.0)\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pkgs, err := parseStatus(data)
		if err != nil {
			return
		}
		checkPackageInvariants(t, pkgs)
		again, err := parseStatus(formatStatus(pkgs))
		if err != nil {
			t.Fatalf("round trip: %v", err)
		}
		if diff := cmp.Diff(pkgs, again); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}
