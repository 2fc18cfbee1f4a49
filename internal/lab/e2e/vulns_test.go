package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/client"
	"github.com/patchbay/patchbay/internal/e2e/e2etest"
	"github.com/patchbay/patchbay/internal/lab"
	"github.com/patchbay/patchbay/internal/lab/labtest"
	"github.com/patchbay/patchbay/internal/vuln/vulntest"
)

// TestLabVulnerabilities runs three real Debian hosts with the real
// pending bookworm-security updates:
//   - ChangelogCVEs: the CVEs the server lists for each pending security
//     update, from the candidate's changelog read by the hosts' agents
//     out of the real .deb, are those of the shared Debian 12 changelog
//     data for the same versions; each (source, version) was fetched by
//     one changelog job for the whole fleet although every host has it
//     pending;
//   - Findings: the Debian OSV fixtures (built from the real changelogs)
//     imported, each host has exactly the findings real dpkg predicts for
//     its installed versions; after apt-get installs the security updates
//     inside one host, its findings fixed by them resolve, its timeline
//     says finding_resolved, and the other hosts keep theirs.
func TestLabVulnerabilities(t *testing.T) {
	labtest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	const hosts = 3
	changelogs := vulntest.Shared(t, "debian12-changelog-cves") // fails when missing with PATCHBAY_CI=1

	f := startFleet(t, hosts, "--interval", "2s", "--refresh-interval", "0")
	c := f.Client(t)
	waitForSecurityUpdates(ctx, t, c, hosts)
	hs, err := c.ListHosts(ctx, client.HostQuery{})
	if err != nil {
		t.Fatal(err)
	}
	f.ids = map[string]int64{}
	for _, h := range hs {
		f.ids[h.Hostname] = h.ID
	}

	t.Run("ChangelogCVEs", func(t *testing.T) { f.checkChangelogCVEs(ctx, t, c, changelogs) })
	t.Run("Findings", func(t *testing.T) { f.checkFindings(ctx, t, c) })
}

// sharedChangelogs reads the shared data set: per source, the entries
// that mention CVEs, and the version whose changelog was read.
func sharedChangelogs(t *testing.T, dir string) (map[string][]changelogRow, map[string]string) {
	t.Helper()
	entries := map[string][]changelogRow{}
	read := func(name string, fn func([]byte) error) {
		file, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		defer file.Close()
		sc := bufio.NewScanner(file)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if err := fn(sc.Bytes()); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
	read("bookworm-changelog-cves.jsonl", func(b []byte) error {
		var r changelogRow
		if err := json.Unmarshal(b, &r); err != nil {
			return err
		}
		entries[r.Source] = append(entries[r.Source], r)
		return nil
	})
	archive := map[string]string{}
	read("sources.jsonl", func(b []byte) error {
		var s struct {
			Source         string `json:"source"`
			ArchiveVersion string `json:"archive_version"`
		}
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		archive[s.Source] = s.ArchiveVersion
		return nil
	})
	return entries, archive
}

type changelogRow struct {
	Source  string   `json:"source"`
	Version string   `json:"version"`
	CVEs    []string `json:"cves"`
}

// dpkgLess reports whether a < b by real dpkg's rules.
func dpkgLess(t *testing.T, a, b string) bool {
	t.Helper()
	err := exec.Command("dpkg", "--compare-versions", a, "lt", b).Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("dpkg --compare-versions: %v", err)
	}
	return err == nil
}

