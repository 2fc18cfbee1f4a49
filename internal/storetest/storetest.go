// Package storetest is the conformance suite of patchbay.Store: every
// storage backend runs Run from its own tests, so that SQLite and
// PostgreSQL keep the same semantics.
package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/patchbay/patchbay"
)

// Run runs the suite. open is called once per test and must return an
// empty, migrated store; open arranges for it to be closed (t.Cleanup).
func Run(t *testing.T, open func(t *testing.T) patchbay.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s patchbay.Store)
	}{
		{"EnrollTokens", testEnrollTokens},
		{"APITokens", testAPITokens},
		{"EnrollNewHost", testEnrollNewHost},
		{"ReEnrollSameMachine", testReEnroll},
		{"EnrollRejected", testEnrollRejected},
		{"EnrollMaxUses", testEnrollMaxUses},
		{"FindHost", testFindHost},
		{"ListHostsFilters", testListHostsFilters},
		{"ListHostsStale", testListHostsStale},
		{"RetireHost", testRetireHost},
		{"CatchUpJobsFirst", testCatchUpJobsFirst},
		{"UpdateHost", testUpdateHost},
		{"Heartbeat", testHeartbeat},
		{"InventoryRoundTrip", testInventoryRoundTrip},
		{"InventoryBeforeFirstReport", testInventoryBeforeFirstReport},
		{"SaveInventoryConflict", testSaveInventoryConflict},
		{"UnknownHost", testUnknownHost},
		{"UpdatesError", testUpdatesError},
		{"Events", testEvents},
		{"ConcurrentSaveInventory", testConcurrentSaveInventory},
		{"ImportAdvisories", testImportAdvisories},
		{"KEV", testKEV},
		{"EvalHosts", testEvalHosts},
		{"ReconcileFindings", testReconcileFindings},
		{"FeedSources", testFeedSources},
		{"Users", testUsers},
		{"Sessions", testSessions},
		{"ListHostsSortSearchCount", testListHostsSortSearchCount},
		{"Rollouts", testRollouts},
		{"Policies", testPolicies},
		{"Exceptions", testExceptions},
		{"UpdatesFirstSeen", testUpdatesFirstSeen},
		{"Blocks", testBlocks},
		{"FindingCounts", testFindingCounts},
		{"OpenFindingsTrend", testOpenFindingsTrend},
		{"RolloutHostCounts", testRolloutHostCounts},
		{"Changelogs", testChangelogs},
		{"Webhooks", testWebhooks},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open(t))
		})
	}
}

// at returns the suite's base time plus d. The base has nanoseconds so
// that a backend that rounds times fails, and is not in UTC so that one
// that keeps the location in a lossy way fails too.
func at(d time.Duration) time.Time {
	return time.Date(2026, 3, 1, 13, 0, 0, 123456789, time.FixedZone("CET", 3600)).Add(d)
}

// hostOpts compares hosts without caring whether an empty list is nil.
func hostOpts() cmp.Option { return cmpopts.EquateEmpty() }

// wantCode fails t unless err carries the domain error code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := patchbay.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (err %v), want %q", got, err, code)
	}
}

// must fails t on err.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// fixture enrols hosts through one unlimited token, the only way a
// store creates hosts.
type fixture struct {
	t *testing.T
	s patchbay.Store
	n int
}

const fleetToken = "fleet"

func newFixture(t *testing.T, s patchbay.Store) *fixture {
	t.Helper()
	must(t, s.CreateEnrollToken(t.Context(), patchbay.EnrollToken{ID: fleetToken, Hash: "hash-" + fleetToken, CreatedAt: at(0)}))
	return &fixture{t: t, s: s}
}

// enroll creates a host with interval 60 s at now.
func (f *fixture) enroll(machineID, hostname string, now time.Time) patchbay.Host {
	f.t.Helper()
	f.n++
	h, created, err := f.s.Enroll(f.t.Context(), patchbay.Enrollment{
		TokenID:        fleetToken,
		TokenHash:      "hash-" + fleetToken,
		MachineID:      machineID,
		Hostname:       hostname,
		CredentialHash: fmt.Sprintf("cred-%s-%d", machineID, f.n),
		IntervalSecs:   60,
	}, now)
	if err != nil {
		f.t.Fatalf("enrol %s: %v", machineID, err)
	}
	if !created {
		f.t.Fatalf("enrol %s: created = false for a new machine", machineID)
	}
	return h
}

// inventory returns a Debian inventory for h with the given packages and
// updates.
func inventory(h patchbay.Host, pkgs []patchbay.Package, updates []patchbay.Update) patchbay.Inventory {
	return patchbay.Inventory{
		SchemaVersion: patchbay.InventorySchemaVersion,
		CollectedAt:   at(-time.Second),
		MachineID:     h.MachineID,
		Hostname:      h.Hostname,
		OS: patchbay.OS{ID: "debian", VersionID: "12", Codename: "bookworm", Name: "Debian GNU/Linux",
			PrettyName: "Debian GNU/Linux 12 (bookworm)"},
		Kernel:         "6.1.0-18-amd64",
		Arch:           "amd64",
		BootID:         "boot-" + h.MachineID,
		UptimeSeconds:  3600,
		IPAddresses:    []string{"192.0.2.10", "2001:db8::10"},
		PackageManager: "apt",
		Packages:       pkgs,
		Updates:        updates,
	}
}

func pkg(name, version string) patchbay.Package {
	return patchbay.Package{Name: name, Arch: "amd64", Version: version, SourceName: name, SourceVersion: version}
}

func update(name, from, to string, security bool) patchbay.Update {
	origin := "Debian:12.5/stable"
	if security {
		origin = "Debian-Security:12/stable-security"
	}
	return patchbay.Update{Name: name, Arch: "amd64", InstalledVersion: from, CandidateVersion: to, Origin: origin, Security: security}
}

// hostIDs lists the ids of hosts, in order.
func hostIDs(hosts []patchbay.Host) []int64 {
	ids := []int64{}
	for _, h := range hosts {
		ids = append(ids, h.ID)
	}
	return ids
}
