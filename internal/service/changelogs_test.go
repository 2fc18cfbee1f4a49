package service_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay"
)

// changelogFleet is a service on real SQLite with Debian hosts reporting.
type changelogFleet struct {
	*vulnFixture
	hosts map[string]context.Context
}

func newChangelogFleet(t *testing.T) *changelogFleet {
	return &changelogFleet{vulnFixture: newFixtureAt(t, time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)), hosts: map[string]context.Context{}}
}

const (
	pcreOld = "10.42-1"
	pcreNew = "10.42-1+deb12u2"
	tzOld   = "2024a-0+deb12u1"
	tzNew   = "2025b-0+deb12u1"
)

// reportDebian enrols (first time) and reports a bookworm host with
// libpcre2-8-0 (source pcre2) and, when tz, tzdata pending.
func (f *changelogFleet) reportDebian(name string, tz bool) {
	f.t.Helper()
	mid := fmt.Sprintf("%032x", []byte(name))[:32]
	ctx, ok := f.hosts[name]
	if !ok {
		ctx = f.host(mid, name)
		f.hosts[name] = ctx
	}
	inv := debianInventory(mid, debPkg("libpcre2-8-0", "pcre2", pcreOld), debPkg("tzdata", "tzdata", tzOld))
	inv.Hostname = name
	inv.Updates = []patchbay.Update{{Name: "libpcre2-8-0", Arch: "amd64", InstalledVersion: pcreOld, CandidateVersion: pcreNew,
		Origin: "Debian-Security:12/oldstable-security", Security: true}}
	if tz {
		inv.Updates = append(inv.Updates, patchbay.Update{Name: "tzdata", Arch: "amd64", InstalledVersion: tzOld, CandidateVersion: tzNew, Origin: "Debian:12.12/oldstable"})
	}
	f.report(ctx, inv)
}

// poll returns the host's pending jobs without waiting.
func (f *changelogFleet) poll(name string) []patchbay.Job {
	f.t.Helper()
	p, err := f.svc.PollJobs(f.hosts[name], 0)
	if err != nil {
		f.t.Fatal(err)
	}
	return p.Jobs
}

func (f *changelogFleet) post(name string, res patchbay.JobResult) {
	f.t.Helper()
	if err := f.svc.PostJobResult(f.hosts[name], res.JobID, res); err != nil {
		f.t.Fatal(err)
	}
}

func (f *changelogFleet) updates(name string) map[string]patchbay.HostUpdate {
	f.t.Helper()
	ups, err := f.svc.HostUpdates(f.admin, name)
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string]patchbay.HostUpdate{}
	for _, u := range ups {
		out[u.Name] = u
	}
	return out
}

func pcreChangelog(t *testing.T, pkg string) *patchbay.ChangelogFile {
	t.Helper()
	text, err := os.ReadFile("../vuln/changelog/testdata/pcre2.changelog")
	if err != nil {
		t.Fatal(err)
	}
	return &patchbay.ChangelogFile{Package: pkg, Version: pcreNew, Source: "pcre2", SourceVersion: pcreNew,
		Path: "usr/share/doc/" + pkg + "/changelog.Debian.gz", Text: string(text)}
}

func succeeded(id string, f *patchbay.ChangelogFile) patchbay.JobResult {
	return patchbay.JobResult{JobID: id, Action: patchbay.JobChangelog, Status: patchbay.JobSucceeded, Changelog: f,
		Steps: []patchbay.StepResult{{Name: "changelog", Status: patchbay.JobSucceeded}}}
}

func failed(id, reason string) patchbay.JobResult {
	return patchbay.JobResult{JobID: id, Action: patchbay.JobChangelog, Status: patchbay.JobFailed, Reason: reason,
		Steps: []patchbay.StepResult{{Name: "changelog", Status: patchbay.JobFailed, Message: reason}}}
}

