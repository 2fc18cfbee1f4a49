package rpm

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// golden compares got, as indented JSON, with testdata/golden/name.json,
// or rewrites that file under -update.
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

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseQueryGolden(t *testing.T) {
	tests := []struct {
		name, input string
		wantCount   int // records less gpg-pubkey: counted by hand from the input
	}{
		{"lab-rpm-qa", "lab/rpm-qa.stdout", 10},
		{"lab-rpm-qa-upgraded", "lab/rpm-qa-upgraded.stdout", 11},
		{"synthetic-almalinux9-rpm-qa", "synthetic-almalinux9-rpm-qa.txt", 80},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkgs, err := parseQuery(readTestdata(t, tt.input))
			if err != nil {
				t.Fatal(err)
			}
			if len(pkgs) != tt.wantCount {
				t.Errorf("got %d packages, want %d", len(pkgs), tt.wantCount)
			}
			checkPackages(t, pkgs)
			golden(t, tt.name, pkgs)
		})
	}
}

// TestParseQueryFields pins the conversions that matter, on real lines of
// the lab capture and the synthetic AlmaLinux sample.
func TestParseQueryFields(t *testing.T) {
	tests := []struct {
		name, line string
		want       []patchbay.Package
	}{
		{"no epoch", "demo-app-libs\t(none)\t1.0\t1.el9\tnoarch\tdemo-app-1.0-1.el9.src.rpm",
			[]patchbay.Package{{Name: "demo-app-libs", Arch: "noarch", Version: "1.0-1.el9", SourceName: "demo-app", SourceVersion: "1.0-1.el9"}}},
		{"epoch", "demo-epoch\t2\t3.1\t1.el9\tnoarch\tdemo-epoch-3.1-1.el9.src.rpm",
			[]patchbay.Package{{Name: "demo-epoch", Arch: "noarch", Version: "2:3.1-1.el9", SourceName: "demo-epoch", SourceVersion: "2:3.1-1.el9"}}},
		{"epoch 0 left out", "demo-zero-epoch\t0\t1.0\t1.el9\tnoarch\tdemo-zero-epoch-1.0-1.el9.src.rpm",
			[]patchbay.Package{{Name: "demo-zero-epoch", Arch: "noarch", Version: "1.0-1.el9", SourceName: "demo-zero-epoch", SourceVersion: "1.0-1.el9"}}},
		{"source of another name", "openssl-libs\t1\t3.5.5\t4.el9_8\tx86_64\topenssl-3.5.5-4.el9_8.src.rpm",
			[]patchbay.Package{{Name: "openssl-libs", Arch: "x86_64", Version: "1:3.5.5-4.el9_8", SourceName: "openssl", SourceVersion: "1:3.5.5-4.el9_8"}}},
		{"gpg-pubkey left out", "gpg-pubkey\t(none)\tb86b3716\t61e69f29\t(none)\t(none)", nil},
		{"no source", "fake\t(none)\t1\t1\tx86_64\t(none)",
			[]patchbay.Package{{Name: "fake", Arch: "x86_64", Version: "1-1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseQuery([]byte(tt.line + "\n"))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("-want +got:\n%s", diff)
			}
		})
	}
}

