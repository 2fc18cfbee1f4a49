package patchbay

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io"
	"slices"
	"strings"
	"time"
)

// InventorySchemaVersion is the version of the wire format an agent sends.
// The server accepts exactly the versions it knows and refuses others with
// a clear message, so an old server never half-reads a newer agent.
const InventorySchemaVersion = 1

// OS identifies a host's operating system, from os-release.
type OS struct {
	ID         string `json:"id"`          // "debian", "ubuntu", "almalinux", "alpine"
	IDLike     string `json:"id_like"`     // "rhel centos fedora"
	VersionID  string `json:"version_id"`  // "12", "22.04", "9.4"
	Codename   string `json:"codename"`    // "bookworm"
	Name       string `json:"name"`        // "Debian GNU/Linux"
	PrettyName string `json:"pretty_name"` // "Debian GNU/Linux 12 (bookworm)"
}

// Package is one installed binary package.
type Package struct {
	Name          string `json:"name"`
	Arch          string `json:"arch"`
	Version       string `json:"version"` // with epoch when it has one: "1:2.3-4"
	SourceName    string `json:"source_name"`
	SourceVersion string `json:"source_version"`
}

// Key identifies a package on a host: name and architecture (multi-arch
// hosts may have libc6:amd64 and libc6:i386 side by side).
func (p Package) Key() string { return p.Name + ":" + p.Arch }

// Update is a pending update of an installed package, as the host's own
// package manager reports it.
type Update struct {
	Name             string `json:"name"`
	Arch             string `json:"arch"`
	InstalledVersion string `json:"installed_version"`
	CandidateVersion string `json:"candidate_version"`
	Origin           string `json:"origin"` // "Debian-Security:12/oldstable-security", dnf repo id ...
	Security         bool   `json:"security"`
}

// Key identifies the updated package on a host.
func (u Update) Key() string { return u.Name + ":" + u.Arch }

// Inventory is what an agent reports about its host: the wire format of
// PUT /api/v1/agent/inventory. Field names are part of the API contract.
type Inventory struct {
	SchemaVersion  int       `json:"schema_version"`
	CollectedAt    time.Time `json:"collected_at"`
	MachineID      string    `json:"machine_id"`
	Hostname       string    `json:"hostname"`
	OS             OS        `json:"os"`
	Kernel         string    `json:"kernel"` // running kernel release (uname -r)
	Arch           string    `json:"arch"`   // "amd64", "x86_64", "aarch64"
	BootID         string    `json:"boot_id"`
	UptimeSeconds  int64     `json:"uptime_seconds"`
	IPAddresses    []string  `json:"ip_addresses"`
	PackageManager string    `json:"package_manager"` // "apt", "dnf", "yum", "apk"
	Packages       []Package `json:"packages"`
	Updates        []Update  `json:"updates"`
	RebootRequired bool      `json:"reboot_required"`
	RebootReasons  []string  `json:"reboot_reasons"`
	// UbuntuPro is set when an Ubuntu host is attached to Ubuntu Pro
	// (advisories of the Ubuntu:Pro: ecosystems apply to it).
	UbuntuPro bool `json:"ubuntu_pro,omitempty"`
	// UpdatesError is set when the agent could list packages but not
	// updates (no network to the mirror, a locked database); the server
	// then keeps the updates it had instead of clearing them.
	UpdatesError string `json:"updates_error,omitempty"`
}

// Normalize sorts the lists of inv so that equal content has equal bytes.
func (inv *Inventory) Normalize() {
	slices.SortFunc(inv.Packages, ComparePackages)
	slices.SortFunc(inv.Updates, CompareUpdates)
	slices.Sort(inv.IPAddresses)
	slices.Sort(inv.RebootReasons)
}

// compareKey orders by Key() (name + ":" + arch) without building the
// strings: this sort runs on every inventory of every host.
func compareKey(an, aa, bn, ba string) int {
	if an == bn {
		return strings.Compare(aa, ba)
	}
	// Names differ: compare as Key() would, where ':' follows the name.
	n := min(len(an), len(bn))
	if c := strings.Compare(an[:n], bn[:n]); c != 0 {
		return c
	}
	var c int
	if len(an) < len(bn) {
		c = cmpByte(':', bn[n])
	} else {
		c = cmpByte(an[n], ':')
	}
	if c == 0 { // a name containing ':' (never valid, but be exact)
		return strings.Compare(an+":"+aa, bn+":"+ba)
	}
	return c
}

