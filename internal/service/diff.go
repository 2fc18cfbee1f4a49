package service

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/vercmp"
)

// Diff returns the events that take a host from inventory old to inventory
// next, at time now with the given cause. A host's first inventory (old
// has no packages and hasPrev is false) is one baseline event rather than
// thousands of "installed" events: nothing changed, Patchbay just started
// looking.
func Diff(old, next patchbay.Inventory, hasPrev bool, now time.Time, cause string) []patchbay.Event {
	ev := func(kind patchbay.EventKind) patchbay.Event {
		return patchbay.Event{Time: now, Kind: kind, Cause: cause}
	}
	if !hasPrev {
		e := ev(patchbay.EventInventoryBaseline)
		e.Detail = fmt.Sprintf("first inventory: %d packages, %d updates pending", len(next.Packages), len(next.Updates))
		return []patchbay.Event{e}
	}
	var out []patchbay.Event
	if old.BootID != "" && next.BootID != "" && old.BootID != next.BootID {
		e := ev(patchbay.EventReboot)
		e.OldVersion, e.NewVersion = old.BootID, next.BootID
		out = append(out, e)
	}
	if old.Kernel != next.Kernel && old.Kernel != "" {
		e := ev(patchbay.EventKernelChanged)
		e.OldVersion, e.NewVersion = old.Kernel, next.Kernel
		out = append(out, e)
	}
	if osString(old.OS) != osString(next.OS) && old.OS.ID != "" {
		e := ev(patchbay.EventOSChanged)
		e.OldVersion, e.NewVersion = osString(old.OS), osString(next.OS)
		out = append(out, e)
	}

	before := make(map[string]patchbay.Package, len(old.Packages))
	for _, p := range old.Packages {
		before[p.Key()] = p
	}
	pm := next.PackageManager
	for _, p := range next.Packages {
		o, had := before[p.Key()]
		delete(before, p.Key())
		switch {
		case !had:
			e := ev(patchbay.EventPackageInstalled)
			e.Package, e.Arch, e.NewVersion = p.Name, p.Arch, p.Version
			out = append(out, e)
		case o.Version != p.Version:
			e := ev(patchbay.EventPackageUpgraded)
			e.Package, e.Arch, e.OldVersion, e.NewVersion = p.Name, p.Arch, o.Version, p.Version
			c, err := vercmp.Compare(pm, o.Version, p.Version)
			switch {
			case err != nil:
				e.Detail = "versions not comparable: " + err.Error()
			case c > 0:
				e.Kind = patchbay.EventPackageDowngraded
			}
			out = append(out, e)
		}
	}
	removed := make([]patchbay.Package, 0, len(before))
	for _, p := range before {
		removed = append(removed, p)
	}
	slices.SortFunc(removed, func(a, b patchbay.Package) int { return strings.Compare(a.Key(), b.Key()) })
	for _, p := range removed {
		e := ev(patchbay.EventPackageRemoved)
		e.Package, e.Arch, e.OldVersion = p.Name, p.Arch, p.Version
		out = append(out, e)
	}
	return out
}

func osString(o patchbay.OS) string {
	if o.PrettyName != "" {
		return o.PrettyName
	}
	return strings.TrimSpace(o.ID + " " + o.VersionID)
}
