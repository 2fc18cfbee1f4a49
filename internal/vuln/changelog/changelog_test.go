package changelog

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay/internal/debversion"
	"github.com/patchbay/patchbay/internal/vuln/vulntest"
)

var update = flag.Bool("update", false, "rewrite golden files")

func parseFile(t testing.TB, path string) []Entry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	entries, err := Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.changelog")
	if len(files) < 5 {
		t.Fatalf("want 5 sample changelogs, have %d", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			entries := parseFile(t, f)
			for _, e := range entries {
				checkEntry(t, e)
			}
			got, _ := json.MarshalIndent(entries, "", "  ")
			got = append(got, '\n')
			golden := strings.TrimSuffix(f, ".changelog") + ".golden.json"
			if *update {
				os.WriteFile(golden, got, 0o644)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("golden %s (-want +got):\n%s", golden, diff)
			}
		})
	}
}

func TestParseEdgeCases(t *testing.T) {
	entries := parseFile(t, "testdata/edge.changelog")
	type short struct {
		Version, Urgency, Maintainer string
		Dists, CVEs                  []string
		Date                         time.Time
	}
	var got []short
	for _, e := range entries {
		got = append(got, short{e.Version, e.Urgency, e.Maintainer, e.Distributions, e.CVEs, e.Date})
	}
	want := []short{
		{"2.0-1+deb12u1", "high", "Jane Doe <jane@example.org>", []string{"bookworm-security", "bookworm"},
			[]string{"CVE-2024-1111", "CVE-2024-33333"}, time.Date(2024, 1, 1, 9, 0, 0, 0, time.UTC)},
		{"1.9-1", "low", "", []string{"unstable"}, []string{}, time.Time{}},
		{"1:1.8-1", "medium", "John Roe <john@example.org>", []string{"unstable"},
			[]string{"CVE-2019-0001"}, time.Date(2021, 2, 2, 3, 4, 5, 0, time.UTC)},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("edge cases (-want +got):\n%s", diff)
	}
	crlf := parseFile(t, "testdata/crlf.changelog")
	if len(crlf) != 1 || !slices.Equal(crlf[0].CVEs, []string{"CVE-2018-0001"}) || crlf[0].Date.IsZero() {
		t.Errorf("crlf: %+v", crlf)
	}
}