func TestParseQueryErrors(t *testing.T) {
	tests := []struct{ name, input string }{
		{"too few fields", "bash\t(none)\t5.1.8\t6.el9_1\tx86_64\n"},
		{"too many fields", "bash\t(none)\t5.1.8\t6.el9_1\tx86_64\tbash-5.1.8-6.el9_1.src.rpm\textra\n"},
		{"space separated", "bash (none) 5.1.8 6.el9_1 x86_64 bash-5.1.8-6.el9_1.src.rpm\n"},
		{"bad epoch", "bash\tx\t5.1.8\t6.el9_1\tx86_64\tbash-5.1.8-6.el9_1.src.rpm\n"},
		{"negative epoch", "bash\t-1\t5.1.8\t6.el9_1\tx86_64\tbash-5.1.8-6.el9_1.src.rpm\n"},
		{"empty release", "bash\t(none)\t5.1.8\t\tx86_64\tbash-5.1.8-6.el9_1.src.rpm\n"},
		{"dash in version", "bash\t(none)\t5-1\t6\tx86_64\tbash-5.1.8-6.el9_1.src.rpm\n"},
		{"bad name", "-bash\t(none)\t5.1.8\t6.el9_1\tx86_64\tbash-5.1.8-6.el9_1.src.rpm\n"},
		{"bad arch", "bash\t(none)\t5.1.8\t6.el9_1\tx86 64\tbash-5.1.8-6.el9_1.src.rpm\n"},
		{"bad source rpm", "bash\t(none)\t5.1.8\t6.el9_1\tx86_64\tbash.tar.gz\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if pkgs, err := parseQuery([]byte(tt.input)); err == nil {
				t.Errorf("no error; parsed %+v", pkgs)
			}
		})
	}
}

func TestSplitSourceRPM(t *testing.T) {
	tests := []struct {
		in, name, vr string
		ok           bool
	}{
		{"openssl-3.0.7-27.el9.src.rpm", "openssl", "3.0.7-27.el9", true},
		{"python3.9-3.9.25-7.el9_8.3.src.rpm", "python3.9", "3.9.25-7.el9_8.3", true},
		{"glibc-2.34-274.el9_8.nosrc.rpm", "glibc", "2.34-274.el9_8", true},
		{"NetworkManager-1.54.3-2.el9.src.rpm", "NetworkManager", "1.54.3-2.el9", true},
		{"(none)", "", "", false},
		{"openssl.src.rpm", "", "", false},
		{"3.0.7-27.el9.src.rpm", "", "", false},
		{"openssl-3.0.7-27.el9.x86_64.rpm", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			name, vr, ok := splitSourceRPM(tt.in)
			if name != tt.name || vr != tt.vr || ok != tt.ok {
				t.Errorf("splitSourceRPM(%q) = %q, %q, %v; want %q, %q, %v", tt.in, name, vr, ok, tt.name, tt.vr, tt.ok)
			}
		})
	}
}

// labUpdates is check-update's list in the lab of testdata/capture.sh, as
// that script says it built it.
var labUpdates = []available{
	{NEVRA: NEVRA{Name: "demo-app", Version: "1.0-2.el9", Arch: "noarch"}, Repo: "lab"},
	{NEVRA: NEVRA{Name: "demo-app-libs", Version: "1.0-2.el9", Arch: "noarch"}, Repo: "lab"},
	{NEVRA: NEVRA{Name: "demo-epoch", Version: "2:3.2-1.el9", Arch: "noarch"}, Repo: "lab"},
	{NEVRA: NEVRA{Name: "demo-library-with-a-deliberately-very-long-package-name-for-wrapping", Version: "1.0-2.el9", Arch: "noarch"}, Repo: "lab"},
	{NEVRA: NEVRA{Name: "demo-native", Version: "0.9-2.el9", Arch: "x86_64"}, Repo: "lab"},
	{NEVRA: NEVRA{Name: "kernel", Version: "5.14.0-503.11.1.el9_5", Arch: "x86_64"}, Repo: "lab"},
	{NEVRA: NEVRA{Name: "demo-new", Version: "2.0-1.el9", Arch: "noarch"}, Repo: "lab", Obsoleting: true, Obsoletes: []string{"demo-old.noarch"}},
}

