package deb

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/pkgmgr"
)

// scriptRunner is a fake at the process boundary: it answers each command
// with the first reply whose argv prefix matches, records every command,
// and fails the test on a command it has no reply for.
type scriptRunner struct {
	t       *testing.T
	replies []reply
	calls   []string
}

type reply struct {
	prefix string // argv joined by spaces
	res    pkgmgr.Result
	times  int // 0: any number of times
	used   int
}

func (r *scriptRunner) Run(_ context.Context, c pkgmgr.Cmd) (pkgmgr.Result, error) {
	argv := strings.Join(append([]string{c.Path}, c.Args...), " ")
	r.calls = append(r.calls, argv)
	if c.Timeout <= 0 {
		r.t.Errorf("%s: no timeout", argv)
	}
	for i := range r.replies {
		rp := &r.replies[i]
		if strings.HasPrefix(argv, rp.prefix) && (rp.times == 0 || rp.used < rp.times) {
			rp.used++
			return rp.res, nil
		}
	}
	r.t.Errorf("unexpected command %q", argv)
	return pkgmgr.Result{ExitCode: -1}, errors.New("unexpected command")
}

const demoPolicy = `demo-app:
  Installed: 1.0-1
  Candidate: 1.0-3
  Version table:
     1.0-3 500
        500 http://169.254.77.1/lab ./ Packages
 *** 1.0-1 100
        100 /var/lib/dpkg/status
`

func TestValidateRefusesBeforeAnyCommand(t *testing.T) {
	tests := []struct {
		name string
		pkg  patchbay.PackageVersion
	}{
		{"option as name", patchbay.PackageVersion{Name: "-oAPT::Foo=1", Version: "1.0"}},
		{"shell in name", patchbay.PackageVersion{Name: "demo;rm", Version: "1.0"}},
		{"blank in name", patchbay.PackageVersion{Name: "demo app", Version: "1.0"}},
		{"empty name", patchbay.PackageVersion{Name: "", Version: "1.0"}},
		{"name with =", patchbay.PackageVersion{Name: "demo=1", Version: "1.0"}},
		{"name with colon", patchbay.PackageVersion{Name: "demo:i386", Version: "1.0"}},
		{"empty version", patchbay.PackageVersion{Name: "demo", Version: ""}},
		{"version with blank", patchbay.PackageVersion{Name: "demo", Version: "1.0 "}},
		{"version with leading blank", patchbay.PackageVersion{Name: "demo", Version: " 1.0"}},
		{"version not starting with digit", patchbay.PackageVersion{Name: "demo", Version: "a1.0"}},
		{"version with shell", patchbay.PackageVersion{Name: "demo", Version: "1.0;reboot"}},
		{"version with newline", patchbay.PackageVersion{Name: "demo", Version: "1.0\n-y"}},
		{"version with bad epoch", patchbay.PackageVersion{Name: "demo", Version: "x:1.0"}},
		{"version with =", patchbay.PackageVersion{Name: "demo", Version: "1.0=2"}},
		{"upper-case arch", patchbay.PackageVersion{Name: "demo", Arch: "AMD64", Version: "1.0"}},
		{"arch with option", patchbay.PackageVersion{Name: "demo", Arch: "-y", Version: "1.0"}},
		{"arch with colon", patchbay.PackageVersion{Name: "demo", Arch: "amd64:x", Version: "1.0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &scriptRunner{t: t}
			m := New("/", r)
			pkgs := []patchbay.PackageVersion{{Name: "ok", Version: "1.0-1"}, tt.pkg}
			if err := m.Validate(pkgs); patchbay.ErrorCode(err) != patchbay.EINVALID {
				t.Errorf("Validate(%+v) = %v, want an invalid error", tt.pkg, err)
			}
			if _, err := m.Install(context.Background(), pkgs); err == nil {
				t.Errorf("Install(%+v) succeeded", tt.pkg)
			}
			if len(r.calls) > 0 {
				t.Errorf("commands ran for an invalid package: %q", r.calls)
			}
		})
	}
}

func TestValidateAccepts(t *testing.T) {
	m := New("/", &scriptRunner{t: t})
	ok := []patchbay.PackageVersion{
		{Name: "perl-base", Version: "5.36.0-7+deb12u4"},
		{Name: "libstdc++6", Arch: "amd64", Version: "12.2.0-14+deb12u1"},
		{Name: "tzdata", Arch: "all", Version: "2026f-0+deb12u1"},
		{Name: "libc6", Arch: "i386", Version: "2.36-9+deb12u14"},
		{Name: "vim", Version: "2:9.0.1378-2+deb12u2"},
		{Name: "demo-app", Version: "1.0~rc1-1"},
	}
	if err := m.Validate(ok); err != nil {
		t.Fatal(err)
	}
}

