package server_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/client"
	"github.com/patchbay/patchbay/internal/pki"
	"github.com/patchbay/patchbay/internal/server"
	"github.com/patchbay/patchbay/internal/service"
	"github.com/patchbay/patchbay/internal/sqlite"
)

// BenchmarkCheckIn measures unchanged check-ins (a heartbeat whose
// inventory hash matches) through the real HTTPS server, service and
// SQLite store, from many concurrent agents over keep-alive connections.
// It reports check-ins per second and the p99 latency. Target (issue 2):
// ≥ 2,000/s with p99 ≤ 50 ms. Client and server share this machine's
// cores, so the figure is a lower bound for a dedicated server.
func BenchmarkCheckIn(b *testing.B) {
	const hosts = 200
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	dir := b.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "db.sqlite"), logger)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	bundle, err := pki.Ensure(filepath.Join(dir, "pki"), []string{"127.0.0.1"}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	svc := service.New(db, service.Options{Logger: logger, CAHash: bundle.CAHash})
	srv, err := server.Start("127.0.0.1:0", bundle, svc, logger)
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown(ctx)

	admin, err := svc.CreateAdminToken(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	p, _ := svc.Authenticate(ctx, admin)
	tok, _, err := svc.CreateEnrollToken(patchbay.NewContext(ctx, p), service.NewEnrollToken{})
	if err != nil {
		b.Fatal(err)
	}
	tlsCfg, err := pki.PoolConfig(bundle.CAPEM)
	if err != nil {
		b.Fatal(err)
	}
	type agent struct {
		c  *client.Client
		hb patchbay.Heartbeat
	}
	agents := make([]agent, hosts)
	for i := range agents {
		c := client.New(srv.URL(), "", tlsCfg.Clone())
		mid := fmt.Sprintf("%032x", i+1)
		r, err := c.Enroll(ctx, patchbay.EnrollRequest{Token: tok, MachineID: mid, Hostname: fmt.Sprintf("h%04d", i), IntervalSeconds: 300})
		if err != nil {
			b.Fatal(err)
		}
		c = c.WithToken(r.Credential)
		inv := patchbay.Inventory{SchemaVersion: 1, MachineID: mid, Hostname: fmt.Sprintf("h%04d", i), PackageManager: "apt",
			Packages: []patchbay.Package{{Name: "bash", Arch: "amd64", Version: "5.2.15-2+b7"}}}
		if err := c.PutInventory(ctx, inv); err != nil {
			b.Fatal(err)
		}
		agents[i] = agent{c: c, hb: patchbay.Heartbeat{SchemaVersion: 1, InventoryHash: inv.ContentHash(), IntervalSeconds: 300}}
	}
	_ = tls.VersionTLS13

	var next atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	workers := 16
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for {
				n := next.Add(1)
				if n > int64(b.N) {
					break
				}
				a := agents[int(n)%hosts]
				t0 := time.Now()
				reply, err := a.c.Heartbeat(ctx, a.hb)
				if err != nil {
					b.Error(err)
					return
				}
				if reply.SendInventory {
					b.Error("unchanged check-in asked for the inventory")
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "checkins/s")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	}
}
