package kev

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/vuln/vulntest"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestGolden(t *testing.T) {
	f, err := os.Open("testdata/kev-excerpt.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.MarshalIndent(c, "", "  ")
	got = append(got, '\n')
	golden := "testdata/kev-excerpt.golden.json"
	if *update {
		os.WriteFile(golden, got, 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("golden (-want +got):\n%s", diff)
	}
}

func TestRealCatalog(t *testing.T) {
	path := vulntest.Shared(t, "cisa-kev/known_exploited_vulnerabilities.json")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Entries) != 1404 || c.Version != "2025.08.25" {
		t.Fatalf("%d entries, version %q; want 1404, 2025.08.25", len(c.Entries), c.Version)
	}
	seen, ransomware := map[string]bool{}, 0
	for _, e := range c.Entries {
		checkEntry(t, e)
		if seen[e.CVE] {
			t.Errorf("%s twice", e.CVE)
		}
		seen[e.CVE] = true
		if e.Ransomware {
			ransomware++
		}
	}
	if ransomware != 293 {
		t.Errorf("%d with known ransomware use, want 293", ransomware)
	}
	first := patchbay.KEVEntry{CVE: "CVE-2025-48384", Vendor: "Git", Product: "Git", Name: "Git Link Following Vulnerability",
		DateAdded: time.Date(2025, 8, 25, 0, 0, 0, 0, time.UTC), DueDate: time.Date(2025, 9, 15, 0, 0, 0, 0, time.UTC)}
	if diff := cmp.Diff(first, c.Entries[0]); diff != "" {
		t.Errorf("first entry (-want +got):\n%s", diff)
	}
}

func checkEntry(t testing.TB, e patchbay.KEVEntry) {
	t.Helper()
	if !cveID.MatchString(e.CVE) {
		t.Fatalf("bad CVE id %q", e.CVE)
	}
	// No check of dueDate against dateAdded: 15 real entries (added on
	// 2021-11-03 from earlier directives) are due before they were added.
	if e.DateAdded.Location() != time.UTC || e.DueDate.Location() != time.UTC {
		t.Fatalf("%s: dates not in UTC", e.CVE)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"not json", `[`, "parse kev"},
		{"truncated", `{"count":2,"vulnerabilities":[{"cveID":"CVE-2024-0001"}]}`, "count 2, but 1 entries"},
		{"no count", `{"vulnerabilities":[]}`, "count missing"},
		{"bad id", `{"count":1,"vulnerabilities":[{"cveID":"GHSA-x"}]}`, "not a CVE id"},
		{"bad date", `{"count":1,"vulnerabilities":[{"cveID":"CVE-2024-0001","dateAdded":"25/08/2025"}]}`, "dateAdded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	data, _ := os.ReadFile(filepath.Join("testdata", "kev-excerpt.json"))
	f.Add(data)
	f.Add([]byte(`{"count":1,"vulnerabilities":[{"cveID":" CVE-2024-0001 ","knownRansomwareCampaignUse":"Known"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(strings.NewReader(string(data)))
		if err != nil {
			return
		}
		for _, e := range c.Entries {
			checkEntry(t, e)
		}
	})
}
