package patchbay

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestContentHashIgnoresVolatileFieldsAndOrder(t *testing.T) {
	a := Inventory{
		SchemaVersion: 1, MachineID: "m", Hostname: "h", UptimeSeconds: 10, CollectedAt: time.Unix(1, 0),
		Packages: []Package{{Name: "b", Arch: "all", Version: "1"}, {Name: "a", Arch: "all", Version: "1"}},
	}
	b := a
	b.UptimeSeconds = 999
	b.CollectedAt = time.Unix(2, 0)
	b.Packages = []Package{a.Packages[1], a.Packages[0]}
	if a.ContentHash() != b.ContentHash() {
		t.Fatal("hash changed with uptime, collection time or order")
	}
	if a.Packages[0].Name != "b" {
		t.Fatal("ContentHash reordered the caller's slice")
	}
	c := b
	c.Packages = []Package{{Name: "a", Arch: "all", Version: "2"}, a.Packages[0]}
	if a.ContentHash() == c.ContentHash() {
		t.Fatal("hash did not change with a package version")
	}
	d := a
	d.BootID = "new"
	if a.ContentHash() == d.ContentHash() {
		t.Fatal("hash did not change with the boot id")
	}
}

func TestValidate(t *testing.T) {
	ok := Inventory{SchemaVersion: 1, MachineID: "m", Hostname: "h", Packages: []Package{{Name: "a", Arch: "all", Version: "1"}}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		mod  func(*Inventory)
		want string
	}{
		"schema":       {func(i *Inventory) { i.SchemaVersion = 2 }, "schema_version 2"},
		"machine":      {func(i *Inventory) { i.MachineID = "" }, "machine_id"},
		"hostname":     {func(i *Inventory) { i.Hostname = "" }, "hostname"},
		"duplicate":    {func(i *Inventory) { i.Packages = append(i.Packages, i.Packages[0]) }, "listed twice"},
		"no version":   {func(i *Inventory) { i.Packages[0].Version = "" }, "packages[0]"},
		"no candidate": {func(i *Inventory) { i.Updates = []Update{{Name: "a"}} }, "updates[0]"},
	} {
		t.Run(name, func(t *testing.T) {
			inv := ok
			inv.Packages = append([]Package(nil), ok.Packages...)
			tc.mod(&inv)
			err := inv.Validate()
			if ErrorCode(err) != EINVALID || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want EINVALID mentioning %q", err, tc.want)
			}
		})
	}
}

func TestStatusAt(t *testing.T) {
	seen := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h := Host{LastSeen: seen, IntervalSeconds: 60}
	if s := h.StatusAt(seen.Add(3*time.Minute), Lifecycle{}); s != HostActive {
		t.Fatalf("after exactly 3 intervals: %s", s)
	}
	if s := h.StatusAt(seen.Add(3*time.Minute+time.Second), Lifecycle{}); s != HostStale {
		t.Fatalf("after 3 missed intervals: %s", s)
	}
	if s := h.StatusAt(seen.Add(DefaultDormantAfter), Lifecycle{}); s != HostStale {
		t.Fatalf("after exactly the default dormant period: %s", s)
	}
	if s := h.StatusAt(seen.Add(DefaultDormantAfter+time.Second), Lifecycle{}); s != HostDormant {
		t.Fatalf("after the default dormant period: %s", s)
	}
	if s := h.StatusAt(seen.Add(2*time.Hour), Lifecycle{DormantAfter: time.Hour}); s != HostDormant {
		t.Fatalf("after a dormant period of 1h: %s", s)
	}
	// An hourly host unseen for 2h is not stale, but dormant after 1h.
	hourly := Host{LastSeen: seen, IntervalSeconds: 3600}
	if s := hourly.StatusAt(seen.Add(2*time.Hour), Lifecycle{DormantAfter: time.Hour}); s != HostDormant {
		t.Fatalf("hourly host past the dormant period: %s", s)
	}
	img := Host{LastSeen: seen, Labels: ImageLabels("tmpl")}
	if s := img.StatusAt(seen.Add(365*24*time.Hour), Lifecycle{}); s != HostActive {
		t.Fatalf("an image a year on: %s", s)
	}
	retired := h
	retired.RetiredAt = seen
	if s := retired.StatusAt(seen, Lifecycle{}); s != HostRetired {
		t.Fatalf("a retired host: %s", s)
	}
}