// TestChangelogFetchedOncePerFleet: three hosts with the same pcre2
// update pending; the first to report gets the one changelog job, the
// others none; its result (the real pcre2 changelog) gives every host's
// update the CVEs of the entries newer than the installed version, and
// the job keeps no text.
func TestChangelogFetchedOncePerFleet(t *testing.T) {
	f := newChangelogFleet(t)
	f.reportDebian("web1", false)
	f.reportDebian("web2", false)
	f.reportDebian("web3", false)
	jobs := f.poll("web1")
	if len(jobs) != 1 || jobs[0].Action != patchbay.JobChangelog ||
		!cmp.Equal(jobs[0].Packages, []patchbay.PackageVersion{{Name: "libpcre2-8-0", Arch: "amd64", Version: pcreNew}}) {
		t.Fatalf("web1's jobs: %+v", jobs)
	}
	for _, h := range []string{"web2", "web3"} {
		if jobs := f.poll(h); len(jobs) != 0 {
			t.Errorf("%s got jobs for a changelog in flight: %+v", h, jobs)
		}
	}
	if u := f.updates("web2")["libpcre2-8-0"]; u.Changelog != patchbay.ChangelogFetching || len(u.CVEs) != 0 || u.CVEs == nil {
		t.Errorf("web2's update before the result: %+v", u)
	}

	f.post("web1", succeeded(jobs[0].ID, pcreChangelog(t, "libpcre2-8-0")))
	for _, h := range []string{"web1", "web2", "web3"} {
		u := f.updates(h)["libpcre2-8-0"]
		// pcre2.changelog: 10.42-1+deb12u2 names CVE-2026-103111; deb12u1 names none.
		if u.Changelog != patchbay.ChangelogFetched || !cmp.Equal(u.CVEs, []string{"CVE-2026-103111"}) {
			t.Errorf("%s: %+v", h, u)
		}
	}
	rec, err := f.db.JobRecord(t.Context(), jobs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.State != patchbay.JobDone || rec.Result == nil || rec.Result.Changelog != nil {
		t.Errorf("stored job: %+v", rec)
	}
	// Reports and sweeps after it ask for nothing more.
	f.reportDebian("web4", false)
	if n, err := f.svc.RequestChangelogs(f.admin); err != nil || n != 0 {
		t.Errorf("RequestChangelogs = %d, %v after the fetch", n, err)
	}
	if jobs := f.poll("web4"); len(jobs) != 0 {
		t.Errorf("web4's jobs: %+v", jobs)
	}
	cls, err := f.db.Changelogs(t.Context(), []patchbay.ChangelogKey{{Source: "pcre2", Version: pcreNew}})
	if err != nil {
		t.Fatal(err)
	}
	if c := cls[patchbay.ChangelogKey{Source: "pcre2", Version: pcreNew}]; c.Attempts != 1 || c.EntriesRead != 21 || c.Package != "libpcre2-8-0" {
		t.Errorf("stored changelog: %+v", c)
	}
}

// TestChangelogRetries: a failed fetch is recorded with its error and
// retried only after a doubling backoff, on the most recently seen host;
// a job nobody answers is asked again after an hour; a result that is not
// a changelog of the source asked for is a failure.
func TestChangelogRetries(t *testing.T) {
	f := newChangelogFleet(t)
	f.reportDebian("a", true)
	jobs := f.poll("a")
	if len(jobs) != 2 {
		t.Fatalf("a's jobs: %+v", jobs)
	}
	byPkg := map[string]string{}
	for _, j := range jobs {
		byPkg[j.Packages[0].Name] = j.ID
	}
	f.post("a", failed(byPkg["tzdata"], "changelog failed: apt-get download tzdata=2025b-0+deb12u1: exit 100: E: Can't find a source to download"))
	if u := f.updates("a")["tzdata"]; u.Changelog != patchbay.ChangelogFailed || len(u.CVEs) != 0 {
		t.Errorf("tzdata after a failure: %+v", u)
	}
	// A result from another source (the agent read the wrong package).
	wrong := pcreChangelog(t, "libpcre2-8-0")
	wrong.Source = "pcre3"
	f.post("a", succeeded(byPkg["libpcre2-8-0"], wrong))
	if u := f.updates("a")["libpcre2-8-0"]; u.Changelog != patchbay.ChangelogFailed {
		t.Errorf("pcre2 after a wrong result: %+v", u)
	}

	f.reportDebian("b", true) // b is now the most recently seen
	if jobs := f.poll("b"); len(jobs) != 0 {
		t.Errorf("retried at once: %+v", jobs)
	}
	f.clock = f.clock.Add(8 * time.Minute) // 9 since the failures (b reported one minute after)
	if n, _ := f.svc.RequestChangelogs(f.admin); n != 0 {
		t.Errorf("retried after 9 minutes: %d", n)
	}
	f.clock = f.clock.Add(2 * time.Minute)
	if n, err := f.svc.RequestChangelogs(f.admin); n != 2 || err != nil {
		t.Fatalf("retried after 11 minutes: %d %v", n, err)
	}
	jobs = f.poll("b")
	if len(jobs) != 2 {
		t.Fatalf("b's jobs: %+v", jobs)
	}
	for _, j := range jobs {
		f.post("b", failed(j.ID, "changelog failed: the mirror is down"))
	}
	// The second failure waits 20 minutes.
	f.clock = f.clock.Add(19 * time.Minute)
	if n, _ := f.svc.RequestChangelogs(f.admin); n != 0 {
		t.Errorf("second retry after 19 minutes: %d", n)
	}
	f.clock = f.clock.Add(2 * time.Minute)
	if n, _ := f.svc.RequestChangelogs(f.admin); n != 2 {
		t.Errorf("second retry after 21 minutes: %d", n)
	}
	// Nobody answers: asked again after an hour, not before.
	f.clock = f.clock.Add(59 * time.Minute)
	if n, _ := f.svc.RequestChangelogs(f.admin); n != 0 {
		t.Errorf("asked again after 59 minutes: %d", n)
	}
	f.clock = f.clock.Add(2 * time.Minute)
	if n, _ := f.svc.RequestChangelogs(f.admin); n != 2 {
		t.Errorf("asked again after 61 minutes: %d", n)
	}
	jobs = f.poll("b")
	var current string
	for _, j := range jobs {
		if j.Packages[0].Name == "libpcre2-8-0" && j.ID > current {
			current = j.ID
		}
	}
	f.post("b", succeeded(current, pcreChangelog(t, "libpcre2-8-0")))
	if u := f.updates("a")["libpcre2-8-0"]; u.Changelog != patchbay.ChangelogFetched || !cmp.Equal(u.CVEs, []string{"CVE-2026-103111"}) {
		t.Errorf("pcre2 at last: %+v", u)
	}
}

// TestChangelogNotForOtherHosts: hosts that are not apt get no changelog
// jobs and their updates no changelog state.
func TestChangelogNotForOtherHosts(t *testing.T) {
	f := newChangelogFleet(t)
	const mid = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"
	ctx := f.host(mid, "alma")
	inv := almaInventory(mid, rpmPkg("sudo", "1.9.5p2-9.el9"))
	inv.Updates = []patchbay.Update{{Name: "sudo", Arch: "x86_64", InstalledVersion: "1.9.5p2-9.el9", CandidateVersion: "1.9.5p2-10.el9_3", Origin: "baseos", Security: true}}
	f.report(ctx, inv)
	f.hosts["alma"] = ctx
	if jobs := f.poll("alma"); len(jobs) != 0 {
		t.Errorf("jobs: %+v", jobs)
	}
	if u := f.updates("alma")["sudo"]; u.Changelog != "" || u.CVEs == nil || len(u.CVEs) != 0 {
		t.Errorf("update: %+v", u)
	}
}
