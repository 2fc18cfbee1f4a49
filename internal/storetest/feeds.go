package storetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/patchbay/patchbay"
)

// testFeedSources: sources are created with their kind checked, listed by
// id, record each sync's outcome exactly, and are removed; a URL is listed
// once.
func testFeedSources(t *testing.T, s patchbay.Store) {
	ctx := t.Context()
	osvSrc, err := s.CreateFeedSource(ctx, "https://feeds.example/Debian/all.zip", patchbay.FeedOSV, at(0))
	must(t, err)
	kevSrc, err := s.CreateFeedSource(ctx, "https://feeds.example/kev.json", patchbay.FeedKEV, at(time.Second))
	must(t, err)
	if osvSrc.ID == 0 || kevSrc.ID == osvSrc.ID || !osvSrc.CreatedAt.Equal(at(0)) || osvSrc.LastStatus != "" || !osvSrc.LastSync.IsZero() {
		t.Fatalf("created: %+v %+v", osvSrc, kevSrc)
	}
	_, err = s.CreateFeedSource(ctx, "https://feeds.example/kev.json", patchbay.FeedKEV, at(0))
	wantCode(t, err, patchbay.ECONFLICT)
	_, err = s.CreateFeedSource(ctx, "https://feeds.example/x", "rss", at(0))
	wantCode(t, err, patchbay.EINVALID)
	_, err = s.CreateFeedSource(ctx, "ftp://feeds.example/x", patchbay.FeedOSV, at(0))
	wantCode(t, err, patchbay.EINVALID)

	synced := osvSrc
	synced.ETag, synced.LastModified = `"abc"`, "Tue, 01 Sep 2026 00:00:00 GMT"
	synced.LastSync, synced.LastSuccess, synced.LastStatus = at(time.Hour), at(time.Hour), patchbay.FeedImported
	synced.Entries, synced.Added, synced.Updated, synced.Unchanged = 95, 90, 3, 2
	must(t, s.RecordFeedSync(ctx, synced))
	failed := kevSrc
	failed.LastSync, failed.LastStatus, failed.LastError = at(time.Hour), patchbay.FeedError, "connection refused"
	must(t, s.RecordFeedSync(ctx, failed))

	got, err := s.FeedSources(ctx)
	must(t, err)
	if diff := cmp.Diff([]patchbay.FeedSource{synced, failed}, got, timesEqual()); diff != "" {
		t.Errorf("sources after syncs (-want +got):\n%s", diff)
	}
	one, err := s.FeedSource(ctx, osvSrc.ID)
	must(t, err)
	if diff := cmp.Diff(synced, one, timesEqual()); diff != "" {
		t.Errorf("source (-want +got):\n%s", diff)
	}

	must(t, s.DeleteFeedSource(ctx, osvSrc.ID))
	wantCode(t, s.DeleteFeedSource(ctx, osvSrc.ID), patchbay.ENOTFOUND)
	_, err = s.FeedSource(ctx, osvSrc.ID)
	wantCode(t, err, patchbay.ENOTFOUND)
	wantCode(t, s.RecordFeedSync(ctx, synced), patchbay.ENOTFOUND)
	got, err = s.FeedSources(ctx)
	must(t, err)
	if len(got) != 1 || got[0].ID != kevSrc.ID {
		t.Errorf("after delete: %+v", got)
	}
}

// timesEqual compares times as instants.
func timesEqual() cmp.Option {
	return cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })
}
