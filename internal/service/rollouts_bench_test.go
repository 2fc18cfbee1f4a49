package service_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/service"
	"github.com/patchbay/patchbay/internal/sqlite"
)

// BenchmarkRolloutTick measures one scheduler tick on a rollout of 10,000
// hosts in real SQLite (5 frozen packages each, a ring of 50 at a time):
// the write transaction that loads the rollout and its hosts, rollout.Plan
// and, when nothing changed, no write. The first tick (which starts 50
// hosts and queues their jobs) is reported apart.
//
//	go test ./internal/service -run '^$' -bench RolloutTick
func BenchmarkRolloutTick(b *testing.B) {
	const n = 10000
	ctx := b.Context()
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "db.sqlite"), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	now := time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)
	if err := db.CreateEnrollToken(ctx, patchbay.EnrollToken{ID: "bench", Hash: "bench", CreatedAt: now}); err != nil {
		b.Fatal(err)
	}
	runs := make([]patchbay.HostRun, 0, n)
	for i := range n {
		h, _, err := db.Enroll(ctx, patchbay.Enrollment{TokenID: "bench", TokenHash: "bench", MachineID: fmt.Sprintf("%032x", i+1),
			Hostname: fmt.Sprintf("host-%05d", i), CredentialHash: fmt.Sprintf("cred-%d", i), IntervalSecs: 300}, now)
		if err != nil {
			b.Fatal(err)
		}
		var patches []patchbay.PackageVersion
		for _, p := range []string{"openssl", "libssl3", "bash", "tzdata", "curl"} {
			patches = append(patches, patchbay.PackageVersion{Name: p, Arch: "amd64", Version: "1.2.3-4+deb12u1"})
		}
		ring := 1
		if i < 10 {
			ring = 0
		}
		runs = append(runs, patchbay.HostRun{HostID: h.ID, Hostname: h.Hostname, Ring: ring, State: patchbay.HostPending, Patches: patches})
	}
	r, err := db.CreateRollout(ctx, patchbay.Rollout{Name: "bench", Policy: patchbay.PolicyAll, Target: patchbay.Selector{}, State: patchbay.RolloutRunning,
		Rings:     []patchbay.Ring{{Name: "canary", Count: 10, MaxConcurrency: 10}, {Name: "rest", Percent: 100, MaxConcurrency: 50}},
		CreatedAt: now}, runs, nil)
	if err != nil {
		b.Fatal(err)
	}
	svc := service.New(db, service.Options{Now: func() time.Time { return now }})
	start := time.Now()
	if err := svc.Tick(ctx, r.ID); err != nil {
		b.Fatal(err)
	}
	first := time.Since(start)
	for b.Loop() {
		if err := svc.Tick(ctx, r.ID); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(first.Microseconds())/1000, "first-tick-ms")
}
