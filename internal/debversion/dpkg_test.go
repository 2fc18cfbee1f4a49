package debversion

import (
	"bufio"
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/patchbay/patchbay/internal/pkgmgr"
	"github.com/patchbay/patchbay/internal/pkgmgr/osexec"
)

// minVersions is how many distinct valid versions the apt lists must hold
// for TestCompareMatchesDpkg to mean something.
const minVersions = 2000

// TestCompareMatchesDpkg compares Compare with `dpkg --compare-versions` on
// pairs of real versions from this machine's apt lists and dpkg status:
// versions of one package in different suites, neighbours in sorted order,
// random pairs, and the table of TestCompare. The lists of a Debian
// bookworm machine hold no backport versions, so for some real versions
// the test also derives the backport and stable-update forms
// ("V~bpo12+1", "V~deb12u1") and pairs them with V: dpkg is the judge of
// those as of every other pair.
func TestCompareMatchesDpkg(t *testing.T) {
	requireTool(t, "dpkg", "/usr/lib/apt/apt-helper")
	byPkg := archiveVersions(t)
	var all []string
	seen := map[string]bool{}
	invalid := 0
	for _, vs := range byPkg {
		for _, v := range vs {
			if seen[v] {
				continue
			}
			seen[v] = true
			if !Valid(v) {
				invalid++
				continue
			}
			all = append(all, v)
		}
	}
	t.Logf("%d packages, %d distinct valid versions, %d refused", len(byPkg), len(all), invalid)
	if len(all) < minVersions {
		skipOrFail(t, "only %d versions in /var/lib/apt/lists (want %d): run apt-get update first", len(all), minVersions)
	}
	pairs := samplePairs(byPkg, all)
	for _, tt := range compareCases {
		pairs = append(pairs, [2]string{tt.a, tt.b})
	}
	features := map[string]int{}
	for _, p := range pairs {
		for name, has := range map[string]func(string) bool{
			"epoch":      func(s string) bool { return strings.Contains(s, ":") },
			"tilde":      func(s string) bool { return strings.Contains(s, "~") },
			"+debNNuN":   func(s string) bool { return strings.Contains(s, "+deb12u") },
			"~bpo":       func(s string) bool { return strings.Contains(s, "~bpo") },
			"binNMU +bN": func(s string) bool { return strings.Contains(s, "+b") },
		} {
			if has(p[0]) || has(p[1]) {
				features[name]++
			}
		}
	}
	t.Logf("%d pairs; pairs with each feature: %v", len(pairs), features)
	if len(pairs) < minVersions {
		t.Fatalf("only %d pairs sampled", len(pairs))
	}
	for _, f := range []string{"epoch", "tilde", "+debNNuN", "~bpo", "binNMU +bN"} {
		if features[f] < 10 {
			t.Errorf("sample has %d pairs with %s, want at least 10", features[f], f)
		}
	}

	// Two workers: dpkg takes about a millisecond, the exec dominates.
	var (
		mu       sync.Mutex
		disagree int
		wg       sync.WaitGroup
		next     = make(chan [2]string)
	)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range next {
				got, err := Compare(p[0], p[1])
				if err != nil {
					t.Errorf("Compare(%q, %q): %v", p[0], p[1], err)
					continue
				}
				want := dpkgCompareVersions(t, p[0], p[1])
				if got != want {
					mu.Lock()
					disagree++
					mu.Unlock()
					t.Errorf("Compare(%q, %q) = %d, dpkg says %d", p[0], p[1], got, want)
				}
			}
		}()
	}
	for _, p := range pairs {
		next <- p
	}
	close(next)
	wg.Wait()
	t.Logf("%d disagreements with dpkg in %d pairs", disagree, len(pairs))
}

