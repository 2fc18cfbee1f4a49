package patchbay

import (
	"context"
	"encoding/json"
	"time"
)

// HostStatus is where a host is in its life, derived from when it was
// last seen, except retired which an operator sets:
//
//	active → stale (StaleAfterIntervals missed check-ins) → dormant
//	(Lifecycle.DormantAfter unseen) → retired (patchbay hosts retire)
//
// A stale or dormant host that checks in again is active at once; a
// retired one stays retired (its agent is refused) until unretired.
type HostStatus string

const (
	HostActive HostStatus = "active"
	// HostStale: the host missed StaleAfterIntervals check-ins in a row.
	HostStale HostStatus = "stale"
	// HostDormant: the host has not been seen for Lifecycle.DormantAfter.
	HostDormant HostStatus = "dormant"
	// HostRetired: an operator retired it. It is out of every list,
	// figure and plan, its history is kept, and its agent is refused.
	HostRetired HostStatus = "retired"
)

// HostStatuses lists every status in life order.
var HostStatuses = []HostStatus{HostActive, HostStale, HostDormant, HostRetired}

// StaleAfterIntervals is how many check-in intervals a host may miss
// before it counts as stale.
const StaleAfterIntervals = 3

// Lifecycle defaults: a host unseen for two weeks is dormant; one unseen
// for 90 days is proposed for retirement ("if your VM isn't worth
// patching, we're not keeping it").
const (
	DefaultDormantAfter = 14 * 24 * time.Hour
	DefaultRetireAfter  = 90 * 24 * time.Hour
)

// Lifecycle is the server's policy for hosts that stop checking in.
type Lifecycle struct {
	// DormantAfter is how long a host may go unseen before it is dormant.
	DormantAfter time.Duration `json:"dormant_after"`
	// RetireAfter is how long a host may go unseen before the dormant
	// report proposes it for retirement.
	RetireAfter time.Duration `json:"retire_after"`
}

// OrDefault fills the zero fields with the defaults.
func (l Lifecycle) OrDefault() Lifecycle {
	if l.DormantAfter <= 0 {
		l.DormantAfter = DefaultDormantAfter
	}
	if l.RetireAfter <= 0 {
		l.RetireAfter = DefaultRetireAfter
	}
	return l
}

// Validate checks that a host goes dormant before it is proposed for
// retirement, and not before it could be stale.
func (l Lifecycle) Validate() error {
	l = l.OrDefault()
	if l.DormantAfter < time.Minute {
		return Errorf(EINVALID, "dormant-after %s: want at least 1m", l.DormantAfter)
	}
	if l.RetireAfter < l.DormantAfter {
		return Errorf(EINVALID, "retire-after %s is shorter than dormant-after %s", l.RetireAfter, l.DormantAfter)
	}
	return nil
}

// Away reports whether a host last seen at lastSeen, checking in every
// intervalSeconds (0: every 5 minutes), has missed StaleAfterIntervals
// check-ins at now: it is stale or dormant.
func Away(lastSeen time.Time, intervalSeconds int64, now time.Time) bool {
	return now.After(AwayAt(lastSeen, intervalSeconds))
}

// AwayAt is when a host last seen at lastSeen, checking in every
// intervalSeconds (0: every 5 minutes), becomes away (see Away).
func AwayAt(lastSeen time.Time, intervalSeconds int64) time.Time {
	interval := time.Duration(intervalSeconds) * time.Second
	if interval <= 0 {
		interval = 5 * time.Minute
	}
	return lastSeen.Add(StaleAfterIntervals * interval)
}