func TestInstallArgv(t *testing.T) {
	r := &scriptRunner{t: t, replies: []reply{
		{prefix: "dpkg --print-architecture", res: pkgmgr.Result{Stdout: []byte("amd64\n")}},
		{prefix: "apt-cache policy", res: pkgmgr.Result{Stdout: []byte(demoPolicy + `tzdata:
  Installed: 2026b-0+deb12u1
  Candidate: 2026f-0+deb12u1
  Version table:
     2026f-0+deb12u1 500
        500 http://169.254.77.1/debian-security bookworm-security/main amd64 Packages
 *** 2026b-0+deb12u1 500
        500 http://169.254.77.1/debian bookworm/main amd64 Packages
        100 /var/lib/dpkg/status
`)}},
		{prefix: "apt-get ", res: pkgmgr.Result{Stdout: []byte("Setting up demo-app (1.0-3) ...\n")}},
	}}
	m := New("/", r, WithLockTimeout(90e9))
	out, err := m.Install(context.Background(), []patchbay.PackageVersion{
		{Name: "demo-app", Version: "1.0-3"},
		{Name: "tzdata", Arch: "all", Version: "2026f-0+deb12u1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "Setting up demo-app") {
		t.Errorf("output %q", out)
	}
	want := []string{
		"dpkg --print-architecture",
		"apt-cache policy demo-app tzdata:all",
		"apt-get -q -y --no-install-recommends --no-remove" +
			" -o Dpkg::Options::=--force-confold -o Dpkg::Options::=--force-confdef -o Dpkg::Use-Pty=0" +
			" -o APT::Get::allow-downgrades=false -o APT::Get::allow-change-held-packages=false" +
			" -o APT::Get::allow-remove-essential=false -o DPkg::Lock::Timeout=90" +
			" install demo-app=1.0-3 tzdata:all=2026f-0+deb12u1",
	}
	if diff := cmp.Diff(want, r.calls); diff != "" {
		t.Errorf("commands (-want +got):\n%s", diff)
	}
}

func TestInstallEnvironment(t *testing.T) {
	var env []string
	r := runnerFunc(func(c pkgmgr.Cmd) pkgmgr.Result {
		switch c.Path {
		case "dpkg":
			return pkgmgr.Result{Stdout: []byte("amd64\n")}
		case "apt-cache":
			return pkgmgr.Result{Stdout: []byte(demoPolicy)}
		}
		env = c.Env
		return pkgmgr.Result{}
	})
	if _, err := New("/", r).Install(context.Background(), []patchbay.PackageVersion{{Name: "demo-app", Version: "1.0-3"}}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"DEBIAN_FRONTEND=noninteractive", "NEEDRESTART_SUSPEND=1", "APT_LISTCHANGES_FRONTEND=none", "UCF_FORCE_CONFFOLD=1"} {
		if !strings.Contains(strings.Join(env, " "), want) {
			t.Errorf("apt-get env %q lacks %s", env, want)
		}
	}
}

type runnerFunc func(pkgmgr.Cmd) pkgmgr.Result

func (f runnerFunc) Run(_ context.Context, c pkgmgr.Cmd) (pkgmgr.Result, error) { return f(c), nil }

func TestInstallUnavailable(t *testing.T) {
	tests := []struct {
		name    string
		pkg     patchbay.PackageVersion
		policy  string
		wantErr string
	}{
		{
			name:    "other version",
			pkg:     patchbay.PackageVersion{Name: "demo-app", Version: "1.0-2"},
			policy:  demoPolicy,
			wantErr: "demo-app 1.0-2 is not available from any source; available: 1.0-3",
		},
		{
			name:    "unknown package",
			pkg:     patchbay.PackageVersion{Name: "no-such-pkg", Version: "1.0"},
			policy:  "",
			wantErr: "no-such-pkg 1.0 is not available from any source; apt knows no package no-such-pkg",
		},
		{
			name:    "foreign architecture not known",
			pkg:     patchbay.PackageVersion{Name: "demo-app", Arch: "i386", Version: "1.0-3"},
			policy:  demoPolicy,
			wantErr: "demo-app:i386 1.0-3 is not available from any source; apt knows no package demo-app:i386",
		},
		{
			name: "only in the dpkg status",
			pkg:  patchbay.PackageVersion{Name: "demo-app", Version: "0.9-1"},
			policy: `demo-app:
  Installed: 1.0-1
  Candidate: 1.0-1
  Version table:
 *** 1.0-1 100
        100 /var/lib/dpkg/status
`,
			wantErr: "demo-app 0.9-1 is not available from any source; available: none",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &scriptRunner{t: t, replies: []reply{
				{prefix: "dpkg --print-architecture", res: pkgmgr.Result{Stdout: []byte("amd64\n")}},
				{prefix: "apt-cache policy", res: pkgmgr.Result{Stdout: []byte(tt.policy)}},
			}}
			_, err := New("/", r).Install(context.Background(), []patchbay.PackageVersion{tt.pkg})
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			}
			for _, c := range r.calls {
				if strings.HasPrefix(c, "apt-get") {
					t.Errorf("apt-get ran: %s", c)
				}
			}
		})
	}
}

