package service_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/vuln/match"
	"github.com/patchbay/patchbay/internal/vuln/osv"
	"github.com/patchbay/patchbay/internal/vuln/vulntest"
)

// BenchmarkFleetEvaluation re-evaluates a whole fleet (half AlmaLinux 9
// with ~600 packages, half Debian 12 with ~1,500) against all 1,783 real
// AlmaLinux 9 advisories and the Debian fixtures, and prints the figure
// per host beside a naive loop (every host, every package, every advisory)
// measured in the same run on a sample of hosts. PATCHBAY_BENCH_HOSTS sets
// the fleet size (default 1,000; the figure is for 10,000).
//
//	go test ./internal/service -run '^$' -bench FleetEvaluation -benchtime 1x
func BenchmarkFleetEvaluation(b *testing.B) {
	n := 1000
	if s := os.Getenv("PATCHBAY_BENCH_HOSTS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatal(err)
		}
	}
	f := newVulnFixture(b)
	var advs []patchbay.Advisory
	for _, dir := range []string{vulntest.Shared(b, "almalinux-osv/advisories/almalinux9"), "../vuln/testdata/debian-osv"} {
		if err := osv.Walk(b.Context(), dir, func(a patchbay.Advisory) error { advs = append(advs, a); return nil }); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := f.svc.ImportAdvisories(f.admin, advs); err != nil {
		b.Fatal(err)
	}

	// Package universes: every package an advisory names, at a version
	// below or at its fix, plus filler packages no advisory names.
	almaNames, debNames := map[string]string{}, map[string]string{}
	for _, a := range advs {
		for _, af := range a.Affected {
			for _, r := range af.Ranges {
				for _, e := range r.Events {
					if e.Fixed == "" {
						continue
					}
					switch af.Ecosystem {
					case "AlmaLinux:9":
						almaNames[af.Package] = e.Fixed
					case "Debian:12":
						debNames[af.Package] = e.Fixed
					}
				}
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(m map[string]string, k int) []string {
		names := make([]string, 0, len(m))
		for n := range m {
			names = append(names, n)
		}
		rng.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
		return names[:min(k, len(names))]
	}
	ingestStart := time.Now()
	invs := make([]patchbay.Inventory, n)
	for i := range invs {
		mid := fmt.Sprintf("%032x", i+1)
		var pkgs []patchbay.Package
		inv := patchbay.Inventory{SchemaVersion: 1, MachineID: mid, Hostname: "h" + strconv.Itoa(i)}
		if i%2 == 0 {
			inv.OS, inv.PackageManager = patchbay.OS{ID: "almalinux", VersionID: "9.4"}, "dnf"
			for _, name := range pick(almaNames, 400) {
				v := almaNames[name]
				if rng.IntN(3) == 0 && !strings.Contains(v, ":") {
					v = "0:" + v // same version, written with epoch 0: not affected by that fix
				}
				pkgs = append(pkgs, rpmPkg(name, v))
			}
			for j := len(pkgs); j < 600; j++ {
				pkgs = append(pkgs, rpmPkg(fmt.Sprintf("filler%d", j), "1.0-1.el9"))
			}
		} else {
			inv.OS, inv.PackageManager = patchbay.OS{ID: "debian", VersionID: "12"}, "apt"
			for _, name := range pick(debNames, 10) {
				for k := range 3 { // several binaries of one source
					pkgs = append(pkgs, debPkg(fmt.Sprintf("%s-bin%d", name, k), name, "1.0-1"))
				}
			}
			for j := len(pkgs); j < 1500; j++ {
				pkgs = append(pkgs, debPkg(fmt.Sprintf("filler%d", j), fmt.Sprintf("src%d", j%300), fmt.Sprintf("2.0-%d", i%5)))
			}
		}
		inv.Packages = pkgs
		invs[i] = inv
		f.report(f.host(mid, inv.Hostname), inv)
	}

	fmt.Printf("ingest of %d hosts, each evaluated on arrival: %v\n", n, time.Since(ingestStart))
	b.ResetTimer()
	var st patchbay.EvalStats
	for b.Loop() {
		var err error
		if st, err = f.svc.EvaluateFleet(f.admin); err != nil {
			b.Fatal(err)
		}
	}
	perHost := b.Elapsed() / time.Duration(b.N*n)
	b.StopTimer()

	// The naive loop: each host, each package, each advisory.
	sample := min(n, 20)
	start := time.Now()
	for _, inv := range invs[:sample] {
		ecos := match.Ecosystem(inv.OS, false)
		for _, p := range inv.Packages {
			for _, eco := range ecos {
				name, version := p.Name, p.Version
				if match.BySource(eco) {
					name, version = p.SourceName, p.SourceVersion
				}
				for _, a := range advs {
					if _, err := match.Check(a, eco, name, version); err != nil {
						b.Fatal(err)
					}
				}
			}
		}
	}
	naive := time.Since(start) / time.Duration(sample)
	b.ReportMetric(float64(perHost.Microseconds()), "µs/host")
	fmt.Printf("fleet re-evaluation: %d hosts, %d advisories: %v per host (%d hosts reconciled, %d package versions matched); naive per-host per-advisory loop: %v per host\n",
		n, len(advs), perHost, st.Hosts, st.PackageVersions, naive)
}
