package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/patchbay/patchbay"
)

// normalized returns a sorted deep copy of inv, as a store gives it back.
func normalized(inv patchbay.Inventory) patchbay.Inventory {
	inv.Packages = slices.Clone(inv.Packages)
	inv.Updates = slices.Clone(inv.Updates)
	inv.IPAddresses = slices.Clone(inv.IPAddresses)
	inv.RebootReasons = slices.Clone(inv.RebootReasons)
	inv.Normalize()
	return inv
}

// checkStored fails t unless the store holds exactly inv for host id,
// saved at now.
func checkStored(t *testing.T, s patchbay.Store, id int64, inv patchbay.Inventory, now time.Time) {
	t.Helper()
	ctx := t.Context()
	want := normalized(inv)
	got, err := s.Inventory(ctx, id)
	must(t, err)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Inventory (-want +got):\n%s", diff)
	}
	h, err := s.Host(ctx, id)
	must(t, err)
	if h.InventoryHash != inv.ContentHash() {
		t.Errorf("stored hash %q, want inv.ContentHash() %q", h.InventoryHash, inv.ContentHash())
	}
	if got.ContentHash() != h.InventoryHash {
		t.Errorf("Inventory().ContentHash() = %q, stored hash %q", got.ContentHash(), h.InventoryHash)
	}
	pkgs, err := s.Packages(ctx, id)
	must(t, err)
	if diff := cmp.Diff(want.Packages, pkgs, hostOpts()); diff != "" {
		t.Errorf("Packages (-want +got):\n%s", diff)
	}
	ups, err := s.Updates(ctx, id)
	must(t, err)
	if diff := cmp.Diff(want.Updates, ups, hostOpts()); diff != "" {
		t.Errorf("Updates (-want +got):\n%s", diff)
	}

	security := 0
	for _, u := range inv.Updates {
		if u.Security {
			security++
		}
	}
	type facts struct {
		Hostname, Kernel, Arch, BootID, PackageManager string
		OS                                             patchbay.OS
		Uptime                                         int64
		IPs, Reasons                                   []string
		Reboot, UbuntuPro                              bool
		Packages, Updates, Security                    int
		LastInventory, LastSeen                        time.Time
	}
	gotFacts := facts{h.Hostname, h.Kernel, h.Arch, h.BootID, h.PackageManager, h.OS, h.UptimeSeconds,
		h.IPAddresses, h.RebootReasons, h.RebootRequired, h.UbuntuPro, h.PackagesCount, h.UpdatesCount, h.SecurityUpdatesCount,
		h.LastInventory, h.LastSeen}
	wantFacts := facts{inv.Hostname, inv.Kernel, inv.Arch, inv.BootID, inv.PackageManager, inv.OS, inv.UptimeSeconds,
		want.IPAddresses, want.RebootReasons, inv.RebootRequired, inv.UbuntuPro, len(inv.Packages), len(inv.Updates), security,
		now, now}
	if diff := cmp.Diff(wantFacts, gotFacts, hostOpts()); diff != "" {
		t.Errorf("host facts (-want +got):\n%s", diff)
	}
}