// Host is one enrolled machine with its latest facts and asset fields.
type Host struct {
	ID                   int64      `json:"id"`
	MachineID            string     `json:"machine_id"`
	Hostname             string     `json:"hostname"`
	OS                   OS         `json:"os"`
	Kernel               string     `json:"kernel"`
	Arch                 string     `json:"arch"`
	BootID               string     `json:"boot_id"`
	UptimeSeconds        int64      `json:"uptime_seconds"`
	IPAddresses          []string   `json:"ip_addresses"`
	PackageManager       string     `json:"package_manager"`
	PackagesCount        int        `json:"packages_count"`
	UpdatesCount         int        `json:"updates_count"`
	SecurityUpdatesCount int        `json:"security_updates_count"`
	RebootRequired       bool       `json:"reboot_required"`
	RebootReasons        []string   `json:"reboot_reasons"`
	UbuntuPro            bool       `json:"ubuntu_pro"` // attached to Ubuntu Pro
	InventoryHash        string     `json:"inventory_hash"`
	IntervalSeconds      int64      `json:"interval_seconds"`
	EnrolledAt           time.Time  `json:"enrolled_at"`
	LastSeen             time.Time  `json:"last_seen"`
	LastInventory        time.Time  `json:"last_inventory"`
	Status               HostStatus `json:"status"`
	// RetiredAt, RetiredBy and RetiredReason are set while the host is
	// retired.
	RetiredAt     time.Time         `json:"retired_at,omitzero"`
	RetiredBy     string            `json:"retired_by,omitempty"`
	RetiredReason string            `json:"retired_reason,omitempty"`
	Assets        Assets            `json:"assets"`
	Labels        map[string]string `json:"labels"`
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

// StatusAt derives the host's status at time now under lifecycle lc
// (zero fields: the defaults).
func (h Host) StatusAt(now time.Time, lc Lifecycle) HostStatus {
	switch {
	case !h.RetiredAt.IsZero():
		return HostRetired
	case h.IsImage():
		return HostActive // only seen when inventoried: never stale
	case now.Sub(h.LastSeen) > lc.OrDefault().DormantAfter:
		return HostDormant
	case Away(h.LastSeen, h.IntervalSeconds, now):
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
	Labels map[string]string // every pair must match (asset fields included)
	OSID   string
	// Status selects the hosts in exactly that status; "" selects every
	// host that is not retired. Stale selects the hosts that are stale
	// or dormant.
	Status          HostStatus
	Stale           bool
	DormantAfter    time.Duration // for the dormant status; 0: DefaultDormantAfter
	Search          string        // hostname contains this (case-insensitive)
	NeedsReboot     bool
	HasUpdates      bool
	SecurityUpdates bool
	Now             time.Time // for the status computation
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

	// RetireHost retires a host at now (ECONFLICT if it is retired
	// already) with a retired event in its timeline; its pending and
	// missed places in rollouts are skipped. UnretireHost takes it back
	// (ECONFLICT if it is not retired) with an unretired event.
	RetireHost(ctx context.Context, id int64, by, reason string, now time.Time) (Host, error)
	UnretireHost(ctx context.Context, id int64, by string, now time.Time) (Host, error)
	// HostExposures returns the open findings of each host of ids,
	// counted (hosts without findings are absent).
	HostExposures(ctx context.Context, ids []int64) (map[int64]Exposure, error)

	Packages(ctx context.Context, hostID int64) ([]Package, error)
	Updates(ctx context.Context, hostID int64) ([]Update, error)
	Events(ctx context.Context, f EventFilter) ([]Event, error)
}

// Exposure counts a host's open findings: its last known exposure when
// it is not reporting.
type Exposure struct {
	Findings int `json:"findings"`
	Critical int `json:"critical"`
	High     int `json:"high"`
	KEV      int `json:"kev"`
}

// DormantHost is one line of the dormant report.
type DormantHost struct {
	ID          int64      `json:"id"`
	Hostname    string     `json:"hostname"`
	Owner       string     `json:"owner"`
	Environment string     `json:"environment"`
	Status      HostStatus `json:"status"`
	LastSeen    time.Time  `json:"last_seen"`
	DaysUnseen  int        `json:"days_unseen"`
	// SecurityUpdates is the security updates pending at its last report.
	SecurityUpdates int      `json:"security_updates"`
	Exposure        Exposure `json:"exposure"`
	// ProposeRetire is set once the host has been unseen for
	// Lifecycle.RetireAfter.
	ProposeRetire bool `json:"propose_retire"`
}

// DormantReport lists the dormant hosts, longest unseen first.
type DormantReport struct {
	Now       time.Time     `json:"now"`
	Lifecycle Lifecycle     `json:"lifecycle"`
	Hosts     []DormantHost `json:"hosts"`
	// ProposedForRetirement counts the hosts with ProposeRetire.
	ProposedForRetirement int `json:"proposed_for_retirement"`
}
