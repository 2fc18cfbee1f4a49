package storetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/patchbay/patchbay"
)

// testChangelogs: the changelogs of pending updates are wanted once per
// (source, candidate version) for the fleet, from the most recently seen
// host with its binaries of the source; queued jobs put them in flight;
// a job never answered is asked again after staleBefore; a result of an
// old job only finishes that job; results store entries or an error with
// its retry time.
func testChangelogs(t *testing.T, s patchbay.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	bin := func(name, version, source string) patchbay.Package {
		return patchbay.Package{Name: name, Arch: "amd64", Version: version, SourceName: source, SourceVersion: version}
	}
	const oldSSL, newSSL = "3.0.11-1~deb12u2", "3.0.15-1~deb12u1"
	pkgs := []patchbay.Package{bin("libssl3", oldSSL, "openssl"), bin("openssl", oldSSL, "openssl"), bin("tzdata", "2024a-0+deb12u1", "tzdata")}
	ups := []patchbay.Update{update("libssl3", oldSSL, newSSL, true), update("openssl", oldSSL, newSSL, true),
		update("tzdata", "2024a-0+deb12u1", "2025b-0+deb12u1", false)}
	web := f.enroll("m-web", "web", at(0))
	db := f.enroll("m-db", "db", at(0))
	rpm := f.enroll("m-rpm", "alma", at(0))
	must(t, s.SaveInventory(ctx, web.ID, "", inventory(web, pkgs, ups), nil, at(time.Minute)))
	// db is seen last: it is the one asked. It has only openssl pending.
	must(t, s.SaveInventory(ctx, db.ID, "", inventory(db, pkgs[:2], ups[:2]), nil, at(2*time.Minute)))
	alma := inventory(rpm, []patchbay.Package{bin("openssl", oldSSL, "openssl")}, []patchbay.Update{update("openssl", oldSSL, newSSL, true)})
	alma.PackageManager = "dnf"
	must(t, s.SaveInventory(ctx, rpm.ID, "", alma, nil, at(3*time.Minute)))

	sslKey := patchbay.ChangelogKey{Source: "openssl", Version: newSSL}
	tzKey := patchbay.ChangelogKey{Source: "tzdata", Version: "2025b-0+deb12u1"}
	now, stale := at(time.Hour), at(0)
	got, err := s.WantedChangelogs(ctx, 0, now, stale, 0)
	must(t, err)
	sslWant := patchbay.ChangelogWant{Key: sslKey, HostID: db.ID, Packages: []patchbay.PackageVersion{
		{Name: "libssl3", Arch: "amd64", Version: newSSL}, {Name: "openssl", Arch: "amd64", Version: newSSL}}}
	tzWant := patchbay.ChangelogWant{Key: tzKey, HostID: web.ID, Packages: []patchbay.PackageVersion{{Name: "tzdata", Arch: "amd64", Version: tzKey.Version}}}
	if diff := cmp.Diff([]patchbay.ChangelogWant{sslWant, tzWant}, got); diff != "" {
		t.Fatalf("wanted for the fleet (-want +got):\n%s", diff)
	}
	got, err = s.WantedChangelogs(ctx, web.ID, now, stale, 0)
	must(t, err)
	if len(got) != 2 || got[0].HostID != web.ID || got[1].Key != tzKey {
		t.Errorf("wanted for web: %+v", got)
	}
	got, err = s.WantedChangelogs(ctx, rpm.ID, now, stale, 0)
	must(t, err)
	if len(got) != 0 {
		t.Errorf("a dnf host wants changelogs: %+v", got)
	}
	got, err = s.WantedChangelogs(ctx, 0, now, stale, 1)
	must(t, err)
	if len(got) != 1 || got[0].Key != sslKey {
		t.Errorf("limit 1: %+v", got)
	}
	srcs, err := s.UpdateSources(ctx, web.ID)
	must(t, err)
	ssl := patchbay.UpdateSource{Source: "openssl", SourceVersion: oldSSL}
	wantSrcs := map[string]patchbay.UpdateSource{"libssl3:amd64": ssl, "openssl:amd64": ssl,
		"tzdata:amd64": {Source: "tzdata", SourceVersion: "2024a-0+deb12u1"}}
	if diff := cmp.Diff(wantSrcs, srcs); diff != "" {
		t.Errorf("update sources (-want +got):\n%s", diff)
	}
	_, err = s.UpdateSources(ctx, 9999)
	wantCode(t, err, patchbay.ENOTFOUND)

	jobs, err := s.QueueChangelogJobs(ctx, []patchbay.ChangelogWant{sslWant, tzWant}, now, stale)
	must(t, err)
	if len(jobs) != 2 || jobs[0].HostID != db.ID || jobs[0].Job.Action != patchbay.JobChangelog ||
		!cmp.Equal(jobs[0].Job.Packages, sslWant.Packages) || jobs[1].HostID != web.ID {
		t.Fatalf("queued: %+v", jobs)
	}
	first := jobs[0].Job.ID
	// In flight: not wanted, not queued twice.
	got, err = s.WantedChangelogs(ctx, 0, now, stale, 0)
	must(t, err)
	if len(got) != 0 {
		t.Errorf("wanted while in flight: %+v", got)
	}
	again, err := s.QueueChangelogJobs(ctx, []patchbay.ChangelogWant{sslWant}, now, stale)
	must(t, err)
	if len(again) != 0 {
		t.Errorf("queued twice: %+v", again)
	}
	pending, err := s.PendingJobs(ctx, db.ID, now)
	must(t, err)
	if len(pending) != 1 || pending[0].ID != first {
		t.Errorf("db's pending jobs: %+v", pending)
	}
	cls, err := s.Changelogs(ctx, []patchbay.ChangelogKey{sslKey, tzKey, {Source: "none", Version: "1"}})
	must(t, err)
	if c := cls[sslKey]; len(cls) != 2 || c.State != patchbay.ChangelogFetching || c.JobID != first || c.HostID != db.ID ||
		c.Attempts != 1 || !c.RequestedAt.Equal(now) {
		t.Errorf("changelogs in flight: %+v", cls)
	}

	// Never answered: asked again, as a new attempt with a new job.
	later := at(3 * time.Hour)
	got, err = s.WantedChangelogs(ctx, 0, later, at(2*time.Hour), 0)
	must(t, err)
	if len(got) != 2 {
		t.Fatalf("wanted after the jobs went stale: %+v", got)
	}
	jobs, err = s.QueueChangelogJobs(ctx, got[:1], later, at(2*time.Hour))
	must(t, err)
	if len(jobs) != 1 || jobs[0].Job.ID == first {
		t.Fatalf("asked again: %+v", jobs)
	}
	second := jobs[0].Job.ID

	res := func(id string) patchbay.JobResult {
		return patchbay.JobResult{JobID: id, Action: patchbay.JobChangelog, Status: patchbay.JobSucceeded, Steps: []patchbay.StepResult{}}
	}
	called := 0
	fetched := func(c patchbay.Changelog) patchbay.Changelog {
		called++
		if c.Key != sslKey || c.JobID != second || c.Attempts != 2 {
			t.Errorf("fn got %+v", c)
		}
		c.State, c.FetchedAt, c.SourceVersion, c.Package, c.EntriesRead = patchbay.ChangelogFetched, later, newSSL, "openssl", 40
		c.Entries = []patchbay.ChangelogEntry{
			{Version: newSSL, Date: at(-24 * time.Hour), CVEs: []string{"CVE-2024-5535", "CVE-2024-6119"}},
			{Version: "3.0.14-1~deb12u1", CVEs: []string{"CVE-2024-4741"}},
		}
		return c
	}
	// The late result of the first job finishes that job only.
	must(t, s.RecordChangelog(ctx, res(first), later, fetched))
	if called != 0 {
		t.Errorf("fn called for a job that is no longer current")
	}
	rec, err := s.JobRecord(ctx, first)
	must(t, err)
	if rec.State != patchbay.JobDone {
		t.Errorf("first job: %s", rec.State)
	}
	must(t, s.RecordChangelog(ctx, res(second), later, fetched))
	must(t, s.RecordChangelog(ctx, res(second), later, fetched)) // done already: nothing
	if called != 1 {
		t.Errorf("fn called %d times, want 1", called)
	}
	wantCode(t, s.RecordChangelog(ctx, res("cl-404-1"), later, fetched), patchbay.ENOTFOUND)

	// The tzdata fetch fails: retried from its next attempt on.
	cls, err = s.Changelogs(ctx, []patchbay.ChangelogKey{tzKey})
	must(t, err)
	tzJob := cls[tzKey].JobID
	must(t, s.RecordChangelog(ctx, res(tzJob), later, func(c patchbay.Changelog) patchbay.Changelog {
		c.State, c.Error, c.NextAttempt = patchbay.ChangelogFailed, "apt-get download: 404 Not Found", at(5*time.Hour)
		return c
	}))
	got, err = s.WantedChangelogs(ctx, 0, at(4*time.Hour), at(0), 0)
	must(t, err)
	if len(got) != 0 {
		t.Errorf("wanted before the retry time: %+v", got)
	}
	got, err = s.WantedChangelogs(ctx, 0, at(5*time.Hour), at(0), 0)
	must(t, err)
	if len(got) != 1 || got[0].Key != tzKey {
		t.Errorf("wanted at the retry time: %+v", got)
	}

	cls, err = s.Changelogs(ctx, []patchbay.ChangelogKey{sslKey, tzKey})
	must(t, err)
	wantSSL := patchbay.Changelog{Key: sslKey, SourceVersion: newSSL, Package: "openssl", State: patchbay.ChangelogFetched,
		JobID: second, HostID: db.ID, Attempts: 2, RequestedAt: later, FetchedAt: later, EntriesRead: 40,
		Entries: []patchbay.ChangelogEntry{
			{Version: newSSL, Date: at(-24 * time.Hour), CVEs: []string{"CVE-2024-5535", "CVE-2024-6119"}},
			{Version: "3.0.14-1~deb12u1", CVEs: []string{"CVE-2024-4741"}},
		}}
	if diff := cmp.Diff(wantSSL, cls[sslKey], timesEqual()); diff != "" {
		t.Errorf("fetched changelog (-want +got):\n%s", diff)
	}
	if c := cls[tzKey]; c.State != patchbay.ChangelogFailed || c.Error == "" || !c.NextAttempt.Equal(at(5*time.Hour)) || len(c.Entries) != 0 {
		t.Errorf("failed changelog: %+v", c)
	}
}