// samplePairs picks the pairs TestCompareMatchesDpkg checks, deterministically.
func samplePairs(byPkg map[string][]string, all []string) [][2]string {
	rng := rand.New(rand.NewPCG(1, 2))
	var pairs [][2]string
	// Versions of one package from different suites or the status file.
	names := make([]string, 0, len(byPkg))
	for n := range byPkg {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		vs := byPkg[n]
		for i := 0; i < len(vs); i++ {
			for j := i + 1; j < len(vs); j++ {
				if vs[i] != vs[j] && Valid(vs[i]) && Valid(vs[j]) {
					pairs = append(pairs, [2]string{vs[i], vs[j]})
				}
			}
		}
	}
	// Neighbours in sorted order: the closest calls.
	sorted := slices.Clone(all)
	slices.SortFunc(sorted, func(a, b string) int { c, _ := Compare(a, b); return c })
	step := max(1, len(sorted)/1000)
	for i := 0; i+1 < len(sorted); i += step {
		pairs = append(pairs, [2]string{sorted[i], sorted[i+1]})
	}
	// Random pairs.
	for range 1000 {
		pairs = append(pairs, [2]string{all[rng.IntN(len(all))], all[rng.IntN(len(all))]})
	}
	// Backport and stable-update forms of real versions.
	for range 100 {
		v := all[rng.IntN(len(all))]
		bpo := v + "~bpo12+1"
		if !strings.Contains(v, "-") {
			bpo = v + "-1~bpo12+1"
		}
		pairs = append(pairs, [2]string{v, bpo}, [2]string{bpo, v + "~deb12u1"}, [2]string{bpo, v + "+deb12u1"})
	}
	return pairs
}

// archiveVersions reads Package and Version of every stanza in the apt
// lists (decompressed by apt-helper, whatever their compression) and the
// dpkg status, grouped by package name.
func archiveVersions(t *testing.T) map[string][]string {
	t.Helper()
	lists, _ := filepath.Glob("/var/lib/apt/lists/*_Packages*")
	lists = slices.DeleteFunc(lists, func(p string) bool { return strings.HasSuffix(p, ".diff_Index") })
	byPkg := map[string][]string{}
	add := func(data []byte) {
		var name string
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if v, ok := strings.CutPrefix(line, "Package: "); ok {
				name = strings.TrimSpace(v)
			}
			if v, ok := strings.CutPrefix(line, "Version: "); ok && name != "" {
				v = strings.TrimSpace(v)
				if !slices.Contains(byPkg[name], v) {
					byPkg[name] = append(byPkg[name], v)
				}
			}
		}
		if err := sc.Err(); err != nil {
			t.Fatalf("read versions: %v", err)
		}
	}
	for _, l := range lists {
		res, err := osexec.Runner{}.Run(context.Background(), pkgmgr.Cmd{Path: "/usr/lib/apt/apt-helper", Args: []string{"cat-file", l}})
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("apt-helper cat-file %s: exit %d, %v: %s", l, res.ExitCode, err, res.Stderr)
		}
		add(res.Stdout)
	}
	if status, err := os.ReadFile("/var/lib/dpkg/status"); err == nil {
		add(status)
	}
	return byPkg
}

// dpkgCompareVersions asks dpkg for the order of a and b.
func dpkgCompareVersions(t *testing.T, a, b string) int {
	run := func(op string) bool {
		res, err := osexec.Runner{}.Run(context.Background(), pkgmgr.Cmd{Path: "dpkg", Args: []string{"--compare-versions", a, op, b}})
		if err != nil {
			t.Fatalf("dpkg --compare-versions: %v", err)
		}
		if res.ExitCode > 1 {
			t.Fatalf("dpkg --compare-versions %q %s %q: exit %d: %s", a, op, b, res.ExitCode, res.Stderr)
		}
		return res.ExitCode == 0
	}
	switch {
	case run("lt"):
		return -1
	case run("eq"):
		return 0
	}
	return 1
}

// requireTool skips t when a tool is missing, or fails it when PATCHBAY_CI
// is 1: CI must never skip silently.
func requireTool(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		p := tool
		if !strings.Contains(p, "/") {
			p = ""
			for _, dir := range filepath.SplitList(osexec.DefaultPath) {
				if _, err := os.Stat(filepath.Join(dir, tool)); err == nil {
					p = filepath.Join(dir, tool)
					break
				}
			}
		}
		if _, err := os.Stat(p); p == "" || err != nil {
			skipOrFail(t, "%s not found: this test needs a Debian host", tool)
		}
	}
}

func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("PATCHBAY_CI") == "1" {
		t.Fatalf("PATCHBAY_CI=1: "+format, args...)
	}
	t.Skipf("SKIPPED (set up the machine or this test proves nothing): "+format, args...)
}
