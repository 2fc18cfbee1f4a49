package service

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/patchbay/patchbay"
)

func TestDiff(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	pkg := func(name, version string) patchbay.Package {
		return patchbay.Package{Name: name, Arch: "amd64", Version: version, SourceName: name, SourceVersion: version}
	}
	base := patchbay.Inventory{
		PackageManager: "apt", Kernel: "6.1.0-26-amd64", BootID: "boot-1",
		OS:       patchbay.OS{ID: "debian", VersionID: "12", PrettyName: "Debian GNU/Linux 12 (bookworm)"},
		Packages: []patchbay.Package{pkg("bash", "5.2.15-2+b2"), pkg("openssl", "3.0.15-1~deb12u1"), pkg("tzdata", "2024a-0+deb12u1"), pkg("zlib1g", "1:1.2.13.dfsg-1")},
	}
	ev := func(kind patchbay.EventKind, p, old, new string) patchbay.Event {
		e := patchbay.Event{Time: now, Kind: kind, Package: p, OldVersion: old, NewVersion: new, Cause: "observed"}
		if p != "" {
			e.Arch = "amd64"
		}
		return e
	}
	for _, tc := range []struct {
		name    string
		hasPrev bool
		change  func(inv *patchbay.Inventory)
		want    []patchbay.Event
	}{
		{
			name:    "first inventory is one baseline event",
			hasPrev: false,
			change:  func(*patchbay.Inventory) {},
			want:    []patchbay.Event{{Time: now, Kind: patchbay.EventInventoryBaseline, Cause: "observed", Detail: "first inventory: 4 packages, 0 updates pending"}},
		},
		{name: "unchanged", hasPrev: true, change: func(*patchbay.Inventory) {}},
		{
			name: "install, remove, upgrade, downgrade", hasPrev: true,
			change: func(inv *patchbay.Inventory) {
				inv.Packages = []patchbay.Package{pkg("bash", "5.2.15-2+b7"), pkg("curl", "7.88.1-10+deb12u8"), pkg("openssl", "3.0.14-1~deb12u2"), pkg("zlib1g", "1:1.2.13.dfsg-1")}
			},
			want: []patchbay.Event{
				ev(patchbay.EventPackageUpgraded, "bash", "5.2.15-2+b2", "5.2.15-2+b7"),
				ev(patchbay.EventPackageInstalled, "curl", "", "7.88.1-10+deb12u8"),
				ev(patchbay.EventPackageDowngraded, "openssl", "3.0.15-1~deb12u1", "3.0.14-1~deb12u2"),
				ev(patchbay.EventPackageRemoved, "tzdata", "2024a-0+deb12u1", ""),
			},
		},
		{
			name: "epoch decides over upstream version", hasPrev: true,
			change: func(inv *patchbay.Inventory) {
				inv.Packages[3] = pkg("zlib1g", "1.3-1")
			},
			want: []patchbay.Event{ev(patchbay.EventPackageDowngraded, "zlib1g", "1:1.2.13.dfsg-1", "1.3-1")},
		},
		{
			name: "reboot into a new kernel", hasPrev: true,
			change: func(inv *patchbay.Inventory) {
				inv.BootID = "boot-2"
				inv.Kernel = "6.1.0-27-amd64"
			},
			want: []patchbay.Event{
				ev(patchbay.EventReboot, "", "boot-1", "boot-2"),
				ev(patchbay.EventKernelChanged, "", "6.1.0-26-amd64", "6.1.0-27-amd64"),
			},
		},
		{
			name: "os release change", hasPrev: true,
			change: func(inv *patchbay.Inventory) {
				inv.OS.PrettyName = "Debian GNU/Linux 13 (trixie)"
			},
			want: []patchbay.Event{ev(patchbay.EventOSChanged, "", "Debian GNU/Linux 12 (bookworm)", "Debian GNU/Linux 13 (trixie)")},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next := base
			next.Packages = append([]patchbay.Package(nil), base.Packages...)
			tc.change(&next)
			got := Diff(base, next, tc.hasPrev, now, patchbay.CauseObserved)
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("Diff mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDiffMultiArch(t *testing.T) {
	// libc6:amd64 and libc6:i386 are two packages; removing one is one event.
	now := time.Now()
	a := patchbay.Package{Name: "libc6", Arch: "amd64", Version: "2.36-9+deb12u9"}
	b := patchbay.Package{Name: "libc6", Arch: "i386", Version: "2.36-9+deb12u9"}
	old := patchbay.Inventory{PackageManager: "apt", Packages: []patchbay.Package{a, b}}
	next := patchbay.Inventory{PackageManager: "apt", Packages: []patchbay.Package{a}}
	got := Diff(old, next, true, now, "observed")
	if len(got) != 1 || got[0].Kind != patchbay.EventPackageRemoved || got[0].Arch != "i386" {
		t.Fatalf("got %+v, want one removal of libc6:i386", got)
	}
}
