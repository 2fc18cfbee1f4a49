package service_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/service"
	"github.com/patchbay/patchbay/internal/vuln/vulntest"
)

// feedServer serves files with an ETag and Last-Modified, answering
// conditional requests with 304 (http.ServeContent), and counts the full
// downloads of each path.
type feedServer struct {
	mu    sync.Mutex
	files map[string][]byte
	mod   map[string]time.Time
	full  map[string]int // 200 answers by path
}

func (s *feedServer) set(path string, data []byte, mod time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[path], s.mod[path] = data, mod
}

func (s *feedServer) downloads(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.full[path]
}

func (s *feedServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	data, ok := s.files[r.URL.Path]
	mod := s.mod[r.URL.Path]
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	sum := sha256.Sum256(data)
	w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:8])+`"`)
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	http.ServeContent(rec, r, filepath.Base(r.URL.Path), mod, bytes.NewReader(data))
	if rec.status == http.StatusOK {
		s.mu.Lock()
		s.full[r.URL.Path]++
		s.mu.Unlock()
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// osvZip zips the OSV documents of dir as osv.dev's all.zip does, with
// replace applied to the named members' text.
func osvZip(t *testing.T, dir string, replace map[string][2]string) []byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if r, ok := replace[e.Name()]; ok {
			if !bytes.Contains(data, []byte(r[0])) {
				t.Fatalf("%s does not contain %q", e.Name(), r[0])
			}
			data = bytes.Replace(data, []byte(r[0]), []byte(r[1]), 1)
		}
		w, err := zw.Create(e.Name())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func debianInventory(mid string, pkgs ...patchbay.Package) patchbay.Inventory {
	return patchbay.Inventory{SchemaVersion: 1, MachineID: mid, Hostname: "deb", PackageManager: "apt",
		OS: patchbay.OS{ID: "debian", VersionID: "12", Codename: "bookworm"}, Packages: pkgs}
}

// TestFeedSync: sources synced from an HTTPS server with a real OSV zip
// (the Debian fixtures) and the real KEV catalog. The first sync imports
// and evaluates the host; before the interval nothing is fetched; after it
// the server answers 304 and nothing is downloaded or imported; a changed
// zip imports again and its change reaches the host's findings; an
// unreachable source records its error without stopping the others.
func TestFeedSync(t *testing.T) {
	const osvDir = "../vuln/testdata/debian-osv"
	kevPath := vulntest.Shared(t, "cisa-kev/known_exploited_vulnerabilities.json")
	kevData, err := os.ReadFile(kevPath)
	if err != nil {
		t.Fatal(err)
	}
	files, err := os.ReadDir(osvDir)
	if err != nil {
		t.Fatal(err)
	}

	fs := &feedServer{files: map[string][]byte{}, mod: map[string]time.Time{}, full: map[string]int{}}
	t0 := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	fs.set("/Debian/all.zip", osvZip(t, osvDir, nil), t0)
	fs.set("/kev.json", kevData, t0)
	srv := httptest.NewTLSServer(fs)
	defer srv.Close()
	dead := httptest.NewTLSServer(http.NotFoundHandler())
	deadURL := dead.URL + "/Debian/all.zip"
	dead.Close()

	f := newVulnFixture(t)
	const mid = "d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1"
	hctx := f.host(mid, "deb")
	f.report(hctx, debianInventory(mid, debPkg("curl", "curl", "7.88.1-10+deb12u4"), debPkg("libcurl4", "curl", "7.88.1-10+deb12u4")))

	// The oracle: the same documents imported by hand on another server.
	oracle := newVulnFixture(t)
	oracle.report(oracle.host(mid, "deb"), debianInventory(mid, debPkg("curl", "curl", "7.88.1-10+deb12u4"), debPkg("libcurl4", "curl", "7.88.1-10+deb12u4")))
	oracle.importDir(osvDir)
	want, err := oracle.svc.Findings(oracle.admin, service.FindingQuery{Host: "deb"})
	if err != nil {
		t.Fatal(err)
	}
	if len(want) < 4 {
		t.Fatalf("oracle: %d findings; the fixture should give curl several", len(want))
	}

	osvURL, kevURL := srv.URL+"/Debian/all.zip", srv.URL+"/kev.json"
	for _, src := range []patchbay.FeedSourceRequest{
		{URL: osvURL, Kind: patchbay.FeedOSV},
		{URL: deadURL, Kind: patchbay.FeedOSV},
		{URL: kevURL, Kind: patchbay.FeedKEV},
	} {
		if _, err := f.svc.AddFeedSource(f.admin, src); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.svc.AddFeedSource(f.admin, patchbay.FeedSourceRequest{URL: srv.URL + "/kev.json", Kind: patchbay.FeedKEV}); patchbay.ErrorCode(err) != patchbay.ECONFLICT {
		t.Errorf("same URL twice: %v, want conflict", err)
	}
	if _, err := f.svc.AddFeedSource(f.admin, patchbay.FeedSourceRequest{URL: srv.URL + "/x", Kind: "rss"}); patchbay.ErrorCode(err) != patchbay.EINVALID {
		t.Errorf("kind rss: %v, want invalid", err)
	}

	opts := service.FeedSyncOptions{Client: srv.Client(), Every: 6 * time.Hour}
	ctx := context.Background()
	syncNow := func() map[string]patchbay.FeedSource {
		t.Helper()
		if _, err := f.svc.SyncFeeds(ctx, opts, false); err != nil {
			t.Fatal(err)
		}
		srcs, err := f.svc.FeedSources(f.admin)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]patchbay.FeedSource{}
		for _, s := range srcs {
			out[s.URL] = s
		}
		return out
	}
	findings := func() []patchbay.Finding {
		t.Helper()
		got, err := f.svc.Findings(f.admin, service.FindingQuery{Host: "deb"})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}

	// First sync: everything imported, the host evaluated.
	first := f.clock
	got := syncNow()
	if s := got[osvURL]; s.LastStatus != patchbay.FeedImported || s.Entries != len(files) || s.Added != len(files) ||
		s.LastError != "" || s.ETag == "" || s.LastModified == "" || !s.LastSync.Equal(first) {
		t.Errorf("osv source after the first sync: %+v", s)
	}
	if s := got[kevURL]; s.LastStatus != patchbay.FeedImported || s.Entries != 1404 {
		t.Errorf("kev source after the first sync: %+v", s)
	}
	if s := got[deadURL]; s.LastStatus != patchbay.FeedError || !strings.Contains(s.LastError, "connection refused") ||
		!s.LastSuccess.IsZero() || s.ETag != "" {
		t.Errorf("unreachable source: %+v", s)
	}
	if diff := cmp.Diff(briefs(want), briefs(findings())); diff != "" {
		t.Errorf("findings after the first sync (-oracle +got):\n%s", diff)
	}
	if v, err := f.svc.Vuln(f.admin, "CVE-2021-44228"); err != nil || v.KEV == nil || v.KEV.Vendor != "Apache" {
		t.Errorf("CVE-2021-44228 (in the KEV catalog): %+v %v", v, err)
	}

	// Before the interval: nothing is fetched.
	f.clock = f.clock.Add(time.Hour)
	if again := syncNow(); again[osvURL].LastSync != first || fs.downloads("/Debian/all.zip") != 1 {
		t.Errorf("sync before the interval fetched: %+v, %d downloads", again[osvURL], fs.downloads("/Debian/all.zip"))
	}

	// After it: 304, nothing downloaded or imported, recorded as checked.
	f.clock = f.clock.Add(6 * time.Hour)
	got = syncNow()
	if s := got[osvURL]; s.LastStatus != patchbay.FeedNotModified || !s.LastSync.Equal(f.clock) || !s.LastSuccess.Equal(f.clock) ||
		s.Added != len(files) || fs.downloads("/Debian/all.zip") != 1 {
		t.Errorf("osv source after an unchanged sync: %+v, %d downloads", s, fs.downloads("/Debian/all.zip"))
	}
	if s := got[kevURL]; s.LastStatus != patchbay.FeedNotModified || fs.downloads("/kev.json") != 1 {
		t.Errorf("kev source after an unchanged sync: %+v", s)
	}
	if s := got[deadURL]; s.LastStatus != patchbay.FeedError || !s.LastSync.Equal(f.clock) {
		t.Errorf("unreachable source, second attempt: %+v", s)
	}

	// A changed zip: one advisory now fixed in the installed version, so
	// its finding resolves.
	fs.set("/Debian/all.zip", osvZip(t, osvDir, map[string][2]string{
		"DEBIAN-CVE-2024-11053.json": {`"fixed": "7.88.1-10+deb12u10"`, `"fixed": "7.88.1-10+deb12u4"`},
	}), t0.Add(24*time.Hour))
	f.clock = f.clock.Add(7 * time.Hour)
	got = syncNow()
	if s := got[osvURL]; s.LastStatus != patchbay.FeedImported || s.Updated != 1 || s.Unchanged != len(files)-1 || s.Added != 0 ||
		fs.downloads("/Debian/all.zip") != 2 {
		t.Errorf("osv source after a changed file: %+v", s)
	}
	after := findings()
	var resolvedWant []brief
	for _, b := range briefs(want) {
		if b.Advisory != "DEBIAN-CVE-2024-11053" {
			resolvedWant = append(resolvedWant, b)
		}
	}
	if len(resolvedWant) != len(want)-2 { // curl and libcurl4
		t.Fatalf("oracle had %d findings of DEBIAN-CVE-2024-11053, want 2", len(want)-len(resolvedWant))
	}
	if diff := cmp.Diff(resolvedWant, briefs(after)); diff != "" {
		t.Errorf("findings after the changed file (-want +got):\n%s", diff)
	}
}

// TestFeedSyncLoop: the loop syncs a source that is due soon after it
// starts, and returns when its context ends.
func TestFeedSyncLoop(t *testing.T) {
	fs := &feedServer{files: map[string][]byte{}, mod: map[string]time.Time{}, full: map[string]int{}}
	fs.set("/all.zip", osvZip(t, "../vuln/testdata/debian-osv", nil), time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC))
	srv := httptest.NewTLSServer(fs)
	defer srv.Close()
	f := newVulnFixture(t)
	if _, err := f.svc.AddFeedSource(f.admin, patchbay.FeedSourceRequest{URL: srv.URL + "/all.zip", Kind: patchbay.FeedOSV}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		f.svc.RunFeedSync(ctx, service.FeedSyncOptions{Client: srv.Client()})
		close(done)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		srcs, err := f.svc.FeedSources(f.admin)
		if err != nil {
			t.Fatal(err)
		}
		if srcs[0].LastStatus != "" {
			if srcs[0].LastStatus != patchbay.FeedImported {
				t.Errorf("loop sync: %+v", srcs[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the loop did not sync a due source within 20 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the loop did not return after its context ended")
	}
}

// TestFeedSyncKinds: a Debian tracker export is imported by kind; an OSV
// source serving something unreadable records the error and keeps no
// validators, so the next sync downloads it again (here: one OSV
// document, which imports).
func TestFeedSyncKinds(t *testing.T) {
	tracker, err := os.ReadFile("../vuln/debtracker/testdata/debian-tracker-json.sample.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../vuln/testdata/debian-osv/DEBIAN-CVE-2023-38545.json")
	if err != nil {
		t.Fatal(err)
	}
	fs := &feedServer{files: map[string][]byte{}, mod: map[string]time.Time{}, full: map[string]int{}}
	t0 := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	fs.set("/tracker.json", tracker, t0)
	fs.set("/one.json", []byte("<html>maintenance</html>"), t0)
	srv := httptest.NewTLSServer(fs)
	defer srv.Close()

	f := newVulnFixture(t)
	trk, err := f.svc.AddFeedSource(f.admin, patchbay.FeedSourceRequest{URL: srv.URL + "/tracker.json", Kind: patchbay.FeedDebianTracker})
	if err != nil {
		t.Fatal(err)
	}
	one, err := f.svc.AddFeedSource(f.admin, patchbay.FeedSourceRequest{URL: srv.URL + "/one.json", Kind: patchbay.FeedOSV})
	if err != nil {
		t.Fatal(err)
	}
	opts := service.FeedSyncOptions{Client: srv.Client()}
	got, err := f.svc.SyncFeeds(context.Background(), opts, false)
	if err != nil || len(got) != 2 {
		t.Fatalf("sync: %+v %v", got, err)
	}
	if s := got[0]; s.ID != trk.ID || s.LastStatus != patchbay.FeedImported || s.Entries == 0 || s.Added != s.Entries {
		t.Errorf("tracker source: %+v", s)
	}
	advs, err := f.svc.ListAdvisories(f.admin, patchbay.AdvisoryFilter{Source: "debian-tracker"})
	if err != nil || len(advs) != got[0].Entries {
		t.Errorf("%d tracker advisories stored (%v), source says %d", len(advs), err, got[0].Entries)
	}
	if s := got[1]; s.ID != one.ID || s.LastStatus != patchbay.FeedError || s.LastError == "" || s.ETag != "" || s.LastModified != "" {
		t.Errorf("unreadable source: %+v", s)
	}

	fs.set("/one.json", doc, t0.Add(time.Hour))
	f.clock = f.clock.Add(7 * time.Hour)
	got, err = f.svc.SyncFeeds(context.Background(), opts, false)
	if err != nil || len(got) != 2 {
		t.Fatalf("second sync: %+v %v", got, err)
	}
	if s := got[1]; s.LastStatus != patchbay.FeedImported || s.Entries != 1 || s.Added != 1 || s.LastError != "" || fs.downloads("/one.json") != 2 {
		t.Errorf("source after the fix: %+v, %d downloads", s, fs.downloads("/one.json"))
	}
	if s := got[0]; s.LastStatus != patchbay.FeedNotModified || fs.downloads("/tracker.json") != 1 {
		t.Errorf("tracker source, unchanged: %+v", s)
	}
}
