package service

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/vuln/changelog"
)

// The CVEs of each pending update (Debian family) come from the
// candidate's changelog, fetched once per (source, candidate version) for
// the fleet: after a host's inventory is stored, and on a slow sweep for
// retries, the changelogs nobody has asked for yet get one changelog job
// each, on the most recently seen host that has the update pending. The
// result is parsed here (changelog.Parse) and only the entries that
// mention CVEs are kept; the text is not stored on the job. A failed fetch
// is retried after a backoff, one never answered on another host.

const (
	// changelogStale is how long a changelog job may go unanswered before
	// it is asked again (of the most recently seen host then).
	changelogStale = time.Hour
	// changelogBatch bounds the jobs one pass queues.
	changelogBatch = 500
	// DefaultChangelogSweep is how often the sweep looks for changelogs to
	// retry.
	DefaultChangelogSweep = 10 * time.Minute
	// changelogRetryMin and changelogRetryMax bound the backoff after a
	// failed fetch: doubling from the first to the second.
	changelogRetryMin = 10 * time.Minute
	changelogRetryMax = 24 * time.Hour
)

// ChangelogWanted is the state shown for an update whose changelog nobody
// has been asked for yet (never stored).
const ChangelogWanted patchbay.ChangelogState = "wanted"

// changelogRetry is the wait after the attempts-th failed fetch.
func changelogRetry(attempts int) time.Duration {
	d := changelogRetryMin
	for i := 1; i < attempts && d < changelogRetryMax; i++ {
		d *= 2
	}
	return min(d, changelogRetryMax)
}

// requestChangelogs queues the changelog jobs due for host (0: the whole
// fleet) and wakes the long polls of the hosts that got one.
func (s *Service) requestChangelogs(ctx context.Context, hostID int64) (int, error) {
	now := s.now()
	stale := now.Add(-changelogStale)
	wants, err := s.store.WantedChangelogs(ctx, hostID, now, stale, changelogBatch)
	if err != nil || len(wants) == 0 {
		return 0, err
	}
	jobs, err := s.store.QueueChangelogJobs(ctx, wants, now, stale)
	if err != nil {
		return 0, err
	}
	woken := map[int64]bool{}
	for _, j := range jobs {
		if !woken[j.HostID] {
			woken[j.HostID] = true
			s.sched.notify(j.HostID)
		}
	}
	if len(jobs) > 0 {
		s.logger.InfoContext(ctx, "changelog jobs queued", "jobs", len(jobs), "hosts", len(woken))
	}
	return len(jobs), nil
}

// RequestChangelogs queues a job for every changelog of the fleet's
// pending updates that is due, and returns how many were queued.
func (s *Service) RequestChangelogs(ctx context.Context) (int, error) {
	if _, err := requireUser(ctx); err != nil {
		return 0, err
	}
	return s.requestChangelogs(ctx, 0)
}

