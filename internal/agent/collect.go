package agent

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/osinfo"
	"github.com/patchbay/patchbay/internal/pkgmgr"
)

// HostCollector collects a host's inventory from its OS facts and its
// package manager.
type HostCollector struct {
	Root    string
	Facts   osinfo.Options
	Manager pkgmgr.Manager
	Now     func() time.Time
	Logger  *slog.Logger
}

// Collect implements Collector. A failure to list updates is reported in
// the inventory (UpdatesError), not as an error: the packages are still
// worth sending, and the server keeps the updates it knew.
func (c *HostCollector) Collect(ctx context.Context, refresh bool) (patchbay.Inventory, error) {
	f, err := osinfo.Collect(ctx, c.Root, c.Facts)
	if err != nil {
		return patchbay.Inventory{}, fmt.Errorf("os facts: %w", err)
	}
	inv := patchbay.Inventory{
		SchemaVersion:  patchbay.InventorySchemaVersion,
		CollectedAt:    c.Now().UTC(),
		MachineID:      f.MachineID,
		Hostname:       f.Hostname,
		OS:             f.OS,
		Kernel:         f.Kernel,
		Arch:           f.Arch,
		BootID:         f.BootID,
		UptimeSeconds:  f.UptimeSeconds,
		IPAddresses:    f.IPAddresses,
		PackageManager: c.Manager.Name(),
	}
	if f.OS.ID == "ubuntu" {
		// Not attached unless the Pro client says so; an unreadable
		// status file is logged and taken as not attached.
		pro, err := osinfo.UbuntuPro(c.Root)
		if err != nil {
			c.Logger.WarnContext(ctx, "ubuntu pro status unreadable; reporting not attached", "err", err)
		}
		inv.UbuntuPro = pro.Attached
	}
	if inv.Packages, err = c.Manager.Packages(ctx); err != nil {
		return patchbay.Inventory{}, fmt.Errorf("list packages: %w", err)
	}
	if refresh {
		// A failed refresh leaves the indexes of the last good one: the
		// updates listed from them are still real, only possibly not all.
		if err := c.Manager.Refresh(ctx); err != nil {
			c.Logger.WarnContext(ctx, "refresh package indexes failed; listing updates from the previous indexes", "err", err)
		}
	}
	if inv.Updates, err = c.Manager.Updates(ctx); err != nil {
		inv.UpdatesError = "list updates: " + err.Error()
		inv.Updates = nil
	}
	if inv.RebootRequired, inv.RebootReasons, err = c.Manager.RebootRequired(ctx); err != nil {
		inv.RebootReasons = []string{"could not tell: " + err.Error()}
	}
	inv.Normalize()
	return inv, nil
}