func TestInstallInstalledVersionNeedsNoSource(t *testing.T) {
	r := &scriptRunner{t: t, replies: []reply{
		{prefix: "dpkg --print-architecture", res: pkgmgr.Result{Stdout: []byte("amd64\n")}},
		{prefix: "apt-cache policy", res: pkgmgr.Result{Stdout: []byte(demoPolicy)}},
		{prefix: "apt-get ", res: pkgmgr.Result{Stdout: []byte("demo-app is already the newest version (1.0-1).\n")}},
	}}
	if _, err := New("/", r).Install(context.Background(), []patchbay.PackageVersion{{Name: "demo-app", Version: "1.0-1"}}); err != nil {
		t.Fatal(err)
	}
}

func TestInstallFailureKeepsOutput(t *testing.T) {
	r := &scriptRunner{t: t, replies: []reply{
		{prefix: "dpkg --print-architecture", res: pkgmgr.Result{Stdout: []byte("amd64\n")}},
		{prefix: "apt-cache policy", res: pkgmgr.Result{Stdout: []byte(demoPolicy)}},
		{prefix: "apt-get ", res: pkgmgr.Result{
			ExitCode: 100,
			Stdout:   []byte("Setting up demo-app (1.0-3) ...\n"),
			// As dpkg and apt write it (bookworm).
			Stderr: []byte("demo-app: postinst fails on purpose\n" +
				"dpkg: error processing package demo-app (--configure):\n" +
				" installed demo-app package post-installation script subprocess returned error exit status 1\n" +
				"Errors were encountered while processing:\n demo-app\n" +
				"E: Sub-process /usr/bin/dpkg returned an error code (1)\n"),
		}},
	}}
	out, err := New("/", r).Install(context.Background(), []patchbay.PackageVersion{{Name: "demo-app", Version: "1.0-3"}})
	if err == nil || !strings.Contains(err.Error(), "exit 100: dpkg: error processing package demo-app (--configure):; E: Sub-process /usr/bin/dpkg returned an error code (1)") {
		t.Errorf("err = %v", err)
	}
	if !strings.Contains(string(out), "postinst fails on purpose") || !strings.Contains(string(out), "Setting up") {
		t.Errorf("output %q", out)
	}
}

func TestInstallOtherRootRefused(t *testing.T) {
	r := &scriptRunner{t: t}
	m := New(t.TempDir(), r)
	if _, err := m.Install(context.Background(), []patchbay.PackageVersion{{Name: "demo-app", Version: "1.0-1"}}); err == nil {
		t.Error("Install on another root succeeded")
	}
	if _, _, err := m.Repair(context.Background()); err == nil {
		t.Error("Repair on another root succeeded")
	}
	if len(r.calls) > 0 {
		t.Errorf("commands ran: %q", r.calls)
	}
}

const auditHalfConfigured = `The following packages are only half configured, probably due to problems
configuring them the first time.  The configuration should be retried using
dpkg --configure <package> or the configure menu option in dselect:
 pb-block             Patchbay lab test package pb-block
`

