package lab

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Real `apt-get -s dist-upgrade` output of the base image against the
// mirror (2026-11-25), with a new dependency and an -updates line added.
const planOutput = `NOTE: This is only a simulation!
      apt-get needs root privileges for real execution.
Reading package lists...
Building dependency tree...
Calculating upgrade...
The following packages will be upgraded:
  apt libapt-pkg6.0 liblzma5 libpcre2-8-0 perl-base tzdata
6 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.
Inst perl-base [5.36.0-7+deb12u3] (5.36.0-7+deb12u4 Debian-Security:12/oldstable-security [amd64])
Conf perl-base (5.36.0-7+deb12u4 Debian-Security:12/oldstable-security [amd64])
Inst liblzma5 [5.4.1-1+deb12u1] (5.4.1-1+deb12u2 Debian-Security:12/oldstable-security [amd64])
Inst tzdata [2026b-0+deb12u1] (2026f-0+deb12u1 Debian:12.15/oldstable, Debian-Security:12/oldstable-security [all])
Inst libfoo1 (1.2-3 Debian:12.15/oldstable [amd64])
Inst ca-certificates [20230311] (20230311+deb12u1 Debian:12-updates/oldstable-updates [all])
Remv something [1.0]
`

func TestParsePlan(t *testing.T) {
	got := parsePlan([]byte(planOutput))
	want := []PendingUpdate{
		{"perl-base", "5.36.0-7+deb12u3", "5.36.0-7+deb12u4", "Debian-Security:12/oldstable-security", ArchiveSecurity},
		{"liblzma5", "5.4.1-1+deb12u1", "5.4.1-1+deb12u2", "Debian-Security:12/oldstable-security", ArchiveSecurity},
		{"tzdata", "2026b-0+deb12u1", "2026f-0+deb12u1", "Debian:12.15/oldstable, Debian-Security:12/oldstable-security", ArchiveSecurity},
		{"libfoo1", "", "1.2-3", "Debian:12.15/oldstable", ArchiveDebian},
		{"ca-certificates", "20230311", "20230311+deb12u1", "Debian:12-updates/oldstable-updates", ArchiveUpdates},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parsePlan (-want +got):\n%s", diff)
	}
}

