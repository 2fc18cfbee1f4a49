package rpm

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/pkgmgr"
)

// TestInstallDowngradingDNF: a rollback job's older version goes through
// `dnf downgrade` (dnf install refuses it), the others through install.
func TestInstallDowngradingDNF(t *testing.T) {
	r := &recordRunner{answer: func(argv string) pkgmgr.Result {
		if strings.HasPrefix(argv, "rpm ") {
			return pkgmgr.Result{Stdout: []byte("demo-app\t(none)\t1.0\t2.el9\tnoarch\tdemo-app-1.0-2.el9.src.rpm\n" +
				"demo-lib\t(none)\t1.0\t1.el9\tnoarch\tdemo-lib-1.0-1.el9.src.rpm\n")}
		}
		return pkgmgr.Result{Stdout: []byte("Complete!\n")}
	}}
	m := New("/", r, Options{Tool: "dnf"})
	var _ pkgmgr.Downgrader = m
	_, err := m.InstallDowngrading(context.Background(), []patchbay.PackageVersion{
		{Name: "demo-app", Version: "1.0-1.el9"},
		{Name: "demo-lib", Version: "1.0-2.el9"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"rpm -q --queryformat " + queryFormat + " -- demo-app demo-lib",
		"dnf --setopt=*.skip_if_unavailable=False -y --setopt=install_weak_deps=False downgrade demo-app-1.0-1.el9",
		"rpm -q --queryformat " + queryFormat + " -- demo-lib",
		"dnf --setopt=*.skip_if_unavailable=False -y --setopt=install_weak_deps=False install demo-lib-1.0-2.el9",
	}
	if diff := cmp.Diff(want, r.calls); diff != "" {
		t.Errorf("commands (-want +got):\n%s", diff)
	}
}
