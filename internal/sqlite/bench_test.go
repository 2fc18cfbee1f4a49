package sqlite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/service"
)

// synthFleet generates realistic Debian inventories: a pool of package
// names with one fleet-wide version each, hosts that share about 95% of
// their packages, a few older versions held back on some hosts and a few
// versions found on one host only.
type synthFleet struct {
	pool []patchbay.Package // the fleet-wide version of each name
	old  []patchbay.Package // an older version of each name
}

const (
	synthPoolSize    = 3000
	synthCommon      = 1900 // packages every host has
	synthPerHost     = 2000
	synthOwnVersions = 5  // host-specific versions per host
	synthHeldBack    = 20 // packages at the older version on one host in ten
	synthUpdates     = 20 // pending updates per host, a quarter of them security
	synthChanged     = 5  // packages changed in the re-report
)

func newSynthFleet() *synthFleet {
	r := rand.New(rand.NewPCG(1, 2))
	prefixes := []string{"", "", "lib", "lib", "python3-", "golang-", "node-", "fonts-", "r-cran-", "gir1.2-"}
	stems := []string{"xml", "ssl", "curl", "z", "bz", "lzma", "zstd", "ffi", "gcrypt", "gnutls", "nettle", "idn",
		"systemd", "udev", "pam", "cap", "acl", "attr", "selinux", "apparmor", "krb5", "ldap", "sasl", "db", "gdbm",
		"sqlite", "pcre", "glib", "gtk", "cairo", "pango", "harfbuzz", "freetype", "png", "jpeg", "tiff", "webp",
		"openssh", "apt", "dpkg", "perl", "python", "ruby", "lua", "tcl", "readline", "ncurses", "bash", "coreutils",
		"util-linux", "e2fs", "lvm", "mdadm", "cryptsetup", "grub", "linux", "firmware", "nginx", "apache", "postfix",
		"rsyslog", "logrotate", "cron", "sudo", "vim", "less", "tar", "gzip", "xz", "wget", "git", "rsync", "tzdata"}
	suffixes := []string{"", "-dev", "-common", "-data", "-bin", "-utils", "1", "2", "3", "6", "-doc", "-tools", "0", "-plugins"}
	seen := map[string]bool{}
	f := &synthFleet{}
	for len(f.pool) < synthPoolSize {
		stem := stems[r.IntN(len(stems))]
		name := prefixes[r.IntN(len(prefixes))] + stem + suffixes[r.IntN(len(suffixes))]
		if seen[name] {
			name += strconv.Itoa(r.IntN(100))
			if seen[name] {
				continue
			}
		}
		seen[name] = true
		major, minor, rev, deb := 1+r.IntN(9), r.IntN(40), 1+r.IntN(9), 1+r.IntN(6)
		var version, older string
		switch r.IntN(5) {
		case 0: // 2.36-9+deb12u4
			version = fmt.Sprintf("%d.%d-%d+deb12u%d", major, minor, rev, deb)
			older = fmt.Sprintf("%d.%d-%d+deb12u%d", major, minor, rev, deb-1)
		case 1: // 1:9.2p1-2+deb12u3
			version = fmt.Sprintf("1:%d.%dp1-%d+deb12u%d", major, minor, rev, deb)
			older = fmt.Sprintf("1:%d.%dp1-%d", major, minor, rev)
		case 2: // 3.0.11-1~deb12u2
			version = fmt.Sprintf("%d.%d.%d-1~deb12u%d", major, minor, rev, deb)
			older = fmt.Sprintf("%d.%d.%d-1", major, minor, rev-1)
		case 3: // 5.2.15-2+b7
			version = fmt.Sprintf("%d.%d.%d-%d+b%d", major, minor, rev, deb, 1+r.IntN(9))
			older = fmt.Sprintf("%d.%d.%d-%d", major, minor, rev, deb)
		default: // 2.38.1-5
			version = fmt.Sprintf("%d.%d.%d-%d", major, minor, rev, deb)
			older = fmt.Sprintf("%d.%d.%d-%d", major, minor, rev, deb-1)
		}
		source := name
		if len(name) > 3 && name[:3] == "lib" {
			source = stem
		}
		arch := "amd64"
		if r.IntN(8) == 0 {
			arch = "all"
		}
		f.pool = append(f.pool, patchbay.Package{Name: name, Arch: arch, Version: version, SourceName: source, SourceVersion: version})
		f.old = append(f.old, patchbay.Package{Name: name, Arch: arch, Version: older, SourceName: source, SourceVersion: older})
	}
	return f
}