// RunChangelogSweep requests the due changelogs of the fleet every
// interval (0: DefaultChangelogSweep) until ctx is done: the retries of
// failed fetches and of jobs never answered. New pending updates are
// requested as their inventories arrive.
func (s *Service) RunChangelogSweep(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = DefaultChangelogSweep
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := s.requestChangelogs(ctx, 0); err != nil && ctx.Err() == nil {
			s.logger.ErrorContext(ctx, "changelog sweep", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// recordChangelog stores the result of a changelog job: the parsed
// entries that mention CVEs, or the failure and when to retry.
func (s *Service) recordChangelog(ctx context.Context, res patchbay.JobResult, now time.Time) error {
	file := res.Changelog
	res.Changelog = nil // kept parsed, not as text on the job
	var (
		entries []patchbay.ChangelogEntry
		read    int
		reason  = res.Reason
	)
	if res.Status == patchbay.JobSucceeded {
		parsed, err := parseChangelogFile(file)
		if err != nil {
			reason = err.Error()
		}
		read = len(parsed)
		for _, e := range parsed {
			if len(e.CVEs) > 0 {
				entries = append(entries, patchbay.ChangelogEntry{Version: e.Version, Date: e.Date, CVEs: e.CVEs})
			}
		}
	}
	if reason == "" && res.Status != patchbay.JobSucceeded {
		reason = "the changelog job failed"
	}
	err := s.store.RecordChangelog(ctx, res, now, func(c patchbay.Changelog) patchbay.Changelog {
		if reason == "" && file.Source != c.Key.Source {
			reason = fmt.Sprintf("the package read, %s %s, is built from %s, not %s", file.Package, file.Version, file.Source, c.Key.Source)
		}
		if reason != "" {
			c.State, c.Error, c.NextAttempt = patchbay.ChangelogFailed, reason, now.Add(changelogRetry(c.Attempts))
			c.Entries = nil
			return c
		}
		c.State, c.Error, c.NextAttempt, c.FetchedAt = patchbay.ChangelogFetched, "", time.Time{}, now
		c.SourceVersion, c.Package, c.Truncated = file.SourceVersion, file.Package, file.Truncated
		c.EntriesRead, c.Entries = read, entries
		return c
	})
	if err != nil {
		return err
	}
	s.logger.InfoContext(ctx, "changelog recorded", "job_id", res.JobID, "entries", read, "with_cves", len(entries), "error", reason)
	return nil
}

// parseChangelogFile parses a changelog job's text; a file with no entry
// is an error (not a Debian changelog).
func parseChangelogFile(f *patchbay.ChangelogFile) ([]changelog.Entry, error) {
	if f == nil {
		return nil, patchbay.Errorf(patchbay.EINVALID, "the agent returned no changelog")
	}
	entries, err := changelog.Parse(strings.NewReader(f.Text))
	if err != nil {
		return nil, fmt.Errorf("%s of %s %s: %w", f.Path, f.Package, f.Version, err)
	}
	if len(entries) == 0 {
		return nil, patchbay.Errorf(patchbay.EINVALID, "%s of %s %s has no changelog entries", f.Path, f.Package, f.Version)
	}
	return entries, nil
}

// withCVEs gives each of a host's pending updates the CVEs its
// candidate's changelog mentions after the installed version.
func (s *Service) withCVEs(ctx context.Context, h patchbay.Host, ups []patchbay.Update) ([]patchbay.HostUpdate, error) {
	out := make([]patchbay.HostUpdate, len(ups))
	for i, u := range ups {
		out[i] = patchbay.HostUpdate{Update: u, CVEs: []string{}}
	}
	if h.PackageManager != "apt" || len(ups) == 0 {
		return out, nil
	}
	srcs, err := s.store.UpdateSources(ctx, h.ID)
	if err != nil {
		return nil, err
	}
	var keys []patchbay.ChangelogKey
	for _, u := range ups {
		if src, ok := srcs[u.Key()]; ok {
			keys = append(keys, patchbay.ChangelogKey{Source: src.Source, Version: u.CandidateVersion})
		}
	}
	cls, err := s.store.Changelogs(ctx, keys)
	if err != nil {
		return nil, err
	}
	for i := range out {
		u := &out[i]
		src, ok := srcs[u.Key()]
		if !ok {
			continue
		}
		c, ok := cls[patchbay.ChangelogKey{Source: src.Source, Version: u.CandidateVersion}]
		if !ok {
			u.Changelog = ChangelogWanted
			continue
		}
		u.Changelog = c.State
		if c.State != patchbay.ChangelogFetched {
			continue
		}
		entries := make([]changelog.Entry, len(c.Entries))
		for j, e := range c.Entries {
			entries[j] = changelog.Entry{Version: e.Version, CVEs: e.CVEs}
		}
		to := c.SourceVersion
		if to == "" {
			to = u.CandidateVersion
		}
		cves, err := changelog.CVEsFixedBetween(entries, src.SourceVersion, to)
		if err != nil {
			s.logger.WarnContext(ctx, "cves of an update", "host_id", h.ID, "package", u.Name, "err", err)
			continue
		}
		u.CVEs = cves
	}
	return out, nil
}