func TestLifecycleValidate(t *testing.T) {
	for _, tc := range []struct {
		l    Lifecycle
		want string // error code, "" for none
	}{
		{Lifecycle{}, ""},
		{Lifecycle{DormantAfter: time.Hour, RetireAfter: time.Hour}, ""},
		{Lifecycle{DormantAfter: time.Second}, EINVALID},
		{Lifecycle{DormantAfter: 30 * 24 * time.Hour, RetireAfter: 20 * 24 * time.Hour}, EINVALID},
		{Lifecycle{DormantAfter: 100 * 24 * time.Hour}, EINVALID}, // past the default retirement
	} {
		if got := ErrorCode(tc.l.Validate()); got != tc.want {
			t.Errorf("%+v: Validate() = %q, want %q", tc.l, got, tc.want)
		}
	}
}

func TestTokenUsable(t *testing.T) {
	now := time.Now()
	for name, tc := range map[string]struct {
		tok  EnrollToken
		want string
	}{
		"fresh":     {EnrollToken{ID: "t"}, ""},
		"expired":   {EnrollToken{ID: "t", ExpiresAt: now}, "expired"},
		"used up":   {EnrollToken{ID: "t", MaxUses: 2, Uses: 2}, "used 2 of 2"},
		"revoked":   {EnrollToken{ID: "t", Revoked: true}, "revoked"},
		"has a use": {EnrollToken{ID: "t", MaxUses: 2, Uses: 1, ExpiresAt: now.Add(time.Minute)}, ""},
	} {
		err := tc.tok.Usable(now)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: Usable = %v, want %q", name, err, tc.want)
		}
	}
}

// compareKey must order exactly as comparing Key() strings does, or hashes
// computed by old and new code would differ for the same inventory.
func FuzzCompareKey(f *testing.F) {
	f.Add("lib", "amd64", "lib-dev", "amd64")
	f.Add("a", "all", "a", "amd64")
	f.Add("a:", "x", "a", ":x")
	f.Add("libc6", "i386", "libc6", "amd64")
	f.Fuzz(func(t *testing.T, an, aa, bn, ba string) {
		want := strings.Compare(an+":"+aa, bn+":"+ba)
		if got := compareKey(an, aa, bn, ba); got != want {
			t.Fatalf("compareKey(%q,%q,%q,%q) = %d, want %d", an, aa, bn, ba, got, want)
		}
	})
}

func TestContentHashCoversEveryField(t *testing.T) {
	base := Inventory{
		SchemaVersion: 1, MachineID: "m", Hostname: "h", OS: OS{ID: "debian", VersionID: "12"}, Kernel: "k", Arch: "x86_64",
		BootID: "b", PackageManager: "apt", IPAddresses: []string{"10.0.0.1"},
		Packages: []Package{{Name: "a", Arch: "all", Version: "1", SourceName: "a", SourceVersion: "1"}},
		Updates:  []Update{{Name: "a", Arch: "all", InstalledVersion: "1", CandidateVersion: "2", Origin: "o"}},
	}
	h0 := base.ContentHash()
	for name, mod := range map[string]func(*Inventory){
		"source version": func(i *Inventory) { i.Packages[0].SourceVersion = "2" },
		"security":       func(i *Inventory) { i.Updates[0].Security = true },
		"origin":         func(i *Inventory) { i.Updates[0].Origin = "p" },
		"reboot":         func(i *Inventory) { i.RebootRequired = true },
		"reasons":        func(i *Inventory) { i.RebootReasons = []string{"kernel"} },
		"ips":            func(i *Inventory) { i.IPAddresses = nil },
		"os codename":    func(i *Inventory) { i.OS.Codename = "bookworm" },
		"updates error":  func(i *Inventory) { i.UpdatesError = "x" },
		"ubuntu pro":     func(i *Inventory) { i.UbuntuPro = true },
		"shifted text":   func(i *Inventory) { i.MachineID, i.Hostname = "mh", "" },
	} {
		inv := base
		inv.Packages = slices.Clone(base.Packages)
		inv.Updates = slices.Clone(base.Updates)
		mod(&inv)
		if inv.ContentHash() == h0 {
			t.Errorf("%s: hash did not change", name)
		}
	}
	empty := base
	empty.Updates = []Update{}
	nilUpdates := base
	nilUpdates.Updates = nil
	if empty.ContentHash() != nilUpdates.ContentHash() {
		t.Error("nil and empty lists must hash alike")
	}
}