func testInventoryRoundTrip(t *testing.T, s patchbay.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	h := f.enroll("m-1", "web1", at(0))

	base := []patchbay.Package{
		pkg("openssh-server", "1:9.2p1-2+deb12u3"),
		{Name: "libc6", Arch: "amd64", Version: "2.36-9+deb12u4", SourceName: "glibc", SourceVersion: "2.36-9+deb12u4"},
		{Name: "libc6", Arch: "i386", Version: "2.36-9+deb12u4", SourceName: "glibc", SourceVersion: "2.36-9+deb12u4"},
		pkg("curl", "7.88.1-10+deb12u5"),
		pkg("zlib1g", "1:1.2.13.dfsg-1"),
		{Name: "libssl3", Arch: "amd64", Version: "3.0.11-1~deb12u2", SourceName: "openssl", SourceVersion: "3.0.11-1~deb12u2"},
	}
	v1 := inventory(h, base, []patchbay.Update{
		update("curl", "7.88.1-10+deb12u5", "7.88.1-10+deb12u8", true),
		{Name: "libssl3", Arch: "amd64", InstalledVersion: "3.0.11-1~deb12u2", CandidateVersion: "3.0.15-1~deb12u1", Origin: "Debian-Security:12/stable-security", Security: true},
		update("tzdata", "2024a-0+deb12u1", "2025b-0+deb12u1", false),
	})
	v1.RebootRequired = true
	v1.RebootReasons = []string{"kernel", "libc6"}

	// v2: curl upgraded, zlib1g removed, vim added, libc6:i386 downgraded,
	// new kernel and boot, different address order, an update gone and
	// one changed.
	v2 := v1
	v2.Packages = []patchbay.Package{
		pkg("vim", "2:9.0.1378-2"),
		base[0], base[1],
		{Name: "libc6", Arch: "i386", Version: "2.36-9+deb12u3", SourceName: "glibc", SourceVersion: "2.36-9+deb12u3"},
		pkg("curl", "7.88.1-10+deb12u8"),
		base[5],
	}
	v2.Updates = []patchbay.Update{
		{Name: "libssl3", Arch: "amd64", InstalledVersion: "3.0.11-1~deb12u2", CandidateVersion: "3.0.16-1~deb12u1", Origin: "Debian-Security:12/stable-security", Security: true},
		update("tzdata", "2024a-0+deb12u1", "2025b-0+deb12u1", false),
	}
	v2.Kernel = "6.1.0-31-amd64"
	v2.BootID = "boot-2"
	v2.Hostname = "web1.example.org"
	v2.IPAddresses = []string{"2001:db8::10", "192.0.2.11"}
	v2.RebootRequired = false
	v2.RebootReasons = nil

	// v3: no updates at all (nil list), same packages.
	v3 := v2
	v3.Updates = nil
	v3.UptimeSeconds = 99

	// v4: empty, non-nil lists; a different OS.
	v4 := v3
	v4.Packages = []patchbay.Package{}
	v4.Updates = []patchbay.Update{}
	v4.IPAddresses = []string{}
	v4.OS = patchbay.OS{ID: "almalinux", IDLike: "rhel centos fedora", VersionID: "9.4", Name: "AlmaLinux", PrettyName: "AlmaLinux 9.4 (Seafoam Ocelot)"}
	v4.PackageManager = "dnf"

	// v5: an Ubuntu host attached to Ubuntu Pro.
	v5 := v1
	v5.OS = patchbay.OS{ID: "ubuntu", IDLike: "debian", VersionID: "22.04", Codename: "jammy", Name: "Ubuntu", PrettyName: "Ubuntu 22.04.5 LTS"}
	v5.UbuntuPro = true

	prev := ""
	for i, inv := range []patchbay.Inventory{v1, v2, v3, v4, v5, v1} {
		t.Run(fmt.Sprintf("report %d", i+1), func(t *testing.T) {
			now := at(time.Duration(i+1) * time.Hour)
			must(t, s.SaveInventory(ctx, h.ID, prev, inv, nil, now))
			checkStored(t, s, h.ID, inv, now)
			prev = inv.ContentHash()
		})
	}
}

func testInventoryBeforeFirstReport(t *testing.T, s patchbay.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	h := f.enroll("m-1", "web1", at(0))
	inv, err := s.Inventory(ctx, h.ID)
	must(t, err)
	if len(inv.Packages) != 0 || len(inv.Updates) != 0 || inv.MachineID != "m-1" {
		t.Errorf("inventory before the first report = %+v, want no packages and updates, machine-id m-1", inv)
	}
	if h.InventoryHash != "" {
		t.Errorf("inventory hash before the first report = %q, want empty", h.InventoryHash)
	}
	// The first report is saved against the empty hash.
	v1 := inventory(h, []patchbay.Package{pkg("bash", "5.2.15-2+b7")}, nil)
	wantCode(t, s.SaveInventory(ctx, h.ID, "something", v1, nil, at(time.Minute)), patchbay.ECONFLICT)
	must(t, s.SaveInventory(ctx, h.ID, "", v1, nil, at(time.Minute)))
	checkStored(t, s, h.ID, v1, at(time.Minute))
}

