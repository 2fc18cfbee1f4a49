package cli

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/sqlite"
)

// syncBuffer is a log sink the server's goroutines may write to at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestStopEndsLoopsBeforeClosingStore: a server stopped while its feed
// sync is downloading (the server's own context still live, as when the
// listener fails) cancels the download and waits for the loop before it
// closes the database: nothing is logged as an error.
func TestStopEndsLoopsBeforeClosingStore(t *testing.T) {
	ctx := t.Context()
	arrived, cancelled, release := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var once sync.Once
	feed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { close(arrived) })
		select { // a download that never ends by itself
		case <-r.Context().Done():
			close(cancelled)
		case <-release: // the test is over
		}
	}))
	defer feed.Close()
	defer close(release)

	dir := t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "patchbay.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateFeedSource(ctx, feed.URL+"/all.zip", patchbay.FeedOSV, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	rs, err := startServer(context.WithoutCancel(ctx), serverFlags{listen: "127.0.0.1:0", dataDir: dir, feedInterval: time.Hour}, logger)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-arrived:
	case <-time.After(30 * time.Second):
		t.Fatal("the feed sync never started its download")
	}
	rs.stop(logger)
	select {
	case <-cancelled:
	default:
		t.Error("stop returned with the feed download still running")
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("errors logged while stopping:\n%s", logs.String())
	}
}