func cmpByte(a, b byte) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ContentHash is a hash of everything in inv that is worth storing again
// when it changes. It leaves out the collection time and uptime, which change
// at every check-in, so an unchanged host sends only a heartbeat. Lists are
// hashed in Normalize order without changing the caller's slices. Every
// string is length-prefixed, so no two different inventories hash alike by
// shifting text between fields.
func (inv Inventory) ContentHash() string {
	h := sha256.New()
	var buf []byte
	str := func(s string) {
		buf = binary.AppendUvarint(buf[:0], uint64(len(s)))
		h.Write(buf)
		io.WriteString(h, s)
	}
	num := func(n int64) {
		buf = binary.AppendVarint(buf[:0], n)
		h.Write(buf)
	}
	num(int64(inv.SchemaVersion))
	for _, s := range []string{inv.MachineID, inv.Hostname, inv.OS.ID, inv.OS.IDLike, inv.OS.VersionID, inv.OS.Codename,
		inv.OS.Name, inv.OS.PrettyName, inv.Kernel, inv.Arch, inv.BootID, inv.PackageManager, inv.UpdatesError} {
		str(s)
	}
	if inv.RebootRequired {
		num(1)
	} else {
		num(0)
	}
	for _, list := range [][]string{inv.IPAddresses, inv.RebootReasons} {
		sorted := list
		if !slices.IsSorted(list) {
			sorted = slices.Sorted(slices.Values(list))
		}
		num(int64(len(sorted)))
		for _, s := range sorted {
			str(s)
		}
	}
	pkgs := inv.Packages
	if !slices.IsSortedFunc(pkgs, ComparePackages) {
		pkgs = slices.Clone(pkgs)
		slices.SortFunc(pkgs, ComparePackages)
	}
	num(int64(len(pkgs)))
	for _, p := range pkgs {
		str(p.Name)
		str(p.Arch)
		str(p.Version)
		str(p.SourceName)
		str(p.SourceVersion)
	}
	ups := inv.Updates
	if !slices.IsSortedFunc(ups, CompareUpdates) {
		ups = slices.Clone(ups)
		slices.SortFunc(ups, CompareUpdates)
	}
	num(int64(len(ups)))
	for _, u := range ups {
		str(u.Name)
		str(u.Arch)
		str(u.InstalledVersion)
		str(u.CandidateVersion)
		str(u.Origin)
		if u.Security {
			num(1)
		} else {
			num(0)
		}
	}
	// Added after the format's first release: hashed only when set, so
	// the hash of every inventory without it is what it always was.
	if inv.UbuntuPro {
		str("ubuntu_pro")
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ComparePackages orders packages by Key(), the order of Normalize.
func ComparePackages(a, b Package) int { return compareKey(a.Name, a.Arch, b.Name, b.Arch) }

// CompareUpdates orders updates by Key(), the order of Normalize.
func CompareUpdates(a, b Update) int { return compareKey(a.Name, a.Arch, b.Name, b.Arch) }

// Validate checks what the server must be able to rely on before storing
// an inventory. It reports the first problem with a message that says which
// field is wrong.
func (inv Inventory) Validate() error {
	if inv.SchemaVersion != InventorySchemaVersion {
		return Errorf(EINVALID, "unsupported inventory schema_version %d (this server reads %d)", inv.SchemaVersion, InventorySchemaVersion)
	}
	if inv.MachineID == "" {
		return Errorf(EINVALID, "inventory: machine_id is required")
	}
	if inv.Hostname == "" {
		return Errorf(EINVALID, "inventory: hostname is required")
	}
	seen := make(map[string]bool, len(inv.Packages))
	for i, p := range inv.Packages {
		if p.Name == "" || p.Version == "" {
			return Errorf(EINVALID, "inventory: packages[%d]: name and version are required", i)
		}
		if seen[p.Key()] {
			return Errorf(EINVALID, "inventory: packages[%d]: %s listed twice", i, p.Key())
		}
		seen[p.Key()] = true
	}
	for i, u := range inv.Updates {
		if u.Name == "" || u.CandidateVersion == "" {
			return Errorf(EINVALID, "inventory: updates[%d]: name and candidate_version are required", i)
		}
	}
	return nil
}
