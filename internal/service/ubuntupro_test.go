package service_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/service"
	"github.com/patchbay/patchbay/internal/vuln/vulntest"
)

func ubuntuInventory(mid, name string, pro bool, pkgs ...patchbay.Package) patchbay.Inventory {
	return patchbay.Inventory{SchemaVersion: 1, MachineID: mid, Hostname: name, PackageManager: "apt", Arch: "amd64",
		OS:        patchbay.OS{ID: "ubuntu", IDLike: "debian", VersionID: "22.04", Codename: "jammy", Name: "Ubuntu"},
		UbuntuPro: pro, Packages: pkgs}
}

// TestUbuntuProAdvisories: the real Ubuntu OSV record (the shared excerpt:
// openssl fixed in Ubuntu:22.04:LTS, nodejs unfixed in the
// Ubuntu:Pro:22.04:LTS stream) applies its Pro entry only to the host
// attached to Ubuntu Pro; when that host reports it is detached, the Pro
// finding resolves and the LTS one stays.
func TestUbuntuProAdvisories(t *testing.T) {
	f := newVulnFixture(t)
	const (
		midPro  = "b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1"
		midFree = "c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1"
		id      = "UBUNTU-CVE-2026-84782"
	)
	pkgs := []patchbay.Package{debPkg("libssl3", "openssl", "3.0.2-0ubuntu1.15"), debPkg("libnode72", "nodejs", "12.22.9~dfsg-1ubuntu3")}
	pro, free := f.host(midPro, "jammy-pro"), f.host(midFree, "jammy-free")
	f.report(pro, ubuntuInventory(midPro, "jammy-pro", true, pkgs...))
	f.report(free, ubuntuInventory(midFree, "jammy-free", false, pkgs...))
	f.importDir(vulntest.Shared(t, "ubuntu-osv-sample"))

	findings := func(ref string) []brief {
		t.Helper()
		fs, err := f.svc.Findings(f.admin, service.FindingQuery{Host: ref})
		if err != nil {
			t.Fatal(err)
		}
		return briefs(fs)
	}
	lts := brief{id, "libssl3", "3.0.2-0ubuntu1.15", "3.0.2-0ubuntu1.30"}
	esm := brief{id, "libnode72", "12.22.9~dfsg-1ubuntu3", ""}
	if diff := cmp.Diff([]brief{esm, lts}, findings("jammy-pro")); diff != "" {
		t.Errorf("attached host (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]brief{lts}, findings("jammy-free")); diff != "" {
		t.Errorf("host not attached (-want +got):\n%s", diff)
	}
	h, err := f.svc.Host(f.admin, "jammy-pro")
	if err != nil || !h.UbuntuPro {
		t.Errorf("host: ubuntu_pro %v, %v", h.UbuntuPro, err)
	}

	f.report(pro, ubuntuInventory(midPro, "jammy-pro", false, pkgs...)) // pro detach
	if diff := cmp.Diff([]brief{lts}, findings("jammy-pro")); diff != "" {
		t.Errorf("after detaching (-want +got):\n%s", diff)
	}
	events, err := f.svc.HostHistory(f.admin, "jammy-pro", service.HistoryFilter{})
	if err != nil {
		t.Fatal(err)
	}
	resolved := 0
	for _, e := range events {
		if e.Kind == patchbay.EventFindingResolved && e.Package == "libnode72" {
			resolved++
		}
	}
	if resolved != 1 {
		t.Errorf("%d finding_resolved events for libnode72, want 1: %+v", resolved, events)
	}
}
