package sqlite

import (
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// BenchmarkWantedChangelogs measures what the changelog requests cost on a
// synthetic fleet of PATCHBAY_BENCH_CHANGELOG_HOSTS Debian hosts (default
// 200; 2,000 packages and 20 pending updates each): the per-host query
// that follows every stored inventory, and the fleet-wide sweep that runs
// every 10 minutes. The ingest (through the service) has asked for every
// changelog; the queries count those jobs as unanswered, so every pair is
// wanted again: the worst case.
//
//	PATCHBAY_BENCH_CHANGELOG_HOSTS=10000 go test -run '^$' -bench WantedChangelogs -benchtime 1x ./internal/sqlite/
func BenchmarkWantedChangelogs(b *testing.B) {
	hosts := envInt(b, "PATCHBAY_BENCH_CHANGELOG_HOSTS", 200)
	ctx := b.Context()
	db, err := Open(ctx, filepath.Join(b.TempDir(), "bench.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ids := enrolSynth(b, db, hosts)
	ingest(b, db, newSynthFleet(), ids, runtime.GOMAXPROCS(0), false)
	now := time.Now()
	for b.Loop() {
		start := time.Now()
		const sample = 100
		for i := range sample {
			if _, err := db.WantedChangelogs(ctx, ids[i%len(ids)], now, now.Add(time.Hour), 500); err != nil {
				b.Fatal(err)
			}
		}
		perHost := time.Since(start) / sample
		start = time.Now()
		wants, err := db.WantedChangelogs(ctx, 0, now, now.Add(time.Hour), 0)
		if err != nil {
			b.Fatal(err)
		}
		sweep := time.Since(start)
		b.ReportMetric(float64(perHost.Microseconds()), "µs/host-query")
		b.ReportMetric(sweep.Seconds()*1000, "ms/sweep")
		b.Logf("%d hosts: per-host query %v, fleet sweep %v for %d wanted (source, version) pairs", hosts, perHost, sweep.Round(time.Millisecond), len(wants))
	}
}
