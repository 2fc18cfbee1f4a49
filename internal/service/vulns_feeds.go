package service

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/vuln/debtracker"
	"github.com/patchbay/patchbay/internal/vuln/kev"
	"github.com/patchbay/patchbay/internal/vuln/osv"
)

// Feed sources: URLs the server downloads advisories from on a schedule.
//
// Each sync is a conditional GET with the validators of the last download
// (osv.Fetch): a 304 downloads nothing and is recorded as checked; a 200 is
// parsed by the source's kind and imported in batches, each batch one
// store transaction, and the hosts that have a pair any batch changed are
// re-evaluated once at the end. The validators are stored only when the
// whole download was imported, so a download that failed halfway is
// fetched again next time. The schedule is the sources' last_sync in the
// database: a restarted server does not download again what it has just
// downloaded.

// DefaultFeedInterval is how often each source is synced by default.
const DefaultFeedInterval = 6 * time.Hour

// feedBatch is how many advisories one import transaction takes.
const feedBatch = 2000

// maxFeedDownload bounds a downloaded OSV zip or document (osv.dev's
// Debian all.zip is about 40 MB).
const maxFeedDownload = 2 << 30

// FeedSyncOptions configure the sync loop.
type FeedSyncOptions struct {
	// Client downloads the feeds; nil: a client with a 10-minute timeout.
	Client *http.Client
	// Every is how often each source is synced; 0: DefaultFeedInterval.
	Every time.Duration
}

func (o FeedSyncOptions) withDefaults() FeedSyncOptions {
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Minute}
	}
	if o.Every <= 0 {
		o.Every = DefaultFeedInterval
	}
	return o
}

// AddFeedSource lists a new feed source; the sync loop picks it up on its
// next wake-up.
func (s *Service) AddFeedSource(ctx context.Context, req patchbay.FeedSourceRequest) (patchbay.FeedSource, error) {
	if _, err := requireUser(ctx); err != nil {
		return patchbay.FeedSource{}, err
	}
	src, err := s.store.CreateFeedSource(ctx, req.URL, req.Kind, s.now())
	if err != nil {
		return src, err
	}
	s.logger.InfoContext(ctx, "feed source added", "feed_id", src.ID, "url", src.URL, "kind", src.Kind)
	return src, nil
}

// FeedSources lists the feed sources with the outcome of their last sync.
func (s *Service) FeedSources(ctx context.Context) ([]patchbay.FeedSource, error) {
	if _, err := requireUser(ctx); err != nil {
		return nil, err
	}
	return s.store.FeedSources(ctx)
}

// RemoveFeedSource stops syncing a source; what it imported stays.
func (s *Service) RemoveFeedSource(ctx context.Context, id int64) error {
	if _, err := requireUser(ctx); err != nil {
		return err
	}
	return s.store.DeleteFeedSource(ctx, id)
}

// RunFeedSync syncs every source whose last sync is older than o.Every,
// checking once a minute (or every o.Every when shorter), until ctx ends.
// Failures are recorded on the source and logged; they never stop the loop.
func (s *Service) RunFeedSync(ctx context.Context, o FeedSyncOptions) {
	o = o.withDefaults()
	wake := min(o.Every, time.Minute)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := s.SyncFeeds(ctx, o, false); err != nil && ctx.Err() == nil {
			s.logger.ErrorContext(ctx, "feed sync", "err", err)
		}
		t.Reset(wake)
	}
}

// SyncFeeds syncs the sources that are due (all of them when force), one
// after another, and returns them as recorded. A source's failure is
// recorded on it; the error returned is only the store's.
func (s *Service) SyncFeeds(ctx context.Context, o FeedSyncOptions, force bool) ([]patchbay.FeedSource, error) {
	o = o.withDefaults()
	srcs, err := s.store.FeedSources(ctx)
	if err != nil {
		return nil, err
	}
	var out []patchbay.FeedSource
	for _, src := range srcs {
		if !force && !src.LastSync.IsZero() && s.now().Sub(src.LastSync) < o.Every {
			continue
		}
		src, err := s.syncFeed(ctx, o.Client, src)
		if patchbay.ErrorCode(err) == patchbay.ENOTFOUND { // removed meanwhile
			continue
		}
		if err != nil {
			return out, err
		}
		out = append(out, src)
	}
	return out, nil
}

