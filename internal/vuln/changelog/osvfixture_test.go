package changelog

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/vuln/match"
	"github.com/patchbay/patchbay/internal/vuln/osv"
)

var updateFixtures = flag.Bool("update-fixtures", false, "regenerate internal/vuln/testdata/debian-osv from the shared changelogs")

// fixtureDir holds the Debian 12 OSV fixtures the lab's hosts are matched
// against (real Debian OSV data cannot be brought to these machines).
const fixtureDir = "../testdata/debian-osv"

// fixtureSources: the source packages of the lab's pending bookworm-security
// updates on 2026-11-25 (apt, libapt-pkg6.0 -> apt; liblzma5 -> xz-utils;
// libpcre2-8-0 -> pcre2; perl-base -> perl; tzdata), plus openssl and curl.
var fixtureSources = []string{"apt", "curl", "openssl", "pcre2", "perl", "tzdata", "xz-utils"}

// TestOSVFixtures regenerates (with -update-fixtures) or checks the
// committed fixtures against DebianOSV over the real changelogs.
func TestOSVFixtures(t *testing.T) {
	changelogs := map[string][]Entry{}
	readTar(t, func(source string, data []byte) {
		if !slices.Contains(fixtureSources, source) {
			return
		}
		es, err := Parse(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		changelogs[source] = es
	})
	if len(changelogs) != len(fixtureSources) {
		t.Fatalf("found %d of the %d fixture sources in the tar", len(changelogs), len(fixtureSources))
	}
	recs := DebianOSV("Debian:12", changelogs, Bookworm)
	want := map[string][]byte{}
	for _, r := range recs {
		data, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		want[r.ID+".json"] = append(data, '\n')
	}
	if *updateFixtures {
		os.RemoveAll(fixtureDir)
		if err := os.MkdirAll(fixtureDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, data := range want {
			if err := os.WriteFile(filepath.Join(fixtureDir, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	got := map[string][]byte{}
	files, _ := filepath.Glob(filepath.Join(fixtureDir, "*.json"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got[filepath.Base(f)] = data
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("fixtures differ from the generator; run with -update-fixtures (-want +got):\n%s", diff)
	}
	t.Logf("%d Debian:12 OSV fixtures for %v", len(recs), fixtureSources)
}

// TestOSVFixturesMatch reads the committed fixtures through the osv
// package and matches real bookworm versions against them.
func TestOSVFixturesMatch(t *testing.T) {
	var advs []patchbay.Advisory
	if err := osv.Walk(context.Background(), fixtureDir, func(a patchbay.Advisory) error {
		advs = append(advs, a)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(advs) == 0 {
		t.Fatal("no fixtures")
	}
	for _, a := range advs {
		if len(a.CVEs) != 1 || a.ID != "DEBIAN-"+a.CVEs[0] || len(a.Affected) == 0 {
			t.Fatalf("fixture %s: cves %v, %d affected", a.ID, a.CVEs, len(a.Affected))
		}
		for _, af := range a.Affected {
			if af.Ecosystem != "Debian:12" || !match.BySource(af.Ecosystem) {
				t.Fatalf("fixture %s: ecosystem %q", a.ID, af.Ecosystem)
			}
		}
	}
	tests := []struct {
		name, pkg, version string
		want               []string // "CVE fixed" of the affected results
	}{
		{"xz-utils of the 12.0 release", "xz-utils", "5.4.1-0.2",
			[]string{"CVE-2025-31115 5.4.1-1", "CVE-2026-34743 5.4.1-1+deb12u1"}},
		{"xz-utils deb12u1", "xz-utils", "5.4.1-1+deb12u1", nil},
		{"pcre2 deb12u1", "pcre2", "10.42-1+deb12u1", []string{"CVE-2026-103111 10.42-1+deb12u2"}},
		{"pcre2 deb12u2", "pcre2", "10.42-1+deb12u2", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, a := range advs {
				res, err := match.Check(a, "Debian:12", tt.pkg, tt.version)
				if err != nil {
					t.Fatal(err)
				}
				if res.Affected {
					if !strings.Contains(res.Evidence, "(dpkg rules)") {
						t.Errorf("evidence %q", res.Evidence)
					}
					got = append(got, a.CVEs[0]+" "+res.Fixed)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
		})
	}
}