func TestCVEsFixedBetween(t *testing.T) {
	perl := parseFile(t, "testdata/perl.changelog")
	xz := parseFile(t, "testdata/xz-utils.changelog")
	tests := []struct {
		name                 string
		entries              []Entry
		installed, candidate string
		want                 []string
	}{
		{"xz: bookworm release to deb12u2", xz, "5.4.1-0.2", "5.4.1-1+deb12u2", []string{"CVE-2025-31115", "CVE-2026-34743"}},
		{"xz: deb12u1 to deb12u2 (GHSA only)", xz, "5.4.1-1+deb12u1", "5.4.1-1+deb12u2", []string{}},
		{"xz: candidate bound is inclusive", xz, "5.4.1-1", "5.4.1-1+deb12u1", []string{"CVE-2026-34743"}},
		{"xz: same version", xz, "5.4.1-1", "5.4.1-1", []string{}},
		{"perl: deb12u3 to deb12u4", perl, "5.36.0-7+deb12u3", "5.36.0-7+deb12u4", perlU4(t, perl)},
		{"perl: release to deb12u1", perl, "5.36.0-7", "5.36.0-7+deb12u1", []string{"CVE-2023-47038"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CVEsFixedBetween(tt.entries, tt.installed, tt.candidate)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("CVEsFixedBetween (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := CVEsFixedBetween(xz, "not-a-version", "5.4.1-1"); err == nil {
		t.Error("unreadable installed version: want error")
	}
}

// perlU4 is the CVE list of perl's 5.36.0-7+deb12u4 entry, from the
// shared data set's line for it.
func perlU4(t testing.TB, perl []Entry) []string {
	for _, e := range perl {
		if e.Version == "5.36.0-7+deb12u4" {
			if len(e.CVEs) == 0 {
				t.Fatal("perl deb12u4 mentions no CVE")
			}
			return e.CVEs
		}
	}
	t.Fatal("no perl deb12u4 entry")
	return nil
}

var cvePattern = regexp.MustCompile(`^CVE-\d{4}-\d{4,}$`)

func checkEntry(t testing.TB, e Entry) {
	t.Helper()
	if e.Source == "" || !debversion.Valid(e.Version) || len(e.Distributions) == 0 {
		t.Fatalf("bad entry %+v", e)
	}
	for _, c := range e.CVEs {
		if !cvePattern.MatchString(c) {
			t.Fatalf("%s %s: bad CVE id %q", e.Source, e.Version, c)
		}
	}
	if !slices.IsSorted(e.CVEs) {
		t.Fatalf("%s %s: CVEs not sorted", e.Source, e.Version)
	}
}

// sharedRow is one line of bookworm-changelog-cves.jsonl.
type sharedRow struct {
	Source  string    `json:"source"`
	Version string    `json:"version"`
	Date    time.Time `json:"date"`
	CVEs    []string  `json:"cves"`
}

// readTar calls fn with the source name and gunzipped content of every
// changelog in changelogs.tar (<source>_<version>_<suite>.gz).
func readTar(t testing.TB, fn func(source string, data []byte)) {
	t.Helper()
	f, err := os.Open(vulntest.Shared(t, "debian12-changelog-cves/changelogs.tar"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(tr)
		if err != nil {
			t.Fatalf("%s: %v", h.Name, err)
		}
		data, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("%s: %v", h.Name, err)
		}
		source, _, _ := strings.Cut(filepath.Base(h.Name), "_")
		fn(source, data)
	}
}

// TestAgreesWithSharedSet parses all 974 real changelogs and compares the
// CVE set of every entry with the shared data set's
// bookworm-changelog-cves.jsonl (one line per entry that mentions a CVE).
func TestAgreesWithSharedSet(t *testing.T) {
	want := map[string][]string{} // "source version" -> CVEs
	dates := map[string]time.Time{}
	f, err := os.Open(vulntest.Shared(t, "debian12-changelog-cves/bookworm-changelog-cves.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r sharedRow
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		k := r.Source + " " + r.Version
		want[k] = append(want[k], r.CVEs...)
		dates[k] = r.Date
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	sources, entries, undated, dateDiffs := 0, 0, 0, 0
	readTar(t, func(source string, data []byte) {
		sources++
		es, err := Parse(strings.NewReader(string(data)))
		if err != nil {
			t.Fatalf("%s: %v", source, err)
		}
		for _, e := range es {
			checkEntry(t, e)
			entries++
			if e.Date.IsZero() {
				undated++
			}
			k := source + " " + e.Version
			if d, ok := dates[k]; ok && !d.Equal(e.Date) {
				dateDiffs++
				t.Errorf("%s: date %s, shared set %s", k, e.Date, d)
			}
			if len(e.CVEs) > 0 {
				got[k] = append(got[k], e.CVEs...)
			}
		}
	})
	agree, pairs := 0, 0
	var diffs []string
	for k, w := range want {
		w = sortedSet(w)
		g := sortedSet(got[k])
		pairs += len(w)
		if slices.Equal(w, g) {
			agree++
			continue
		}
		diffs = append(diffs, fmt.Sprintf("%s: shared %v, parser %v", k, w, g))
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: only the parser finds %v", k, g))
		}
	}
	slices.Sort(diffs)
	t.Logf("%d changelogs, %d entries parsed (%d without a readable date); %d/%d shared entries with CVEs agree exactly (%d CVE mentions, %d dates differ); %d differences",
		sources, entries, undated, agree, len(want), pairs, dateDiffs, len(diffs))
	for _, d := range diffs {
		t.Error(d)
	}
	if sources != 974 || len(want) != 3418 {
		t.Errorf("%d changelogs, %d shared entries; want 974 and 3418", sources, len(want))
	}
}

func sortedSet(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.changelog")
	for _, p := range files {
		data, _ := os.ReadFile(p)
		f.Add(string(data))
	}
	f.Add("x (1) a; urgency=low\n  CVE-2020-1234\n -- a <b>  Mon, 1 Jan 2024 10:00:00 +0000\n")
	f.Fuzz(func(t *testing.T, data string) {
		entries, err := Parse(strings.NewReader(data))
		if err != nil {
			return
		}
		for _, e := range entries {
			checkEntry(t, e)
		}
		if len(entries) > 0 {
			if _, err := CVEsFixedBetween(entries, "0", entries[0].Version); err != nil {
				t.Fatalf("CVEsFixedBetween on parsed entries: %v", err)
			}
		}
	})
}