func TestRepair(t *testing.T) {
	tests := []struct {
		name         string
		replies      []reply
		wantRepaired bool
		wantErr      string
		wantCalls    []string
	}{
		{
			name:      "clean",
			replies:   []reply{{prefix: "dpkg --audit", res: pkgmgr.Result{}}},
			wantCalls: []string{"dpkg --audit"},
		},
		{
			name: "interrupted",
			replies: []reply{
				{prefix: "dpkg --audit", times: 1, res: pkgmgr.Result{ExitCode: 1, Stdout: []byte(auditHalfConfigured)}},
				{prefix: "dpkg --force-confold --force-confdef --configure -a", res: pkgmgr.Result{Stdout: []byte("Setting up pb-block (1.0-1) ...\n")}},
				{prefix: "dpkg --audit", res: pkgmgr.Result{}},
			},
			wantRepaired: true,
			wantCalls:    []string{"dpkg --audit", "dpkg --force-confold --force-confdef --configure -a", "dpkg --audit"},
		},
		{
			name: "postinst keeps failing",
			replies: []reply{
				{prefix: "dpkg --audit", res: pkgmgr.Result{ExitCode: 1, Stdout: []byte(auditHalfConfigured)}},
				{prefix: "dpkg --force-confold", res: pkgmgr.Result{ExitCode: 1, Stderr: []byte("dpkg: error processing package pb-fail (--configure):\n installed pb-fail package post-installation script subprocess returned error exit status 1\nErrors were encountered while processing:\n pb-fail\n")}},
			},
			wantRepaired: true,
			wantErr:      "dpkg --configure -a: exit 1: installed pb-fail package post-installation script subprocess returned error exit status 1; Errors were encountered while processing:; pb-fail",
			wantCalls:    []string{"dpkg --audit", "dpkg --force-confold --force-confdef --configure -a"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &scriptRunner{t: t, replies: tt.replies}
			repaired, out, err := New("/", r).Repair(context.Background())
			if repaired != tt.wantRepaired {
				t.Errorf("repaired = %v", repaired)
			}
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr) {
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			}
			if tt.wantRepaired && !strings.Contains(string(out), "half configured") {
				t.Errorf("output lacks the audit: %q", out)
			}
			if diff := cmp.Diff(tt.wantCalls, r.calls); diff != "" {
				t.Errorf("commands (-want +got):\n%s", diff)
			}
		})
	}
}

func TestInstalledFromDpkgQuery(t *testing.T) {
	out := "demo-app\tall\t1.0-2\tinstall ok installed\n" +
		"pb-block\tall\t1.0-1\tinstall ok half-configured\n" +
		"libc6\ti386\t2.36-9\tinstall ok installed\n" +
		"libc6\tamd64\t2.36-9+deb12u14\thold ok installed\n" +
		"gone\tamd64\t1.0\tdeinstall ok config-files\n" +
		"pb-fail\tall\t1.0-1\tinstall reinstreq half-installed\n"
	r := &scriptRunner{t: t, replies: []reply{
		{prefix: "dpkg-query -W -f " + installedFormat + " -- demo-app pb-block libc6 gone pb-fail absent", res: pkgmgr.Result{
			ExitCode: 1, Stdout: []byte(out), Stderr: []byte("dpkg-query: no packages found matching absent\n")}},
		{prefix: "dpkg --print-architecture", res: pkgmgr.Result{Stdout: []byte("amd64\n")}},
	}}
	got, err := New("/", r).Installed(context.Background(), []patchbay.PackageVersion{
		{Name: "demo-app", Version: "1.0-2"},
		{Name: "pb-block", Version: "1.0-1"},
		{Name: "libc6", Version: "2.36-9+deb12u14"},
		{Name: "libc6", Arch: "i386", Version: "2.36-9"},
		{Name: "gone", Version: "1.0"},
		{Name: "pb-fail", Version: "1.0-1"},
		{Name: "absent", Arch: "amd64", Version: "1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []patchbay.PackageVersion{
		{Name: "demo-app", Arch: "all", Version: "1.0-2"},
		{Name: "pb-block"},
		{Name: "libc6", Arch: "amd64", Version: "2.36-9+deb12u14"},
		{Name: "libc6", Arch: "i386", Version: "2.36-9"},
		{Name: "gone"},
		{Name: "pb-fail"},
		{Name: "absent", Arch: "amd64"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Installed (-want +got):\n%s", diff)
	}
}

func TestInstalledFailures(t *testing.T) {
	for _, res := range []pkgmgr.Result{
		{ExitCode: 2, Stderr: []byte("dpkg-query: error: cannot access database\n")},
		{Stdout: []byte("garbage line\n")},
	} {
		r := &scriptRunner{t: t, replies: []reply{{prefix: "dpkg-query", res: res}}}
		if _, err := New("/", r).Installed(context.Background(), []patchbay.PackageVersion{{Name: "x", Version: "1"}}); err == nil {
			t.Errorf("dpkg-query %+v: no error", res)
		}
	}
}

func FuzzValidate(f *testing.F) {
	f.Add("demo-app", "amd64", "1:1.0-1")
	f.Add("-x", "", "1.0 ")
	f.Fuzz(func(t *testing.T, name, arch, version string) {
		p := patchbay.PackageVersion{Name: name, Arch: arch, Version: version}
		if New("/", &scriptRunner{t: t}).Validate([]patchbay.PackageVersion{p}) != nil {
			return
		}
		// What passes reaches argv as one word that no option parser or
		// shell could take for more than a package.
		arg := aptArg(p)
		if strings.ContainsAny(arg, " \t\n\r;|&$`'\"\\<>*?()[]{}") || strings.HasPrefix(arg, "-") || strings.Count(arg, "=") != 1 {
			t.Errorf("valid package %+v gives argument %q", p, arg)
		}
	})
}