func testSaveInventoryConflict(t *testing.T, s patchbay.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	h := f.enroll("m-1", "web1", at(0))
	v1 := inventory(h, []patchbay.Package{pkg("bash", "5.2.15-2+b7"), pkg("curl", "7.88.1-10+deb12u5")},
		[]patchbay.Update{update("curl", "7.88.1-10+deb12u5", "7.88.1-10+deb12u8", true)})
	must(t, s.SaveInventory(ctx, h.ID, "", v1, []patchbay.Event{{Kind: patchbay.EventInventoryBaseline}}, at(time.Minute)))
	hostBefore, err := s.Host(ctx, h.ID)
	must(t, err)
	eventsBefore, err := s.Events(ctx, patchbay.EventFilter{HostID: h.ID})
	must(t, err)

	v2 := inventory(h, []patchbay.Package{pkg("bash", "5.2.15-2+b8")}, nil)
	v2.Kernel = "6.1.0-31-amd64"
	bad := v2
	bad.MachineID = "someone-else"
	tests := []struct {
		name string
		prev string
		inv  patchbay.Inventory
		code string
	}{
		{"stale hash", "", v2, patchbay.ECONFLICT},
		{"hash of the new report", v2.ContentHash(), v2, patchbay.ECONFLICT},
		{"another machine's inventory", v1.ContentHash(), bad, patchbay.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.SaveInventory(ctx, h.ID, tt.prev, tt.inv,
				[]patchbay.Event{{Kind: patchbay.EventKernelChanged, OldVersion: v1.Kernel, NewVersion: v2.Kernel}}, at(time.Hour))
			wantCode(t, err, tt.code)
			checkStored(t, s, h.ID, v1, at(time.Minute))
			hostAfter, err := s.Host(ctx, h.ID)
			must(t, err)
			if diff := cmp.Diff(hostBefore, hostAfter, hostOpts()); diff != "" {
				t.Errorf("host changed (-before +after):\n%s", diff)
			}
			eventsAfter, err := s.Events(ctx, patchbay.EventFilter{HostID: h.ID})
			must(t, err)
			if diff := cmp.Diff(eventsBefore, eventsAfter); diff != "" {
				t.Errorf("events changed (-before +after):\n%s", diff)
			}
		})
	}
}

func testUnknownHost(t *testing.T, s patchbay.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	h := f.enroll("m-1", "web1", at(0))
	id := h.ID + 1000
	calls := map[string]func() error{
		"Host":      func() error { _, err := s.Host(ctx, id); return err },
		"Inventory": func() error { _, err := s.Inventory(ctx, id); return err },
		"Packages":  func() error { _, err := s.Packages(ctx, id); return err },
		"Updates":   func() error { _, err := s.Updates(ctx, id); return err },
		"Events":    func() error { _, err := s.Events(ctx, patchbay.EventFilter{HostID: id}); return err },
		"SaveInventory": func() error {
			inv := inventory(patchbay.Host{ID: id, MachineID: "m-x", Hostname: "x"}, nil, nil)
			return s.SaveInventory(ctx, id, "", inv, nil, at(0))
		},
		"HostByCredential": func() error { _, err := s.HostByCredential(ctx, "no-such-credential"); return err },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) { wantCode(t, call(), patchbay.ENOTFOUND) })
	}
}