// syncFeed downloads and imports one source and records the outcome.
func (s *Service) syncFeed(ctx context.Context, client *http.Client, src patchbay.FeedSource) (patchbay.FeedSource, error) {
	start := s.now()
	body, etag, lastModified, notModified, err := osv.Fetch(ctx, client, src.URL, src.ETag, src.LastModified)
	var ir feedImport
	if err == nil && !notModified {
		ir, err = s.importFeed(ctx, src.Kind, body)
		body.Close()
	}
	src.LastSync = start
	switch {
	case err != nil:
		src.LastStatus, src.LastError = patchbay.FeedError, err.Error()
		s.logger.WarnContext(ctx, "feed sync failed", "feed_id", src.ID, "url", src.URL, "err", err)
	case notModified:
		src.LastStatus, src.LastError, src.LastSuccess = patchbay.FeedNotModified, "", start
		s.logger.InfoContext(ctx, "feed not modified", "feed_id", src.ID, "url", src.URL)
	default:
		src.LastStatus, src.LastError, src.LastSuccess = patchbay.FeedImported, "", start
		src.ETag, src.LastModified = etag, lastModified
		src.Entries, src.Added, src.Updated, src.Unchanged = ir.entries, ir.added, ir.updated, ir.unchanged
		s.logger.InfoContext(ctx, "feed imported", "feed_id", src.ID, "url", src.URL, "entries", ir.entries, "added", ir.added,
			"updated", ir.updated, "unchanged", ir.unchanged, "hosts_evaluated", ir.eval.Hosts,
			"findings_opened", ir.eval.Opened, "findings_resolved", ir.eval.Resolved)
	}
	if err := s.store.RecordFeedSync(ctx, src); err != nil {
		return src, err
	}
	return src, nil
}

// feedImport counts what one download imported.
type feedImport struct {
	entries, added, updated, unchanged int
	eval                               patchbay.EvalStats
}

// importFeed parses body by kind and imports it.
func (s *Service) importFeed(ctx context.Context, kind string, body io.Reader) (feedImport, error) {
	var ir feedImport
	if kind == patchbay.FeedKEV {
		c, err := kev.Parse(body)
		if err != nil {
			return ir, err
		}
		if err := s.store.ImportKEV(ctx, c.Entries); err != nil {
			return ir, err
		}
		ir.entries = len(c.Entries)
		return ir, nil
	}

	// Advisories: in batches, each committed and its pairs invalidated in
	// the cache; the touched hosts are evaluated once at the end.
	changed := map[patchbay.EcoPackage]bool{}
	var batch []patchbay.Advisory
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		res, err := s.store.ImportAdvisories(ctx, batch, s.now())
		if err != nil {
			return err
		}
		s.vuln.cache.invalidate(res.Changed)
		ir.added, ir.updated, ir.unchanged = ir.added+res.Added, ir.updated+res.Updated, ir.unchanged+res.Unchanged
		for _, ep := range res.Changed {
			changed[ep] = true
		}
		batch = batch[:0]
		return nil
	}
	add := func(a patchbay.Advisory) error {
		ir.entries++
		batch = append(batch, a)
		if len(batch) >= feedBatch {
			return flush()
		}
		return nil
	}
	var err error
	switch kind {
	case patchbay.FeedDebianTracker:
		err = debtracker.Parse(ctx, body, add)
	case patchbay.FeedOSV:
		err = walkOSV(ctx, body, add)
	default:
		err = patchbay.Errorf(patchbay.EINVALID, "feed kind %q", kind)
	}
	if err == nil {
		err = flush()
	}
	// What was committed is evaluated even when the download failed
	// halfway: findings follow the advisories the store holds.
	touched := make([]patchbay.EcoPackage, 0, len(changed))
	for ep := range changed {
		touched = append(touched, ep)
	}
	var evalErr error
	ir.eval, evalErr = s.evaluateFleet(ctx, touched)
	return ir, errors.Join(err, evalErr)
}

// walkOSV reads an OSV download: a zip of documents (spooled to a
// temporary file, since a zip is read from its end) or one document.
func walkOSV(ctx context.Context, body io.Reader, fn func(patchbay.Advisory) error) error {
	f, err := os.CreateTemp("", "patchbay-feed-*.zip")
	if err != nil {
		return fmt.Errorf("osv download: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	n, err := io.Copy(f, io.LimitReader(body, maxFeedDownload+1))
	if err != nil {
		return fmt.Errorf("osv download: %w", err)
	}
	if n > maxFeedDownload {
		return fmt.Errorf("osv download: larger than %d bytes", int64(maxFeedDownload))
	}
	head := make([]byte, 4)
	if _, err := f.ReadAt(head, 0); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("osv download: %w", err)
	}
	if bytes.Equal(head, []byte("PK\x03\x04")) {
		return osv.WalkZip(ctx, f, n, fn)
	}
	data, err := io.ReadAll(io.NewSectionReader(f, 0, n))
	if err != nil {
		return fmt.Errorf("osv download: %w", err)
	}
	a, err := osv.Parse(data)
	if err != nil {
		return fmt.Errorf("osv download: %w", err)
	}
	return fn(a)
}