// inventory returns host n's first report and its re-report, in which
// synthChanged packages moved to a new version.
func (f *synthFleet) inventory(n int) (first, second patchbay.Inventory) {
	r := rand.New(rand.NewPCG(uint64(n), 7))
	pkgs := make([]patchbay.Package, 0, synthPerHost)
	pkgs = append(pkgs, f.pool[:synthCommon]...)
	for _, i := range r.Perm(synthPoolSize - synthCommon)[:synthPerHost-synthCommon] {
		pkgs = append(pkgs, f.pool[synthCommon+i])
	}
	if n%10 == 0 {
		for _, i := range r.Perm(synthCommon)[:synthHeldBack] {
			pkgs[i] = f.old[i]
		}
	}
	for _, i := range r.Perm(synthPerHost)[:synthOwnVersions] {
		pkgs[i].Version += "+local" + strconv.Itoa(n)
		pkgs[i].SourceVersion = pkgs[i].Version
	}
	var updates []patchbay.Update
	for k, i := range r.Perm(synthPerHost)[:synthUpdates] {
		p := pkgs[i]
		updates = append(updates, patchbay.Update{Name: p.Name, Arch: p.Arch, InstalledVersion: p.Version,
			CandidateVersion: p.Version + "+deb12u9", Origin: "Debian:12.9/stable", Security: k%4 == 0})
	}
	first = patchbay.Inventory{
		SchemaVersion: patchbay.InventorySchemaVersion,
		MachineID:     fmt.Sprintf("%032x", n),
		Hostname:      fmt.Sprintf("host-%05d", n),
		OS: patchbay.OS{ID: "debian", VersionID: "12", Codename: "bookworm", Name: "Debian GNU/Linux",
			PrettyName: "Debian GNU/Linux 12 (bookworm)"},
		Kernel: "6.1.0-31-amd64", Arch: "amd64", BootID: fmt.Sprintf("boot-%d", n), UptimeSeconds: 3600,
		IPAddresses: []string{fmt.Sprintf("10.%d.%d.%d", n>>16&255, n>>8&255, n&255)}, PackageManager: "apt",
		Packages: pkgs, Updates: updates,
	}
	second = first
	second.Packages = append([]patchbay.Package(nil), pkgs...)
	for _, i := range r.Perm(synthPerHost)[:synthChanged] {
		second.Packages[i].Version += "+deb12u9"
		second.Packages[i].SourceVersion = second.Packages[i].Version
	}
	return first, second
}

// BenchmarkIngest enrols PATCHBAY_BENCH_INGEST_HOSTS hosts (default 200)
// and measures the real ingest path (service.ReportInventory: validate,
// load the stored inventory, diff, SaveInventory): each host's first inventory of 2,000
// packages, then a re-report with 5 changed packages, from
// PATCHBAY_BENCH_INGEST_WORKERS concurrent callers (default GOMAXPROCS),
// as agents reporting to one server would. Enrolment is not timed.
//
//	PATCHBAY_BENCH_INGEST_HOSTS=10000 go test -run '^$' -bench Ingest -benchtime 1x ./internal/sqlite/
//
// Measured on the 2-core development VM, shared with other work: 10,000
// hosts in 59 s and 69 s of wall time (first inventories 35-39 s at
// 520-580k rows/s, re-reports 24-30 s), 91 s of process CPU; a quarter of
// the CPU is Inventory.ContentHash, a fifth inserting host_packages rows.
func BenchmarkIngest(b *testing.B) {
	hosts := envInt(b, "PATCHBAY_BENCH_INGEST_HOSTS", 200)
	workers := envInt(b, "PATCHBAY_BENCH_INGEST_WORKERS", runtime.GOMAXPROCS(0))
	fleet := newSynthFleet()
	for b.Loop() {
		b.StopTimer()
		ctx := b.Context()
		dir := b.TempDir()
		db, err := Open(ctx, filepath.Join(dir, "bench.db"), nil)
		if err != nil {
			b.Fatal(err)
		}
		ids := enrolSynth(b, db, hosts)
		b.StartTimer()

		cpu0 := cpuTime(b)
		start := time.Now()
		firstRows := ingest(b, db, fleet, ids, workers, false)
		firstTime := time.Since(start)
		start = time.Now()
		secondRows := ingest(b, db, fleet, ids, workers, true)
		secondTime := time.Since(start)

		b.StopTimer()
		cpu := cpuTime(b) - cpu0
		total := firstTime + secondTime
		b.ReportMetric(float64(hosts)/total.Seconds(), "hosts/s")
		b.ReportMetric(float64(firstRows)/firstTime.Seconds(), "first-rows/s")
		b.ReportMetric(float64(hosts)/secondTime.Seconds(), "rereports/s")
		b.ReportMetric(cpu.Seconds(), "cpu-s")
		b.Logf("%d hosts, %d workers: first inventories %v (%d package+update rows, %.0f rows/s), re-reports %v (%d rows), total %v, process CPU %v",
			hosts, workers, firstTime.Round(time.Millisecond), firstRows, float64(firstRows)/firstTime.Seconds(),
			secondTime.Round(time.Millisecond), secondRows, total.Round(time.Millisecond), cpu.Round(time.Millisecond))
		reportQueries(b, db, fleet, ids)
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
		if fi, err := os.Stat(filepath.Join(dir, "bench.db")); err == nil {
			b.Logf("database file: %.0f MiB", float64(fi.Size())/(1<<20))
		}
		b.StartTimer()
	}
}

