package deb

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/pkgmgr"
)

// TestChrootRootInstalls: with WithChroot the commands see the image as
// "/" (no Dir= options, no --admindir) and Install works on an image,
// which without it is refused.
func TestChrootRootInstalls(t *testing.T) {
	root := t.TempDir()
	pkgs := []patchbay.PackageVersion{{Name: "demo-app", Version: "1.0-3"}}
	if _, err := New(root, &scriptRunner{t: t}).Install(context.Background(), pkgs); err == nil || !strings.Contains(err.Error(), "only on the running system") {
		t.Fatalf("install on a root without WithChroot: %v", err)
	}
	r := &scriptRunner{t: t, replies: []reply{
		{prefix: "dpkg --print-architecture", res: pkgmgr.Result{Stdout: []byte("amd64\n")}},
		{prefix: "apt-cache policy", res: pkgmgr.Result{Stdout: []byte(demoPolicy)}},
		{prefix: "apt-get ", res: pkgmgr.Result{Stdout: []byte("Setting up demo-app (1.0-3) ...\n")}},
		{prefix: "dpkg-query ", res: pkgmgr.Result{Stdout: []byte("demo-app\tamd64\t1.0-3\tinstall ok installed\n")}},
	}}
	m := New(root, r, WithChroot(), WithLockTimeout(90e9))
	if _, err := m.Install(context.Background(), pkgs); err != nil {
		t.Fatal(err)
	}
	got, err := m.Installed(context.Background(), pkgs)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Version != "1.0-3" {
		t.Errorf("installed %v", got)
	}
	for _, c := range r.calls {
		if strings.Contains(c, root) || strings.Contains(c, "Dir=") || strings.Contains(c, "--admindir") {
			t.Errorf("command points at the root from outside: %s", c)
		}
	}
	if !slices.ContainsFunc(r.calls, func(c string) bool { return strings.HasPrefix(c, "dpkg-query -W ") }) {
		t.Errorf("no dpkg-query in %q", r.calls)
	}
}
