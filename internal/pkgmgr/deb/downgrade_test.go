package deb

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/pkgmgr"
)

// TestInstallDowngradingArgv: a rollback job's install allows downgrades
// (and only that differs from Install's argv).
func TestInstallDowngradingArgv(t *testing.T) {
	const policy = `demo-app:
  Installed: 1.0-2
  Candidate: 1.0-2
  Version table:
 *** 1.0-2 500
        500 http://169.254.77.1/lab ./ Packages
        100 /var/lib/dpkg/status
     1.0-1 500
        500 http://169.254.77.1/lab ./ Packages
`
	r := &scriptRunner{t: t, replies: []reply{
		{prefix: "dpkg --print-architecture", res: pkgmgr.Result{Stdout: []byte("amd64\n")}},
		{prefix: "apt-cache policy", res: pkgmgr.Result{Stdout: []byte(policy)}},
		{prefix: "apt-get ", res: pkgmgr.Result{Stdout: []byte("Setting up demo-app (1.0-1) ...\n")}},
	}}
	m := New("/", r, WithLockTimeout(90e9))
	var _ pkgmgr.Downgrader = m
	if _, err := m.InstallDowngrading(context.Background(), []patchbay.PackageVersion{{Name: "demo-app", Version: "1.0-1"}}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"dpkg --print-architecture",
		"apt-cache policy demo-app",
		"apt-get -q -y --no-install-recommends --no-remove" +
			" -o Dpkg::Options::=--force-confold -o Dpkg::Options::=--force-confdef -o Dpkg::Use-Pty=0" +
			" -o APT::Get::allow-downgrades=true -o APT::Get::allow-change-held-packages=false" +
			" -o APT::Get::allow-remove-essential=false -o DPkg::Lock::Timeout=90" +
			" --allow-downgrades install demo-app=1.0-1",
	}
	if diff := cmp.Diff(want, r.calls); diff != "" {
		t.Errorf("commands (-want +got):\n%s", diff)
	}
}