func testUpdatesError(t *testing.T, s patchbay.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	h := f.enroll("m-1", "web1", at(0))
	updates := []patchbay.Update{
		update("curl", "7.88.1-10+deb12u5", "7.88.1-10+deb12u8", true),
		update("tzdata", "2024a-0+deb12u1", "2025b-0+deb12u1", false),
		update("vim", "2:9.0.1378-2", "2:9.0.1378-2+deb12u1", false),
	}
	v1 := inventory(h, []patchbay.Package{pkg("curl", "7.88.1-10+deb12u5"), pkg("tzdata", "2024a-0+deb12u1"), pkg("vim", "2:9.0.1378-2")}, updates)
	must(t, s.SaveInventory(ctx, h.ID, "", v1, nil, at(time.Minute)))

	// The mirror is unreachable: packages change, updates are unknown.
	v2 := v1
	v2.Packages = append(slices.Clone(v1.Packages), pkg("htop", "3.2.2-2"))
	v2.Updates = nil
	v2.UpdatesError = "apt-get update: could not resolve deb.debian.org"
	must(t, s.SaveInventory(ctx, h.ID, v1.ContentHash(), v2, nil, at(time.Hour)))

	got, err := s.Updates(ctx, h.ID)
	must(t, err)
	if diff := cmp.Diff(normalized(v1).Updates, got); diff != "" {
		t.Errorf("updates after a report with updates_error (-want +got):\n%s", diff)
	}
	host, err := s.Host(ctx, h.ID)
	must(t, err)
	if host.UpdatesCount != 3 || host.SecurityUpdatesCount != 1 || host.PackagesCount != 4 {
		t.Errorf("counts = packages %d, updates %d, security %d; want 4, 3, 1", host.PackagesCount, host.UpdatesCount, host.SecurityUpdatesCount)
	}
	if host.InventoryHash != v2.ContentHash() {
		t.Errorf("stored hash %q, want the report's %q", host.InventoryHash, v2.ContentHash())
	}
	inv, err := s.Inventory(ctx, h.ID)
	must(t, err)
	if inv.UpdatesError != v2.UpdatesError || len(inv.Packages) != 4 {
		t.Errorf("inventory: updates_error %q, %d packages; want %q, 4", inv.UpdatesError, len(inv.Packages), v2.UpdatesError)
	}

	// The mirror is back and everything is up to date.
	v3 := v2
	v3.UpdatesError = ""
	v3.Updates = []patchbay.Update{}
	must(t, s.SaveInventory(ctx, h.ID, v2.ContentHash(), v3, nil, at(2*time.Hour)))
	checkStored(t, s, h.ID, v3, at(2*time.Hour))
}

func testConcurrentSaveInventory(t *testing.T, s patchbay.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	const hosts, reports = 8, 5
	var hs []patchbay.Host
	for i := range hosts {
		hs = append(hs, f.enroll(fmt.Sprintf("m-%d", i), fmt.Sprintf("host-%d", i), at(0)))
	}
	// report r of host h: 50 shared packages at version r, one of its own.
	invOf := func(h patchbay.Host, r int) patchbay.Inventory {
		var pkgs []patchbay.Package
		for p := range 50 {
			pkgs = append(pkgs, pkg(fmt.Sprintf("lib%02d", p), fmt.Sprintf("1.%d-1", r)))
		}
		pkgs = append(pkgs, pkg("own-"+h.Hostname, fmt.Sprintf("%d.0", r)))
		return inventory(h, pkgs, []patchbay.Update{update("lib00", fmt.Sprintf("1.%d-1", r), "9.9-1", r%2 == 0)})
	}

	var wg sync.WaitGroup
	errs := make(chan error, hosts*reports*2)
	for _, h := range hs {
		wg.Go(func() {
			prev := ""
			for r := range reports {
				inv := invOf(h, r)
				ev := []patchbay.Event{{Kind: patchbay.EventPackageUpgraded, Package: "lib00", NewVersion: inv.Packages[0].Version}}
				if err := s.SaveInventory(ctx, h.ID, prev, inv, ev, at(time.Duration(r)*time.Minute)); err != nil {
					errs <- fmt.Errorf("host %d report %d: %w", h.ID, r, err)
					return
				}
				prev = inv.ContentHash()
			}
		})
		// Readers alongside the writers.
		wg.Go(func() {
			for range reports {
				if _, err := s.ListHosts(ctx, patchbay.HostFilter{HasUpdates: true}); err != nil {
					errs <- fmt.Errorf("list hosts: %w", err)
					return
				}
				if _, err := s.Inventory(ctx, h.ID); err != nil {
					errs <- fmt.Errorf("inventory %d: %w", h.ID, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, h := range hs {
		checkStored(t, s, h.ID, invOf(h, reports-1), at(time.Duration(reports-1)*time.Minute))
		events, err := s.Events(ctx, patchbay.EventFilter{HostID: h.ID, Kinds: []patchbay.EventKind{patchbay.EventPackageUpgraded}})
		must(t, err)
		if len(events) != reports {
			t.Errorf("host %d: %d upgrade events, want %d", h.ID, len(events), reports)
		}
	}
}
