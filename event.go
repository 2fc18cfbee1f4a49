package patchbay

import "time"

// EventKind names what happened on a host.
type EventKind string

const (
	EventEnrolled          EventKind = "enrolled"
	EventInventoryBaseline EventKind = "inventory_baseline" // first inventory of a host
	EventPackageInstalled  EventKind = "package_installed"
	EventPackageRemoved    EventKind = "package_removed"
	EventPackageUpgraded   EventKind = "package_upgraded"
	EventPackageDowngraded EventKind = "package_downgraded"
	EventKernelChanged     EventKind = "kernel_changed"
	EventOSChanged         EventKind = "os_changed"
	EventReboot            EventKind = "reboot"
	EventFindingOpened     EventKind = "finding_opened"   // an advisory matched an installed package
	EventFindingResolved   EventKind = "finding_resolved" // it no longer does (upgraded, removed, advisory withdrawn)
	EventRetired           EventKind = "retired"          // an operator retired the host
	EventUnretired         EventKind = "unretired"        // an operator took it back
	EventCatchUp           EventKind = "catch_up"         // it came back and got the work of a rollout it missed
)

// CauseObserved is the cause of a change the agent saw but Patchbay did
// not make (by hand, unattended-upgrades, another tool).
const CauseObserved = "observed"

// CauseEnrolment is the cause of the enrolled event.
const CauseEnrolment = "enrolment"

// Event is one entry in a host's timeline. For package events Package,
// Arch, OldVersion and NewVersion are set; for kernel and OS changes the
// versions hold the old and new kernel or OS; for reboots the boot ids.
type Event struct {
	ID         int64     `json:"id"`
	HostID     int64     `json:"host_id"`
	Time       time.Time `json:"time"`
	Kind       EventKind `json:"kind"`
	Package    string    `json:"package"`
	Arch       string    `json:"arch"`
	OldVersion string    `json:"old_version"`
	NewVersion string    `json:"new_version"`
	Cause      string    `json:"cause"`
	Detail     string    `json:"detail"`
}

// EventFilter selects events of one host, newest first.
type EventFilter struct {
	HostID  int64
	Since   time.Time // zero: no lower bound
	Package string    // exact package name
	Kinds   []EventKind
	Limit   int
}