func (f *fleet) checkChangelogCVEs(ctx context.Context, t *testing.T, c *client.Client, dir string) {
	shared, archive := sharedChangelogs(t, dir)
	updates := map[string][]patchbay.HostUpdate{}
	e2etest.WaitFor(t, "every pending update's changelog fetched", 3*time.Minute, func() (bool, string) {
		var waiting []string
		for name, id := range f.ids {
			ups, err := c.HostUpdates(ctx, fmt.Sprint(id))
			if err != nil {
				return false, err.Error()
			}
			updates[name] = ups
			for _, u := range ups {
				if u.Changelog == patchbay.ChangelogFailed {
					t.Fatalf("%s: the changelog of %s %s failed (see the job in the agent's log)", name, u.Name, u.CandidateVersion)
				}
				if u.Changelog != patchbay.ChangelogFetched {
					waiting = append(waiting, fmt.Sprintf("%s %s=%s: %s", name, u.Name, u.CandidateVersion, u.Changelog))
				}
			}
		}
		return len(waiting) == 0, strings.Join(waiting, "; ")
	})

	type key struct{ source, version string }
	pendingOn := map[key]int{}
	predicted, exact := 0, 0
	for _, lh := range f.lab.Hosts() {
		pkgs, err := c.HostPackages(ctx, fmt.Sprint(f.ids[lh.Name()]))
		if err != nil {
			t.Fatal(err)
		}
		src := map[string]patchbay.Package{}
		for _, p := range pkgs {
			src[p.Key()] = p
		}
		for _, u := range updates[lh.Name()] {
			p, ok := src[u.Key()]
			if !ok {
				t.Fatalf("%s: update %s has no installed package", lh.Name(), u.Key())
			}
			pendingOn[key{p.SourceName, u.CandidateVersion}]++
			if !u.Security {
				continue
			}
			want := []string{}
			for _, e := range shared[p.SourceName] {
				if dpkgLess(t, p.SourceVersion, e.Version) && !dpkgLess(t, u.CandidateVersion, e.Version) {
					want = append(want, e.CVEs...)
				}
			}
			slices.Sort(want)
			want = slices.Compact(want)
			predicted += len(want)
			av, known := archive[p.SourceName]
			switch {
			case !known:
				// Its first upload since the release came after the data
				// set was collected (the lab's mirror copy is live).
				t.Logf("%s: source %s of %s is not in the shared data set: not checked", lh.Name(), p.SourceName, u.Name)
				continue
			case dpkgLess(t, av, u.CandidateVersion):
				// The mirror has a newer upload than the data set read: its
				// CVEs must all be there, and there may be more.
				for _, cve := range want {
					if !slices.Contains(u.CVEs, cve) {
						t.Errorf("%s: %s %s lacks %s (shared data of %s %s)", lh.Name(), u.Name, u.CandidateVersion, cve, p.SourceName, av)
					}
				}
				t.Logf("%s: %s %s is newer than the shared data's %s: checked as a superset", lh.Name(), u.Name, u.CandidateVersion, av)
			default:
				exact++
				if diff := cmp.Diff(want, u.CVEs); diff != "" {
					t.Errorf("%s: CVEs of %s %s → %s (source %s) (-shared changelog data +server):\n%s", lh.Name(), u.Name, u.InstalledVersion, u.CandidateVersion, p.SourceName, diff)
				}
			}
			t.Logf("%s: %s %s → %s: %v", lh.Name(), u.Name, u.InstalledVersion, u.CandidateVersion, u.CVEs)
		}
	}
	if predicted == 0 || exact == 0 {
		t.Fatalf("the shared data predicts %d CVEs and checks %d updates exactly: this test would prove nothing", predicted, exact)
	}

	// One changelog job per (source, version) in the whole fleet, by the
	// job files the agents keep.
	jobs := map[key][]string{}
	for _, lh := range f.lab.Hosts() {
		out := mustExec(ctx, t, lh, "sh", "-c", "cat /var/lib/patchbay-agent/jobs/cl-*.json 2>/dev/null || true")
		dec := json.NewDecoder(bytes.NewReader([]byte(out)))
		for dec.More() {
			var rec struct {
				Job    patchbay.Job       `json:"job"`
				Result patchbay.JobResult `json:"result"`
			}
			if err := dec.Decode(&rec); err != nil {
				t.Fatalf("%s: job file: %v", lh.Name(), err)
			}
			if rec.Job.Action != patchbay.JobChangelog || rec.Result.Changelog == nil {
				t.Errorf("%s: changelog job %s: %+v", lh.Name(), rec.Job.ID, rec.Result)
				continue
			}
			k := key{rec.Result.Changelog.Source, rec.Job.Packages[0].Version}
			jobs[k] = append(jobs[k], lh.Name()+":"+rec.Job.ID)
		}
	}
	shared2 := 0
	for k, n := range pendingOn {
		if n > 1 {
			shared2++
		}
		if len(jobs[k]) != 1 {
			t.Errorf("changelog of %s %s (pending on %d hosts) fetched by %d jobs: %v", k.source, k.version, n, len(jobs[k]), jobs[k])
		}
	}
	if len(jobs) != len(pendingOn) || shared2 == 0 {
		t.Errorf("%d changelog jobs for %d pending (source, version) pairs, %d of them pending on several hosts: %v", len(jobs), len(pendingOn), shared2, jobs)
	}
	t.Logf("FIGURE %d (source, version) changelogs for %d hosts fetched by %d jobs", len(pendingOn), len(f.ids), len(jobs))
}

// osvFixture is what the findings oracle reads of a Debian OSV fixture.
type osvFixture struct {
	ID       string `json:"id"`
	Affected []struct {
		Package struct{ Ecosystem, Name string }
		Ranges  []struct{ Events []map[string]string }
	}
}

