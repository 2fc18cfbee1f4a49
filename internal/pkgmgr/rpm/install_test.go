package rpm

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/pkgmgr"
	"github.com/patchbay/patchbay/internal/pkgmgr/osexec"
)

// recordRunner answers every command with res and records argv.
type recordRunner struct {
	answer func(argv string) pkgmgr.Result
	calls  []string
}

func (r *recordRunner) Run(_ context.Context, c pkgmgr.Cmd) (pkgmgr.Result, error) {
	argv := strings.Join(append([]string{c.Path}, c.Args...), " ")
	r.calls = append(r.calls, argv)
	return r.answer(argv), nil
}

func TestInstallValidateRefusesBeforeAnyCommand(t *testing.T) {
	bad := []patchbay.PackageVersion{
		{Name: "-y", Version: "1.0-1"},
		{Name: ".hidden", Version: "1.0-1"},
		{Name: "demo app", Version: "1.0-1"},
		{Name: "demo;reboot", Version: "1.0-1"},
		{Name: "demo%{x}", Version: "1.0-1"},
		{Name: "demo", Version: "1.0"}, // no release: not one exact build
		{Name: "demo", Version: "1.0-1-2"},
		{Name: "demo", Version: "x:1.0-1"},
		{Name: "demo", Version: "1.0-1 --nogpgcheck"},
		{Name: "demo", Version: ""},
		{Name: "demo", Arch: "x86-64", Version: "1.0-1"},
		{Name: "demo", Arch: "noarch;", Version: "1.0-1"},
	}
	for _, p := range bad {
		r := &recordRunner{answer: func(string) pkgmgr.Result { return pkgmgr.Result{} }}
		m := New("/", r, Options{Tool: "dnf"})
		if err := m.Validate([]patchbay.PackageVersion{p}); patchbay.ErrorCode(err) != patchbay.EINVALID {
			t.Errorf("Validate(%+v) = %v", p, err)
		}
		if _, err := m.Install(context.Background(), []patchbay.PackageVersion{p}); err == nil {
			t.Errorf("Install(%+v) succeeded", p)
		}
		if len(r.calls) > 0 {
			t.Errorf("%+v: commands ran: %q", p, r.calls)
		}
	}
}

func TestInstallArgvDNF(t *testing.T) {
	r := &recordRunner{answer: func(argv string) pkgmgr.Result {
		if strings.HasPrefix(argv, "rpm ") {
			return pkgmgr.Result{ExitCode: 1, Stdout: []byte("demo-app\t(none)\t1.0\t1.el9\tnoarch\tdemo-app-1.0-1.el9.src.rpm\npackage demo-epoch is not installed\n")}
		}
		return pkgmgr.Result{Stdout: []byte("Complete!\n")}
	}}
	m := New("/", r, Options{Tool: "dnf", ExtraArgs: []string{"--releasever=9"}})
	out, err := m.Install(context.Background(), []patchbay.PackageVersion{
		{Name: "demo-app", Arch: "noarch", Version: "1.0-2.el9"},
		{Name: "demo-epoch", Version: "2:3.2-1.el9"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "Complete!\n" {
		t.Errorf("output %q", out)
	}
	want := []string{
		"rpm -q --queryformat " + queryFormat + " -- demo-app demo-epoch",
		"dnf --releasever=9 --setopt=*.skip_if_unavailable=False -y --setopt=install_weak_deps=False install demo-app-1.0-2.el9.noarch demo-epoch-2:3.2-1.el9",
	}
	if diff := cmp.Diff(want, r.calls); diff != "" {
		t.Errorf("commands (-want +got):\n%s", diff)
	}
}

func TestInstallRefusesDowngrade(t *testing.T) {
	r := &recordRunner{answer: func(argv string) pkgmgr.Result {
		return pkgmgr.Result{Stdout: []byte("demo-app\t(none)\t1.0\t2.el9\tnoarch\tdemo-app-1.0-2.el9.src.rpm\n")}
	}}
	_, err := New("/", r, Options{Tool: "dnf"}).Install(context.Background(), []patchbay.PackageVersion{{Name: "demo-app", Version: "1.0-1.el9"}})
	if err == nil || err.Error() != "demo-app is at 1.0-2.el9, newer than the planned 1.0-1.el9: a plan never downgrades" {
		t.Errorf("err = %v", err)
	}
	if len(r.calls) != 1 {
		t.Errorf("dnf ran: %q", r.calls)
	}
}

func TestUnmatched(t *testing.T) {
	out := "Last metadata expiration check: 0:00:01 ago.\nNo match for argument: demo-app-1.0-3.el9\nNo package demo-x-1-1 available.\nError: Unable to find a match: demo-app-1.0-3.el9\n"
	if diff := cmp.Diff([]string{"demo-app-1.0-3.el9", "demo-x-1-1"}, unmatched([]byte(out))); diff != "" {
		t.Error(diff)
	}
}

// TestIntegrationInstall installs exact versions with the real dnf into an
// installroot.
func TestIntegrationInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIPPED: builds a real dnf lab; not run with -short")
	}
	l := newRPMLab(t)
	ctx := context.Background()
	l.build("demo-app", "", "1.0", "1.el9", "noarch")
	l.build("demo-app", "", "1.0", "2.el9", "noarch")
	l.build("demo-epoch", "2", "3.1", "1.el9", "noarch")
	l.publish("noarch/demo-app-1.0-1.el9.noarch.rpm", "noarch/demo-app-1.0-2.el9.noarch.rpm", "noarch/demo-epoch-3.1-1.el9.noarch.rpm")
	m := New(l.root, osexec.Runner{}, Options{Tool: "dnf", ExtraArgs: l.args})

	// Frozen: 1.0-1 although 1.0-2 is in the repository.
	plan := []patchbay.PackageVersion{{Name: "demo-app", Version: "1.0-1.el9"}, {Name: "demo-epoch", Arch: "noarch", Version: "2:3.1-1.el9"}}
	if out, err := m.Install(ctx, plan); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	got, err := m.Installed(ctx, plan)
	if err != nil {
		t.Fatal(err)
	}
	want := []patchbay.PackageVersion{{Name: "demo-app", Arch: "noarch", Version: "1.0-1.el9"}, {Name: "demo-epoch", Arch: "noarch", Version: "2:3.1-1.el9"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("installed (-want +got):\n%s", diff)
	}

	// A version no repository has: the reason, and nothing changes.
	_, err = m.Install(ctx, []patchbay.PackageVersion{{Name: "demo-app", Version: "1.0-3.el9"}})
	if err == nil || err.Error() != "not available from any source: demo-app-1.0-3.el9" {
		t.Errorf("err = %v", err)
	}
	// A downgrade is refused.
	if _, err := m.Install(ctx, []patchbay.PackageVersion{{Name: "demo-app", Version: "1.0-2.el9"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Install(ctx, []patchbay.PackageVersion{{Name: "demo-app", Version: "1.0-1.el9"}}); err == nil || !strings.Contains(err.Error(), "never downgrades") {
		t.Errorf("downgrade: err = %v", err)
	}
	got, err = m.Installed(ctx, []patchbay.PackageVersion{{Name: "demo-app", Version: "1.0-2.el9"}, {Name: "absent", Version: "1-1"}})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Version != "1.0-2.el9" || got[1].Version != "" {
		t.Errorf("installed %+v", got)
	}
}