// cpuTime is the user and system CPU time of the process so far: on a
// shared machine a steadier figure than the wall clock.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func envInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

// enrolSynth enrols hosts 0..n-1 and returns their ids.
func enrolSynth(b *testing.B, db *DB, n int) []int64 {
	ctx := b.Context()
	if err := db.CreateEnrollToken(ctx, patchbay.EnrollToken{ID: "bench", Hash: "h"}); err != nil {
		b.Fatal(err)
	}
	ids := make([]int64, n)
	for i := range n {
		h, _, err := db.Enroll(ctx, patchbay.Enrollment{TokenID: "bench", TokenHash: "h", MachineID: fmt.Sprintf("%032x", i),
			Hostname: fmt.Sprintf("host-%05d", i), CredentialHash: fmt.Sprintf("cred-%d", i), IntervalSecs: 300}, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = h.ID
	}
	return ids
}

// ingest saves the first inventory (or the re-report) of every host from
// workers goroutines and returns the package and update rows written.
func ingest(b *testing.B, db *DB, fleet *synthFleet, ids []int64, workers int, rereport bool) int {
	ctx := b.Context()
	svc := service.New(db, service.Options{})
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		rows int
		next = make(chan int)
	)
	for range workers {
		wg.Go(func() {
			n := 0
			for i := range next {
				first, second := fleet.inventory(i)
				// The real ingest path: the service validates, loads the
				// stored inventory, computes the events and saves.
				hctx := patchbay.NewContext(ctx, patchbay.Principal{Kind: patchbay.PrincipalHost, HostID: ids[i]})
				inv := first
				if rereport {
					inv = second
				}
				if !rereport {
					n += len(first.Packages) + len(first.Updates)
				} else {
					n += 2 * len(diffEvents(first, second))
				}
				err := svc.ReportInventory(hctx, inv)
				if err != nil {
					b.Error(err)
				}
			}
			mu.Lock()
			rows += n
			mu.Unlock()
		})
	}
	for i := range ids {
		next <- i
	}
	close(next)
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	return rows
}

// diffEvents is the upgrade events the service would compute.
func diffEvents(a, b patchbay.Inventory) []patchbay.Event {
	var ev []patchbay.Event
	for i := range a.Packages {
		if a.Packages[i].Version != b.Packages[i].Version {
			ev = append(ev, patchbay.Event{Kind: patchbay.EventPackageUpgraded, Package: b.Packages[i].Name, Arch: b.Packages[i].Arch,
				OldVersion: a.Packages[i].Version, NewVersion: b.Packages[i].Version, Cause: patchbay.CauseObserved})
		}
	}
	return ev
}

// reportQueries logs how long the read paths take on the ingested fleet.
func reportQueries(b *testing.B, db *DB, fleet *synthFleet, ids []int64) {
	ctx := context.Background()
	timeIt := func(name string, fn func() (int, error)) {
		start := time.Now()
		n, err := fn()
		if err != nil {
			b.Fatalf("%s: %v", name, err)
		}
		b.Logf("%-40s %8v  (%d rows)", name, time.Since(start).Round(time.Microsecond), n)
	}
	timeIt("ListHosts (all)", func() (int, error) {
		hs, err := db.ListHosts(ctx, patchbay.HostFilter{})
		return len(hs), err
	})
	timeIt("ListHosts (security updates, limit 50)", func() (int, error) {
		hs, err := db.ListHosts(ctx, patchbay.HostFilter{SecurityUpdates: true, Limit: 50})
		return len(hs), err
	})
	timeIt("Inventory (one host)", func() (int, error) {
		inv, err := db.Inventory(ctx, ids[len(ids)/2])
		return len(inv.Packages), err
	})
	p := fleet.pool[0]
	timeIt("hosts with "+p.Name+" "+p.Version, func() (int, error) {
		return hostsWithPackage(ctx, db, p.Name, p.Version)
	})
}

// hostsWithPackage counts the hosts that have a version of a package: the
// query vulnerability matching will run, one primary-key seek per host.
func hostsWithPackage(ctx context.Context, db *DB, name, version string) (int, error) {
	var n int
	err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM hosts h WHERE EXISTS (
		SELECT 1 FROM host_packages hp WHERE hp.host_id = h.id AND hp.package_id IN (
			SELECT id FROM package_versions WHERE name = ? AND version = ?))`, name, version).Scan(&n)
	return n, err
}
