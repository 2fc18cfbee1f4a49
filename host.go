package patchbay

import (
	"context"
	"encoding/json"
	"time"
)

// HostStatus is derived from when a host was last seen.
type HostStatus string

const (
	HostActive HostStatus = "active"
	// HostStale: the host missed StaleAfterIntervals check-ins in a row.
	HostStale HostStatus = "stale"
)

// StaleAfterIntervals is how many check-in intervals a host may miss
// before it counts as stale.
const StaleAfterIntervals = 3

// Host is one enrolled machine with its latest facts and asset fields.
type Host struct {
	ID                   int64             `json:"id"`
	MachineID            string            `json:"machine_id"`
	Hostname             string            `json:"hostname"`
	OS                   OS                `json:"os"`
	Kernel               string            `json:"kernel"`
	Arch                 string            `json:"arch"`
	BootID               string            `json:"boot_id"`
	UptimeSeconds        int64             `json:"uptime_seconds"`
	IPAddresses          []string          `json:"ip_addresses"`
	PackageManager       string            `json:"package_manager"`
	PackagesCount        int               `json:"packages_count"`
	UpdatesCount         int               `json:"updates_count"`
	SecurityUpdatesCount int               `json:"security_updates_count"`
	RebootRequired       bool              `json:"reboot_required"`
	RebootReasons        []string          `json:"reboot_reasons"`
	UbuntuPro            bool              `json:"ubuntu_pro"` // attached to Ubuntu Pro
	InventoryHash        string            `json:"inventory_hash"`
	IntervalSeconds      int64             `json:"interval_seconds"`
	EnrolledAt           time.Time         `json:"enrolled_at"`
	LastSeen             time.Time         `json:"last_seen"`
	LastInventory        time.Time         `json:"last_inventory"`
	Status               HostStatus        `json:"status"`
	Assets               Assets            `json:"assets"`
	Labels               map[string]string `json:"labels"`
}

// MarshalJSON adds the flat os_id and os_version_id fields of the CLI's
// JSON contract beside the nested os object.
func (h Host) MarshalJSON() ([]byte, error) {
	type plain Host // without this method
	return json.Marshal(struct {
		plain
		OSID        string `json:"os_id"`
		OSVersionID string `json:"os_version_id"`
	}{plain(h), h.OS.ID, h.OS.VersionID})
}

// StatusAt derives the host's status at time now.
func (h Host) StatusAt(now time.Time) HostStatus {
	if h.IsImage() {
		return HostActive // only seen when inventoried: never stale
	}
	interval := time.Duration(h.IntervalSeconds) * time.Second
	if interval <= 0 {
		interval = 5 * time.Minute
	}
	if now.Sub(h.LastSeen) > StaleAfterIntervals*interval {
		return HostStale
	}
	return HostActive
}

// Assets are the fields that link a host to asset management.
type Assets struct {
	Owner       string `json:"owner"`
	Environment string `json:"environment"`
	Role        string `json:"role"`
	Criticality string `json:"criticality"`
	Location    string `json:"location"`
}

// AssetKeys are the keys of Assets as they appear in "key=value" arguments
// and token labels; any other key is a free label.
var AssetKeys = []string{"owner", "environment", "role", "criticality", "location"}

// Set sets the asset field named key and reports whether key is one.
func (a *Assets) Set(key, value string) bool {
	switch key {
	case "owner":
		a.Owner = value
	case "environment", "env":
		a.Environment = value
	case "role":
		a.Role = value
	case "criticality":
		a.Criticality = value
	case "location":
		a.Location = value
	default:
		return false
	}
	return true
}

// HostFilter selects hosts in a list. Zero values select everything.
type HostFilter struct {
	Labels          map[string]string // every pair must match (asset fields included)
	OSID            string
	Stale           bool   // only stale hosts
	Active          bool   // only active hosts
	Search          string // hostname contains this (case-insensitive)
	NeedsReboot     bool
	HasUpdates      bool
	SecurityUpdates bool
	Now             time.Time // for the stale computation
	Sort            HostSort  // default: by hostname
	Desc            bool      // reverse the sort
	Limit, Offset   int
}

// HostSort names the order of a host list. Ties are broken by hostname,
// then id, so pages are stable.
type HostSort string

const (
	SortHostname        HostSort = "hostname"
	SortOS              HostSort = "os"
	SortLastSeen        HostSort = "last_seen"
	SortPackages        HostSort = "packages"
	SortUpdates         HostSort = "updates"
	SortSecurityUpdates HostSort = "security"
	SortReboot          HostSort = "reboot"
)

// HostSorts are the valid values of HostFilter.Sort.
var HostSorts = []HostSort{SortHostname, SortOS, SortLastSeen, SortPackages, SortUpdates, SortSecurityUpdates, SortReboot}

// HostChanges are the asset fields and labels to change on a host. An
// empty label value removes the label.
type HostChanges struct {
	Assets map[string]string
	Labels map[string]string
}

// Heartbeat is the small message an agent sends at every check-in.
type Heartbeat struct {
	SchemaVersion   int    `json:"schema_version"`
	InventoryHash   string `json:"inventory_hash"`
	BootID          string `json:"boot_id"`
	UptimeSeconds   int64  `json:"uptime_seconds"`
	IntervalSeconds int64  `json:"interval_seconds"`
	AgentVersion    string `json:"agent_version"`
}

// HeartbeatReply tells the agent what the server wants next.
type HeartbeatReply struct {
	// SendInventory is true when the server's stored inventory hash differs
	// from the agent's: the agent then PUTs its full inventory.
	SendInventory bool `json:"send_inventory"`
	// Blocked are the versions blocked fleet-wide now (see JobsPoll).
	Blocked []PackageVersion `json:"blocked"`
}

// HostStore keeps hosts, their inventories and events.
type HostStore interface {
	// Host returns a host by id.
	Host(ctx context.Context, id int64) (Host, error)
	// FindHost resolves a reference that is an id, a hostname or a
	// machine-id. An ambiguous hostname is an EINVALID error.
	FindHost(ctx context.Context, ref string) (Host, error)
	// HostByCredential returns the host whose credential hashes to hash.
	HostByCredential(ctx context.Context, hash string) (Host, error)
	ListHosts(ctx context.Context, f HostFilter) ([]Host, error)
	// CountHosts counts the hosts ListHosts would return without limit
	// and offset.
	CountHosts(ctx context.Context, f HostFilter) (int, error)
	UpdateHost(ctx context.Context, id int64, c HostChanges) (Host, error)
	// Heartbeat records that the host was seen at now. A changed boot id is
	// recorded as a reboot event in the same transaction.
	Heartbeat(ctx context.Context, id int64, hb Heartbeat, now time.Time) (Host, error)

	// Inventory returns the stored inventory of a host.
	Inventory(ctx context.Context, hostID int64) (Inventory, error)
	// SaveInventory replaces the host's inventory and appends events, in
	// one transaction, only if the stored inventory hash is still prevHash
	// (ECONFLICT otherwise: another report won the race).
	SaveInventory(ctx context.Context, hostID int64, prevHash string, inv Inventory, events []Event, now time.Time) error

	Packages(ctx context.Context, hostID int64) ([]Package, error)
	Updates(ctx context.Context, hostID int64) ([]Update, error)
	Events(ctx context.Context, f EventFilter) ([]Event, error)
}