// predictFindings lists "binary advisory" for every installed package of
// h (as dpkg-query says inside it) whose source a fixture names with a
// fixed version above the installed source version (real dpkg's rules).
func predictFindings(ctx context.Context, t *testing.T, h *lab.Host, fixtures []osvFixture) []string {
	t.Helper()
	out := mustExec(ctx, t, h, "dpkg-query", "-W", "-f", "${db:Status-Abbrev}\t${Package}\t${source:Package}\t${source:Version}\n")
	want := []string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		fields := strings.Split(line, "\t")
		if len(fields) != 4 || !strings.HasPrefix(fields[0], "ii") {
			continue
		}
		for _, fx := range fixtures {
			for _, a := range fx.Affected {
				if a.Package.Ecosystem != "Debian:12" || a.Package.Name != fields[2] {
					continue
				}
				for _, r := range a.Ranges {
					for _, ev := range r.Events {
						if fixed, ok := ev["fixed"]; ok && dpkgLess(t, fields[3], fixed) {
							want = append(want, fields[1]+" "+fx.ID)
						}
					}
				}
			}
		}
	}
	slices.Sort(want)
	return slices.Compact(want)
}

func (f *fleet) checkFindings(ctx context.Context, t *testing.T, c *client.Client) {
	dir, err := filepath.Abs("../../vuln/testdata/debian-osv")
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("fixtures in %s: %v", dir, err)
	}
	var fixtures []osvFixture
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		var fx osvFixture
		if err := json.Unmarshal(data, &fx); err != nil {
			t.Fatal(err)
		}
		fixtures = append(fixtures, fx)
	}
	f.CLI(t, "advisories", "import", dir)

	findings := func(h *lab.Host) []string {
		fs, err := c.Findings(ctx, client.VulnQuery{Host: fmt.Sprint(f.ids[h.Name()])})
		if err != nil {
			t.Fatal(err)
		}
		return e2etest.FindingKeys(fs)
	}
	before := map[string][]string{}
	for _, h := range f.lab.Hosts() {
		want := predictFindings(ctx, t, h, fixtures)
		if len(want) == 0 {
			t.Fatalf("%s: dpkg predicts no finding from the fixtures: this test would prove nothing", h.Name())
		}
		if diff := cmp.Diff(want, findings(h)); diff != "" {
			t.Errorf("%s: findings (-dpkg's prediction +server):\n%s", h.Name(), diff)
		}
		before[h.Name()] = want
		t.Logf("%s: %d findings: %v", h.Name(), len(want), want)
	}

	// A hand upgrade of the pending security updates inside one host.
	h := f.lab.Hosts()[0]
	var names []string
	for _, u := range f.lab.Mirror().Security() {
		names = append(names, u.Name)
	}
	aptGet(ctx, t, h, append([]string{"install", "-y", "--only-upgrade"}, names...)...)
	after := predictFindings(ctx, t, h, fixtures)
	resolved := slices.DeleteFunc(slices.Clone(before[h.Name()]), func(k string) bool { return slices.Contains(after, k) })
	if len(resolved) == 0 {
		t.Fatalf("%s: the upgrade of %v resolves no finding by dpkg's prediction (before %v, after %v)", h.Name(), names, before[h.Name()], after)
	}
	e2etest.WaitFor(t, h.Name()+": findings after the upgrade", 60*time.Second, func() (bool, string) {
		got := findings(h)
		return cmp.Equal(after, got), cmp.Diff(after, got)
	})
	events, err := c.HostHistory(ctx, fmt.Sprint(f.ids[h.Name()]), "", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var timeline []string
	for _, e := range events {
		if e.Kind == patchbay.EventFindingResolved {
			id, _, _ := strings.Cut(e.Detail, " ")
			timeline = append(timeline, e.Package+" "+id)
		}
	}
	slices.Sort(timeline)
	if diff := cmp.Diff(resolved, timeline); diff != "" {
		t.Errorf("%s: finding_resolved events (-resolved findings +timeline):\n%s", h.Name(), diff)
	}
	t.Logf("FIGURE %d findings resolved on %s by a hand upgrade of %v, each in its timeline", len(resolved), h.Name(), names)
	for _, other := range f.lab.Hosts()[1:] {
		if diff := cmp.Diff(before[other.Name()], findings(other)); diff != "" {
			t.Errorf("%s (not upgraded): findings changed (-before +now):\n%s", other.Name(), diff)
		}
	}
}