func TestParseCheckUpdate(t *testing.T) {
	tests := []struct {
		name, input string
		want        []available
	}{
		// The three real forms of one list: with notices, quiet, and
		// wrapped on an 80-column terminal (CRLF line ends).
		{"check-update", "lab/check-update.stdout", labUpdates},
		{"check-update-q", "lab/check-update-q.stdout", labUpdates},
		{"check-update-tty80", "lab/check-update-tty80.stdout", labUpdates},
		{"check-update-none", "lab/check-update-none.stdout", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseCheckUpdate(readTestdata(t, tt.input))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("-want +got:\n%s", diff)
			}
			golden(t, "lab-"+tt.name, got)
		})
	}
}

// TestParseCheckUpdateForms covers layouts the lab cannot produce: yum's
// wrapping of the repository column, the notices of RHEL's dnf.
func TestParseCheckUpdateForms(t *testing.T) {
	tests := []struct {
		name, input string
		want        []available
		wantErr     bool
	}{
		{
			name: "version and repo each on their own line",
			input: "a-very-long-name.x86_64\n" +
				"                    1:2.0-1.el7_9.extremely.long.release.string\n" +
				"                                                 updates\n",
			want: []available{{NEVRA: NEVRA{Name: "a-very-long-name", Version: "1:2.0-1.el7_9.extremely.long.release.string", Arch: "x86_64"}, Repo: "updates"}},
		},
		{
			name: "repo wrapped",
			input: "grub2.x86_64   1:2.02-0.87.el7.centos.7.an.even.longer.release\n" +
				"                       updates\n",
			want: []available{{NEVRA: NEVRA{Name: "grub2", Version: "1:2.02-0.87.el7.centos.7.an.even.longer.release", Arch: "x86_64"}, Repo: "updates"}},
		},
		{
			name: "notices skipped",
			input: "Last metadata expiration check: 0:12:01 ago on Mon 01 Jan 2026 10:00:00 AM UTC.\n\n" +
				"bash.x86_64 5.1.8-9.el9 baseos\n" +
				"Security: kernel-core-5.14.0-427.13.1.el9_4.x86_64 is an installed security update\n" +
				"Security: kernel-core-5.14.0-362.8.1.el9_3.x86_64 is the currently running version\n",
			want: []available{{NEVRA: NEVRA{Name: "bash", Version: "5.1.8-9.el9", Arch: "x86_64"}, Repo: "baseos"}},
		},
		{
			name: "yum obsoletes itself",
			input: "grub2.x86_64  1:2.02-0.87.el7.centos.7  updates\n" +
				"Obsoleting Packages\n" +
				"grub2.x86_64  1:2.02-0.87.el7.centos.7  updates\n" +
				"    grub2.x86_64  1:2.02-0.86.el7.centos  @updates\n" +
				"    grub2-tools.x86_64  1:2.02-0.86.el7.centos  @updates\n",
			want: []available{
				{NEVRA: NEVRA{Name: "grub2", Version: "1:2.02-0.87.el7.centos.7", Arch: "x86_64"}, Repo: "updates"},
				{NEVRA: NEVRA{Name: "grub2", Version: "1:2.02-0.87.el7.centos.7", Arch: "x86_64"}, Repo: "updates", Obsoleting: true, Obsoletes: []string{"grub2.x86_64", "grub2-tools.x86_64"}},
			},
		},
		{name: "record cut short at the end", input: "bash.x86_64\n", wantErr: true},
		{name: "record cut by a blank line", input: "bash.x86_64 5.1.8-9.el9\n\nzsh.x86_64 5.8-9.el9 baseos\n", wantErr: true},
		{name: "continuation too long", input: "bash.x86_64\n  5.1.8-9.el9 baseos extra\n", wantErr: true},
		{name: "no arch", input: "bash 5.1.8-9.el9 baseos\n", wantErr: true},
		{name: "no release", input: "bash.x86_64 5.1.8 baseos\n", wantErr: true},
		{name: "obsoleted without obsoleting", input: "Obsoleting Packages\n    grub2.x86_64 1:2.02-0.86.el7 @updates\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseCheckUpdate([]byte(tt.input))
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

func TestParseUpdateinfo(t *testing.T) {
	sec := func(id, sev, name, version, arch string) advisory {
		return advisory{ID: id, Type: sev, NEVRA: NEVRA{Name: name, Version: version, Arch: arch}}
	}
	long := "demo-library-with-a-deliberately-very-long-package-name-for-wrapping"
	security := []advisory{
		sec("LAB-2026:0001", "Important/Sec.", "demo-app", "1.0-2.el9", "noarch"),
		sec("LAB-2026:0001", "Important/Sec.", "demo-app-libs", "1.0-2.el9", "noarch"),
		sec("LAB-2026:0004", "Low/Sec.", long, "1.0-2.el9", "noarch"),
		sec("LAB-2026:0003", "Moderate/Sec.", "demo-native", "0.9-2.el9", "x86_64"),
		sec("LAB-2026:0005", "Important/Sec.", "kernel", "5.14.0-503.11.1.el9_5", "x86_64"),
	}
	all := append(security[:2:2], sec("LAB-2026:0002", "bugfix", "demo-epoch", "2:3.2-1.el9", "noarch"))
	all = append(all, security[2:]...)
	tests := []struct {
		name, input string
		want        []advisory
	}{
		{"updateinfo-security-q", "lab/updateinfo-security-q.stdout", security},
		{"updateinfo-all", "lab/updateinfo-all.stdout", all},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseUpdateinfo(readTestdata(t, tt.input))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("-want +got:\n%s", diff)
			}
			for _, a := range got {
				if wantSec := a.ID != "LAB-2026:0002"; a.Security() != wantSec {
					t.Errorf("%s Security() = %v, want %v", a.ID, a.Security(), wantSec)
				}
			}
			golden(t, "lab-"+tt.name, got)
		})
	}
	// yum's form (EL7), written after yum-plugin-security's documentation:
	// the same columns and a closing line.
	yum := "RHSA-2019:1235 Important/Sec. ruby-libs-2.0.0.648-35.el7_6.x86_64\nupdateinfo list done\n"
	got, err := parseUpdateinfo([]byte(yum))
	if err != nil {
		t.Fatal(err)
	}
	want := []advisory{sec("RHSA-2019:1235", "Important/Sec.", "ruby-libs", "2.0.0.648-35.el7_6", "x86_64")}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("yum form: -want +got:\n%s", diff)
	}
	if _, err := parseUpdateinfo([]byte("RHSA-2019:1235 Important/Sec. not-a-nevra\n")); err == nil {
		t.Error("no error for a three-word line without a NEVRA")
	}
}

