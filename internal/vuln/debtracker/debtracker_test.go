package debtracker

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay"
)

var update = flag.Bool("update", false, "rewrite golden files")

func collect(t testing.TB, r io.Reader) []patchbay.Advisory {
	t.Helper()
	var out []patchbay.Advisory
	if err := Parse(context.Background(), r, func(a patchbay.Advisory) error {
		out = append(out, a)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestGolden(t *testing.T) {
	f, err := os.Open("testdata/debian-tracker-json.sample.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	advs := collect(t, f)
	for _, a := range advs {
		checkInvariants(t, a)
	}
	got, _ := json.MarshalIndent(advs, "", "  ")
	got = append(got, '\n')
	golden := "testdata/debian-tracker-json.sample.golden.json"
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

const releases = `{
 "openssl": {
  "CVE-2024-0001": {"description": "resolved in bookworm, open in trixie",
   "releases": {
    "bookworm": {"status": "resolved", "fixed_version": "3.0.15-1~deb12u1", "urgency": "medium"},
    "trixie": {"status": "open", "urgency": "high**"},
    "sid": {"status": "resolved", "fixed_version": "3.3.2-1", "urgency": "high"}}},
  "CVE-2024-0002": {"description": "not affected",
   "releases": {
    "bookworm": {"status": "resolved", "fixed_version": "0", "urgency": "unimportant"},
    "bullseye": {"status": "not-affected", "urgency": "not yet assigned"},
    "trixie": {"status": "resolved", "fixed_version": "<not-affected>", "urgency": "low"}}},
  "TEMP-0000000-ABCDEF": {"description": "temporary id, undetermined",
   "releases": {"bookworm": {"status": "undetermined", "urgency": "not yet assigned"}}},
  "CVE-2024-0003": {"description": "only sid", "releases": {"sid": {"status": "open", "urgency": "low"}}}
 },
 "curl": {}
}`

func eco(events ...patchbay.RangeEvent) []patchbay.Range {
	return []patchbay.Range{{Type: "ECOSYSTEM", Events: events}}
}

func TestParse(t *testing.T) {
	got := collect(t, strings.NewReader(releases))
	none := []patchbay.Range{}
	aff := func(e, p string, r []patchbay.Range) patchbay.Affected {
		return patchbay.Affected{Ecosystem: e, Package: p, Ranges: r, Versions: []string{}}
	}
	want := []patchbay.Advisory{
		{ID: "CVE-2024-0001:openssl", Source: "debian-tracker", Aliases: []string{"CVE-2024-0001"}, CVEs: []string{"CVE-2024-0001"},
			Summary: "resolved in bookworm, open in trixie", Severity: patchbay.SeverityHigh, SeverityRaw: "urgency high**",
			Affected: []patchbay.Affected{
				aff("Debian:12", "openssl", eco(patchbay.RangeEvent{Introduced: "0"}, patchbay.RangeEvent{Fixed: "3.0.15-1~deb12u1"})),
				aff("Debian:13", "openssl", eco(patchbay.RangeEvent{Introduced: "0"})),
			}},
		{ID: "CVE-2024-0002:openssl", Source: "debian-tracker", Aliases: []string{"CVE-2024-0002"}, CVEs: []string{"CVE-2024-0002"},
			Summary: "not affected", Severity: patchbay.SeverityLow, SeverityRaw: "urgency unimportant",
			Affected: []patchbay.Affected{aff("Debian:11", "openssl", none), aff("Debian:12", "openssl", none), aff("Debian:13", "openssl", none)}},
		{ID: "TEMP-0000000-ABCDEF:openssl", Source: "debian-tracker", Aliases: []string{}, CVEs: []string{},
			Summary: "temporary id, undetermined", Severity: patchbay.SeverityUnknown, SeverityRaw: "urgency not yet assigned",
			Affected: []patchbay.Affected{aff("Debian:12", "openssl", eco(patchbay.RangeEvent{Introduced: "0"}))}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Parse (-want +got):\n%s", diff)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"not an object", `[]`, `want "{"`},
		{"source not an object", `{"openssl": 3}`, "openssl"},
		{"truncated", `{"openssl": {"CVE-2024-1": {"releases": {`, "CVE-2024-1"},
		{"bad release", `{"openssl": {"CVE-2024-1": {"releases": {"bookworm": 7}}}}`, "CVE-2024-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Parse(context.Background(), strings.NewReader(tt.doc), func(patchbay.Advisory) error { return nil })
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	stop := errors.New("stop")
	if err := Parse(context.Background(), strings.NewReader(releases), func(patchbay.Advisory) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("error of fn: got %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Parse(ctx, strings.NewReader(releases), func(patchbay.Advisory) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: got %v", err)
	}
}

// TestStreaming feeds a tracker-shaped document of 100,000 issues through
// a pipe, so the whole document is never in memory at once.
func TestStreaming(t *testing.T) {
	pr, pw := io.Pipe()
	const sources, perSource = 1000, 100
	go func() {
		pw.Write([]byte("{"))
		for s := 0; s < sources; s++ {
			if s > 0 {
				pw.Write([]byte(","))
			}
			fmt.Fprintf(pw, `"pkg%d": {`, s)
			for c := 0; c < perSource; c++ {
				if c > 0 {
					pw.Write([]byte(","))
				}
				fmt.Fprintf(pw, `"CVE-2024-%05d": {"description": "x", "releases": {"bookworm": {"status": "open", "urgency": "low"}}}`, s*perSource+c)
			}
			pw.Write([]byte("}"))
		}
		pw.Write([]byte("}"))
		pw.Close()
	}()
	n := 0
	if err := Parse(context.Background(), pr, func(patchbay.Advisory) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != sources*perSource {
		t.Errorf("%d advisories, want %d", n, sources*perSource)
	}
}

var debianEco = regexp.MustCompile(`^Debian:\d+$`)

func checkInvariants(t testing.TB, a patchbay.Advisory) {
	t.Helper()
	if a.ID == "" || a.Source != "debian-tracker" || len(a.Affected) == 0 {
		t.Fatalf("bad advisory %+v", a)
	}
	for _, c := range a.CVEs {
		if !strings.HasPrefix(a.ID, c+":") {
			t.Fatalf("%s: CVE %q not its id", a.ID, c)
		}
	}
	for _, af := range a.Affected {
		if !debianEco.MatchString(af.Ecosystem) || af.Package == "" || !strings.HasSuffix(a.ID, ":"+af.Package) {
			t.Fatalf("%s: bad affected %+v", a.ID, af)
		}
		for _, r := range af.Ranges {
			if len(r.Events) == 0 || r.Events[0].Introduced != "0" {
				t.Fatalf("%s: range %+v", a.ID, r)
			}
			for _, e := range r.Events[1:] {
				if e.Fixed == "" || e.Fixed == "0" {
					t.Fatalf("%s: range %+v", a.ID, r)
				}
			}
		}
	}
}

func FuzzParse(f *testing.F) {
	sample, _ := os.ReadFile("testdata/debian-tracker-json.sample.json")
	f.Add(string(sample))
	f.Add(releases)
	f.Fuzz(func(t *testing.T, doc string) {
		_ = Parse(context.Background(), strings.NewReader(doc), func(a patchbay.Advisory) error {
			checkInvariants(t, a)
			return nil
		})
	})
}
