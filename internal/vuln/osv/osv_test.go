package osv

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/vuln/vulntest"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/real/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no real samples: %v", err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			adv, err := Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(adv, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "golden", name)
			if *update {
				if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), string(got)+"\n"); diff != "" {
				t.Errorf("golden %s (-want +got):\n%s", golden, diff)
			}
		})
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want func(a *patchbay.Advisory) // edits the expected advisory from base
	}{
		{
			name: "cvss v3.1 vector computed",
			doc:  `{"id":"X-1","severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]}`,
			want: func(a *patchbay.Advisory) {
				a.CVSSVector, a.CVSSScore = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8
			},
		},
		{
			name: "v3 preferred to v4 and v2",
			doc: `{"id":"X-1","severity":[{"type":"CVSS_V2","score":"AV:N/AC:L/Au:N/C:P/I:P/A:P"},
				{"type":"CVSS_V4","score":"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"},
				{"type":"CVSS_V3","score":"CVSS:3.0/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N"}]}`,
			want: func(a *patchbay.Advisory) {
				a.CVSSVector, a.CVSSScore = "CVSS:3.0/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N", 5.9
			},
		},
		{
			name: "cvss v4 alone",
			doc:  `{"id":"X-1","severity":[{"type":"CVSS_V4","score":"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"}]}`,
			want: func(a *patchbay.Advisory) {
				a.CVSSVector, a.CVSSScore = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 9.3
			},
		},
		{
			name: "cvss v2 alone",
			doc:  `{"id":"X-1","severity":[{"type":"CVSS_V2","score":"AV:N/AC:L/Au:N/C:P/I:P/A:P"}]}`,
			want: func(a *patchbay.Advisory) { a.CVSSVector, a.CVSSScore = "AV:N/AC:L/Au:N/C:P/I:P/A:P", 7.5 },
		},
		{
			name: "unreadable vector kept with score 0",
			doc:  `{"id":"X-1","severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:Q"}]}`,
			want: func(a *patchbay.Advisory) { a.CVSSVector = "CVSS:3.1/AV:Q" },
		},
		{
			name: "cves from id, aliases, upstream, related; deduplicated and sorted",
			doc: `{"id":"CVE-2024-0002","aliases":["DSA-1-1","CVE-2024-0002"],"upstream":["CVE-2023-12345"],
				"related":["USN-1-1","CVE-2024-0001","cve-2024-9"]}`,
			want: func(a *patchbay.Advisory) {
				a.ID, a.Aliases = "CVE-2024-0002", []string{"DSA-1-1", "CVE-2024-0002"}
				a.CVEs = []string{"CVE-2023-12345", "CVE-2024-0001", "CVE-2024-0002"}
			},
		},
		{
			name: "withdrawn and timestamps without zone",
			doc:  `{"id":"X-1","published":"2024-01-02T03:04:05","withdrawn":"2024-02-01T00:00:00.5Z"}`,
			want: func(a *patchbay.Advisory) {
				a.Published = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
				a.Withdrawn = time.Date(2024, 2, 1, 0, 0, 0, 5e8, time.UTC)
			},
		},
		{
			name: "details when no summary; database_specific severity",
			doc:  `{"id":"X-1","details":"\n first line \nsecond","database_specific":{"severity":"MODERATE"}}`,
			want: func(a *patchbay.Advisory) {
				a.Summary, a.Severity, a.SeverityRaw = "first line", patchbay.SeverityMedium, "MODERATE"
			},
		},
		{
			name: "ecosystem_specific urgency with stars",
			doc:  `{"id":"X-1","affected":[{"package":{"ecosystem":"Debian:12","name":"zlib"},"ecosystem_specific":{"urgency":"high**"}}]}`,
			want: func(a *patchbay.Advisory) {
				a.Severity, a.SeverityRaw = patchbay.SeverityHigh, "high**"
				a.Affected = []patchbay.Affected{{Ecosystem: "Debian:12", Package: "zlib", Ranges: []patchbay.Range{}, Versions: []string{}}}
			},
		},
		{
			name: "affected without package dropped; last_affected and limit kept",
			doc: `{"id":"X-1","affected":[{"ranges":[{"type":"GIT","events":[{"introduced":"abc"}]}]},
				{"package":{"ecosystem":"Alpine:v3.20","name":"busybox"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"1.0-r0"},{"last_affected":"1.2-r3"},{"limit":"2.0-r0"}]}]}]}`,
			want: func(a *patchbay.Advisory) {
				a.Affected = []patchbay.Affected{{Ecosystem: "Alpine:v3.20", Package: "busybox", Versions: []string{},
					Ranges: []patchbay.Range{{Type: "ECOSYSTEM", Events: []patchbay.RangeEvent{{Introduced: "1.0-r0"}, {LastAffected: "1.2-r3"}, {Limit: "2.0-r0"}}}}}}
			},
		},
		{
			name: "summary prefix rating",
			doc:  `{"id":"RLSA-2024:1","summary":"Low: vim security update"}`,
			want: func(a *patchbay.Advisory) {
				a.ID, a.Summary, a.Severity, a.SeverityRaw = "RLSA-2024:1", "Low: vim security update", patchbay.SeverityLow, "Low"
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			want := patchbay.Advisory{ID: "X-1", Source: "osv", Aliases: []string{}, CVEs: []string{},
				Severity: patchbay.SeverityUnknown, Affected: []patchbay.Affected{}}
			tt.want(&want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Parse (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"not json", `{`, "parse osv"},
		{"no id", `{"summary":"x"}`, "no id"},
		{"bad time", `{"id":"X","modified":"yesterday"}`, "modified"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

var cvePattern = regexp.MustCompile(`^CVE-\d{4}-\d{4,}$`)

// checkInvariants holds for every parsed advisory.
func checkInvariants(t testing.TB, a patchbay.Advisory) {
	t.Helper()
	if strings.TrimSpace(a.ID) == "" {
		t.Fatalf("advisory without id: %+v", a)
	}
	for _, c := range a.CVEs {
		if !cvePattern.MatchString(c) {
			t.Fatalf("%s: bad CVE id %q", a.ID, c)
		}
	}
	for _, af := range a.Affected {
		if af.Ecosystem == "" || af.Package == "" {
			t.Fatalf("%s: affected entry without ecosystem or package: %+v", a.ID, af)
		}
	}
	if a.CVSSScore < 0 || a.CVSSScore > 10 || (a.CVSSScore > 0 && a.CVSSVector == "") {
		t.Fatalf("%s: score %v with vector %q", a.ID, a.CVSSScore, a.CVSSVector)
	}
	switch a.Severity {
	case patchbay.SeverityUnknown, patchbay.SeverityNone, patchbay.SeverityLow, patchbay.SeverityMedium,
		patchbay.SeverityHigh, patchbay.SeverityCritical:
	default:
		t.Fatalf("%s: severity %q not on the scale", a.ID, a.Severity)
	}
}

// TestAllAlmaLinux parses the whole real AlmaLinux OSV database.
func TestAllAlmaLinux(t *testing.T) {
	dir := vulntest.Shared(t, "almalinux-osv/advisories")
	n, withCVE, affected := 0, 0, 0
	cves := map[string]bool{}
	sev := map[patchbay.Severity]int{}
	err := Walk(context.Background(), dir, func(a patchbay.Advisory) error {
		checkInvariants(t, a)
		n++
		if len(a.CVEs) > 0 {
			withCVE++
		}
		for _, c := range a.CVEs {
			cves[c] = true
		}
		affected += len(a.Affected)
		sev[a.Severity]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 5680 {
		t.Errorf("parsed %d advisories, want 5680", n)
	}
	if len(cves) != 6592 {
		t.Errorf("%d distinct CVEs, want 6592 (the data set's README)", len(cves))
	}
	// The README counts summary prefixes: Critical 34, Important 2,386,
	// Moderate 1,908, Low 154, and 49 "new packages/module" without one.
	want := map[patchbay.Severity]int{patchbay.SeverityCritical: 34, patchbay.SeverityHigh: 2386,
		patchbay.SeverityMedium: 1908, patchbay.SeverityLow: 154}
	for s, c := range want {
		if sev[s] != c {
			t.Errorf("severity %s: %d advisories, want %d", s, sev[s], c)
		}
	}
	t.Logf("%d advisories, %d with CVEs, %d distinct CVEs, %d affected entries, severities %v", n, withCVE, len(cves), affected, sev)
}

// zipOf builds an all.zip-layout archive of the real samples.
func zipOf(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	files, _ := filepath.Glob("testdata/real/*")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		w, err := zw.Create(filepath.Base(f))
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func ids(t testing.TB, path string) []string {
	t.Helper()
	var out []string
	if err := Walk(context.Background(), path, func(a patchbay.Advisory) error {
		out = append(out, a.ID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestWalk(t *testing.T) {
	want := []string{"ALBA-2022:8256", "ALSA-2021:4236", "ALSA-2023:4030", "ALSA-2026:6622", "UBUNTU-CVE-2026-84782"}
	zipPath := filepath.Join(t.TempDir(), "all") // no .zip suffix: recognised by content
	if err := os.WriteFile(zipPath, zipOf(t), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		want []string
	}{
		{"directory", "testdata/real", want},
		{"zip", zipPath, want},
		{"one file", "testdata/real/ALSA-2023-4030.json", []string{"ALSA-2023:4030"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, ids(t, tt.path)); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
		})
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"summary":"no id"}`), 0o644)
	if err := Walk(context.Background(), filepath.Dir(bad), func(patchbay.Advisory) error { return nil }); err == nil || !strings.Contains(err.Error(), "bad.json") {
		t.Errorf("Walk of a bad file: err = %v, want the file named", err)
	}
}

func TestFetch(t *testing.T) {
	body := zipOf(t)
	const etag = `"v1"`
	lastMod := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC).Format(http.TimeFormat)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/Debian/all.zip" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("ETag", etag)
		w.Header().Set("Last-Modified", lastMod)
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Write(body)
	}))
	defer srv.Close()
	ctx := context.Background()

	rc, gotETag, gotLM, notMod, err := Fetch(ctx, srv.Client(), srv.URL+"/Debian/all.zip", "", "")
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	if notMod || gotETag != etag || gotLM != lastMod || !bytes.Equal(data, body) {
		t.Fatalf("first fetch: notModified %v etag %q last-modified %q, %d bytes", notMod, gotETag, gotLM, len(data))
	}
	var n int
	if err := WalkZip(ctx, bytes.NewReader(data), int64(len(data)), func(patchbay.Advisory) error { n++; return nil }); err != nil || n != 5 {
		t.Fatalf("walk fetched zip: %d advisories, %v", n, err)
	}

	rc, gotETag, gotLM, notMod, err = Fetch(ctx, srv.Client(), srv.URL+"/Debian/all.zip", etag, lastMod)
	if err != nil || !notMod || rc != nil || gotETag != etag || gotLM != lastMod {
		t.Fatalf("second fetch: body %v notModified %v etag %q lm %q err %v; want 304", rc, notMod, gotETag, gotLM, err)
	}

	if _, _, _, _, err := Fetch(ctx, srv.Client(), srv.URL+"/missing.zip", "", ""); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("fetch of a missing file: err = %v, want 404", err)
	}
	if _, _, _, _, err := Fetch(ctx, http.DefaultClient, srv.URL+"/Debian/all.zip", "", ""); err == nil {
		t.Error("fetch with an untrusting client: want a TLS error")
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/real/*.json")
	for _, p := range files {
		data, _ := os.ReadFile(p)
		f.Add(data)
	}
	f.Add([]byte(`{"id":"X","severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N"}],"affected":[{"package":{}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := Parse(data)
		if err != nil {
			return
		}
		checkInvariants(t, a)
	})
}