func TestParseNeedsRestarting(t *testing.T) {
	tests := []struct {
		input       string
		reboot, ok  bool
		wantReasons []string
	}{
		{"lab/needs-restarting-r.stdout", true, true, []string{"kernel updated since boot"}},
		{"lab/needs-restarting-r-none.stdout", false, true, nil},
		{"lab/needs-restarting-r-noplugin.stdout", false, false, nil},
		{"lab/needs-restarting-r-noplugin.stderr", false, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.input, func(t *testing.T) {
			reboot, reasons, ok := parseNeedsRestarting(readTestdata(t, tt.input))
			if reboot != tt.reboot || ok != tt.ok {
				t.Errorf("got reboot %v ok %v, want %v %v", reboot, ok, tt.reboot, tt.ok)
			}
			if diff := cmp.Diff(tt.wantReasons, reasons); diff != "" {
				t.Errorf("reasons -want +got:\n%s", diff)
			}
		})
	}
}

// checkPackages asserts what every parsed package must satisfy.
func checkPackages(t *testing.T, pkgs []patchbay.Package) {
	t.Helper()
	for _, p := range pkgs {
		if !ValidName(p.Name) {
			t.Errorf("%+v: invalid name", p)
		}
		if p.Arch != "" && !validArch(p.Arch) {
			t.Errorf("%+v: invalid arch", p)
		}
		if e, err := ParseEVR(p.Version); err != nil || e.Release == "" || e.String() != p.Version {
			t.Errorf("%+v: version does not parse back to itself (%v)", p, err)
		}
		if (p.SourceName == "") != (p.SourceVersion == "") {
			t.Errorf("%+v: source name without version or the reverse", p)
		}
		if p.SourceName != "" {
			if !ValidName(p.SourceName) {
				t.Errorf("%+v: invalid source name", p)
			}
			if _, err := ParseEVR(p.SourceVersion); err != nil {
				t.Errorf("%+v: source version: %v", p, err)
			}
		}
	}
}