func TestFilterPackages(t *testing.T) {
	index := "Package: a\nVersion: 1\nFilename: pool/main/a/a_1.deb\n\n" +
		"Package: b\nVersion: 2\nDescription: two\n lines\n\n" +
		"Package: b\nVersion: 3\n\n" +
		"Package: c\nVersion: 1" // no final newline
	path := filepath.Join(t.TempDir(), "Packages")
	if err := os.WriteFile(path, []byte(index), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		keep []string
		want string
	}{
		{"none", nil, ""},
		{"one version of two", []string{"b 2"}, "Package: b\nVersion: 2\nDescription: two\n lines\n\n"},
		{"first and last", []string{"a 1", "c 1"}, "Package: a\nVersion: 1\nFilename: pool/main/a/a_1.deb\n\nPackage: c\nVersion: 1\n\n"},
		{"version mismatch", []string{"a 2"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keep := map[string]bool{}
			for _, k := range tt.keep {
				keep[k] = true
			}
			got, err := filterPackages(path, keep)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	fn, err := stanzaFilename([]byte(index), "a", "1")
	if err != nil || fn != "pool/main/a/a_1.deb" {
		t.Errorf("stanzaFilename = %q, %v", fn, err)
	}
	if _, err := stanzaFilename([]byte(index), "b", "2"); err == nil {
		t.Error("stanzaFilename of a stanza without Filename succeeded")
	}
}

func TestReadReleaseFields(t *testing.T) {
	inRelease := `-----BEGIN PGP SIGNED MESSAGE-----
Hash: SHA256

Origin: Debian
Label: Debian-Security
Suite: oldstable-security
Version: 12
Codename: bookworm-security
Date: Tue, 24 Nov 2026 20:11:08 UTC
Components: updates/main updates/contrib
Description: Debian 12 - Security Updates
SHA256:
 0123 456 main/binary-amd64/Packages
-----BEGIN PGP SIGNATURE-----
Origin: Evil
`
	path := filepath.Join(t.TempDir(), "InRelease")
	if err := os.WriteFile(path, []byte(inRelease), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := readReleaseFields(path)
	if err != nil {
		t.Fatal(err)
	}
	want := releaseFields{Origin: "Debian", Label: "Debian-Security", Suite: "oldstable-security", Codename: "bookworm-security", Version: "12"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	os.WriteFile(path, []byte("Label: x\n"), 0o644)
	if _, err := readReleaseFields(path); err == nil {
		t.Error("a Release without Origin was accepted")
	}
}

func TestHostIP(t *testing.T) {
	tests := []struct {
		i    int
		want string
	}{{1, "169.254.78.1"}, {254, "169.254.78.254"}, {255, "169.254.79.1"}, {1000, "169.254.81.238"}}
	for _, tt := range tests {
		if got := hostIP(tt.i); got != tt.want {
			t.Errorf("hostIP(%d) = %s, want %s", tt.i, got, tt.want)
		}
	}
}

func TestLabOfPath(t *testing.T) {
	tests := []struct{ path, want string }{
		{"/var/tmp/patchbay-lab/pblab-ab12/hosts/h1/root", "ab12"},
		{"/run/netns/pblab-ab12-h1", ""}, // a netns name, not a lab dir
		{"/var/tmp/patchbay-lab", ""},
		{"/x/pblab-UPPER/y", ""},
	}
	for _, tt := range tests {
		if got := labOfPath(tt.path); got != tt.want {
			t.Errorf("labOfPath(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}

func TestUnescapeMount(t *testing.T) {
	tests := []struct{ in, want string }{
		{`/a/b`, `/a/b`},
		{`/a\040b`, `/a b`},
		{`/tab\011x\134`, "/tab\tx\\"},
		{`/end\04`, `/end\04`},
	}
	for _, tt := range tests {
		if got := unescapeMount(tt.in); got != tt.want {
			t.Errorf("unescapeMount(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDebSpec(t *testing.T) {
	tests := []struct {
		name    string
		spec    DebSpec
		wantErr string
	}{
		{"demo", DemoApp("1.0-1"), ""},
		{"epoch", DebSpec{Name: "x1", Version: "2:1.0"}, ""},
		{"bad name", DebSpec{Name: "X", Version: "1"}, "invalid package name"},
		{"shell in name", DebSpec{Name: "a;rm", Version: "1"}, "invalid package name"},
		{"bad version", DebSpec{Name: "ab", Version: "one"}, "invalid version"},
		{"relative file", DebSpec{Name: "ab", Version: "1", Files: map[string]string{"etc/x": ""}}, "absolute and clean"},
		{"escaping file", DebSpec{Name: "ab", Version: "1", Files: map[string]string{"/etc/../../x": ""}}, "absolute and clean"},
		{"file and conffile", DebSpec{Name: "ab", Version: "1", Files: map[string]string{"/etc/x": ""}, Conffiles: map[string]string{"/etc/x": ""}}, "both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.spec.validate()
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("validate() = %v, want %q", err, tt.wantErr)
			}
		})
	}
	s := DebSpec{Name: "demo-lib", Version: "1:2.0-1", Depends: []string{"libc6 (>= 2.36)", "demo-app"}, Description: "first\nsecond"}
	if got := s.fileName(); got != "demo-lib_1%3a2.0-1_all.deb" {
		t.Errorf("fileName = %s", got)
	}
	wantControl := "Package: demo-lib\nVersion: 1:2.0-1\nArchitecture: all\nMaintainer: Patchbay Lab <lab@patchbay.invalid>\n" +
		"Section: misc\nPriority: optional\nDepends: libc6 (>= 2.36), demo-app\nDescription: first\n second\n"
	if diff := cmp.Diff(wantControl, s.control()); diff != "" {
		t.Errorf("control (-want +got):\n%s", diff)
	}
}