func FuzzParseQuery(f *testing.F) {
	for _, name := range []string{"lab/rpm-qa.stdout", "lab/rpm-qa-upgraded.stdout", "synthetic-almalinux9-rpm-qa.txt"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("a\t0\t1\t1\tx\ta-1-1.src.rpm\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		pkgs, err := parseQuery(b)
		if err != nil {
			return
		}
		checkPackages(t, pkgs)
		if lines := strings.Count(string(b), "\n") + 1; len(pkgs) > lines {
			t.Errorf("%d packages from %d lines", len(pkgs), lines)
		}
	})
}

func FuzzParseCheckUpdate(f *testing.F) {
	for _, name := range []string{"lab/check-update.stdout", "lab/check-update-tty80.stdout"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		list, err := parseCheckUpdate(b)
		if err != nil {
			return
		}
		for _, a := range list {
			if !ValidName(a.Name) || !validArch(a.Arch) {
				t.Errorf("%+v: invalid name or arch", a)
			}
			if e, err := ParseEVR(a.Version); err != nil || e.Release == "" {
				t.Errorf("%+v: version does not parse", a)
			}
			if a.Repo == "" || strings.IndexFunc(a.Repo, unicode.IsSpace) >= 0 {
				t.Errorf("%+v: bad repo", a)
			}
			if len(a.Obsoletes) > 0 && !a.Obsoleting {
				t.Errorf("%+v: obsoletes without obsoleting", a)
			}
			if !strings.Contains(string(b), a.Name+"."+a.Arch) {
				t.Errorf("%+v: name.arch not in the input", a)
			}
		}
	})
}

func FuzzParseUpdateinfo(f *testing.F) {
	b, err := os.ReadFile(filepath.Join("testdata", "lab/updateinfo-all.stdout"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		list, err := parseUpdateinfo(b)
		if err != nil {
			return
		}
		for _, a := range list {
			if a.ID == "" || a.Type == "" || !ValidName(a.Name) || !validArch(a.Arch) {
				t.Errorf("%+v: empty or invalid field", a)
			}
			if e, err := ParseEVR(a.Version); err != nil || e.Release == "" {
				t.Errorf("%+v: version does not parse", a)
			}
		}
	})
}

func FuzzParseNeedsRestarting(f *testing.F) {
	for _, name := range []string{"lab/needs-restarting-r.stdout", "lab/needs-restarting-r-none.stdout"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		reboot, reasons, ok := parseNeedsRestarting(b)
		if reboot && (!ok || len(reasons) == 0) {
			t.Errorf("reboot with ok %v and reasons %q", ok, reasons)
		}
		if !reboot && len(reasons) > 0 {
			t.Errorf("no reboot but reasons %q", reasons)
		}
		for _, r := range reasons {
			if r == "" || strings.Contains(r, "\n") {
				t.Errorf("bad reason %q", r)
			}
		}
	})
}

// TestCaptureScriptQueryFormat keeps capture.sh asking rpm for what
// parseQuery reads.
func TestCaptureScriptQueryFormat(t *testing.T) {
	if script := string(readTestdata(t, "capture.sh")); !strings.Contains(script, "qf='"+queryFormat+"'") {
		t.Errorf("testdata/capture.sh does not use queryFormat %q", queryFormat)
	}
}
