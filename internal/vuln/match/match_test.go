package match

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay"
)

func eco(events ...patchbay.RangeEvent) patchbay.Range {
	return patchbay.Range{Type: "ECOSYSTEM", Events: events}
}

func in(v string) patchbay.RangeEvent  { return patchbay.RangeEvent{Introduced: v} }
func fix(v string) patchbay.RangeEvent { return patchbay.RangeEvent{Fixed: v} }
func la(v string) patchbay.RangeEvent  { return patchbay.RangeEvent{LastAffected: v} }
func lim(v string) patchbay.RangeEvent { return patchbay.RangeEvent{Limit: v} }

func TestAffects(t *testing.T) {
	dpkg, err := RulesFor("Debian:12")
	if err != nil {
		t.Fatal(err)
	}
	rpmRules, err := RulesFor("AlmaLinux:9")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		rules    Rules
		ranges   []patchbay.Range
		versions []string
		version  string
		want     Result
	}{
		{
			name:    "below fixed, rpm, evidence",
			rules:   rpmRules,
			ranges:  []patchbay.Range{eco(in("0"), fix("3.0.7-27.el9"))},
			version: "3.0.7-25.el9",
			want: Result{Affected: true, Fixed: "3.0.7-27.el9",
				Evidence: "ID range [introduced 0, fixed 3.0.7-27.el9]: installed 3.0.7-25.el9 < fixed 3.0.7-27.el9 (rpm rules)"},
		},
		{
			name:    "equal to fixed is not affected",
			rules:   rpmRules,
			ranges:  []patchbay.Range{eco(in("0"), fix("3.0.7-27.el9"))},
			version: "3.0.7-27.el9",
		},
		{
			name:    "above fixed",
			rules:   dpkg,
			ranges:  []patchbay.Range{eco(in("0"), fix("1.2-3"))},
			version: "1.2-3+deb12u1",
		},
		{
			name:    "equal to last_affected is affected",
			rules:   dpkg,
			ranges:  []patchbay.Range{eco(in("0"), la("2.0-1"))},
			version: "2.0-1",
			want: Result{Affected: true,
				Evidence: "ID range [introduced 0, last_affected 2.0-1]: installed 2.0-1 <= last_affected 2.0-1, no fixed version known (dpkg rules)"},
		},
		{
			name:    "above last_affected",
			rules:   dpkg,
			ranges:  []patchbay.Range{eco(in("0"), la("2.0-1"))},
			version: "2.0-1.1",
		},
		{
			name:    "introduced after 0, below it",
			rules:   dpkg,
			ranges:  []patchbay.Range{eco(in("1.5-1"), fix("1.7-1"))},
			version: "1.4-9",
		},
		{
			name:    "introduced after 0, equal to it",
			rules:   dpkg,
			ranges:  []patchbay.Range{eco(in("1.5-1"), fix("1.7-1"))},
			version: "1.5-1",
			want: Result{Affected: true, Fixed: "1.7-1",
				Evidence: "ID range [introduced 1.5-1, fixed 1.7-1]: installed 1.5-1 >= introduced 1.5-1 and < fixed 1.7-1 (dpkg rules)"},
		},
		{
			name:    "unfixed: introduced only",
			rules:   dpkg,
			ranges:  []patchbay.Range{eco(in("0"))},
			version: "9.9-9",
			want: Result{Affected: true,
				Evidence: "ID range [introduced 0]: installed 9.9-9 has no fix yet (dpkg rules)"},
		},
		{
			name:    "unsorted events, two segments, in the second",
			rules:   dpkg,
			ranges:  []patchbay.Range{eco(fix("4.0-1"), in("3.0-1"), fix("2.0-1"), in("1.0-1"))},
			version: "3.5-1",
			want: Result{Affected: true, Fixed: "4.0-1",
				Evidence: "ID range [introduced 1.0-1, fixed 2.0-1, introduced 3.0-1, fixed 4.0-1]: installed 3.5-1 >= introduced 3.0-1 and < fixed 4.0-1 (dpkg rules)"},
		},
		{
			name:    "unsorted events, between the segments",
			rules:   dpkg,
			ranges:  []patchbay.Range{eco(fix("4.0-1"), in("3.0-1"), fix("2.0-1"), in("1.0-1"))},
			version: "2.5-1",
		},
		{
			name:  "several ranges: second says affected",
			rules: dpkg,
			ranges: []patchbay.Range{
				eco(in("0"), fix("1.0-1")),
				eco(in("2.0-1"), fix("2.3-1")),
			},
			version: "2.1-1",
			want: Result{Affected: true, Fixed: "2.3-1",
				Evidence: "ID range [introduced 2.0-1, fixed 2.3-1]: installed 2.1-1 >= introduced 2.0-1 and < fixed 2.3-1 (dpkg rules)"},
		},
		{
			name:  "several ranges overlapping: fix is the later one",
			rules: dpkg,
			ranges: []patchbay.Range{
				eco(in("0"), fix("2.2-1")),
				eco(in("2.0-1"), fix("2.3-1")),
			},
			version: "2.1-1",
			want: Result{Affected: true, Fixed: "2.3-1",
				Evidence: "ID range [introduced 0, fixed 2.2-1]: installed 2.1-1 < fixed 2.2-1 (dpkg rules); ID range [introduced 2.0-1, fixed 2.3-1]: installed 2.1-1 >= introduced 2.0-1 and < fixed 2.3-1 (dpkg rules)"},
		},
		{
			name:  "several ranges overlapping: one unfixed means no fix",
			rules: dpkg,
			ranges: []patchbay.Range{
				eco(in("0"), fix("2.2-1")),
				eco(in("2.0-1")),
			},
			version: "2.1-1",
			want: Result{Affected: true,
				Evidence: "ID range [introduced 0, fixed 2.2-1]: installed 2.1-1 < fixed 2.2-1 (dpkg rules); ID range [introduced 2.0-1]: installed 2.1-1 >= introduced 2.0-1 and has no fix yet (dpkg rules)"},
		},
		{
			name:    "limit: below it",
			rules:   dpkg,
			ranges:  []patchbay.Range{eco(in("0"), lim("2.0-1"))},
			version: "1.9-1",
			want: Result{Affected: true,
				Evidence: "ID range [introduced 0, limit 2.0-1]: installed 1.9-1 has no fix yet (dpkg rules)"},
		},
		{
			name:    "limit: at it",
			rules:   dpkg,
			ranges:  []patchbay.Range{eco(in("0"), lim("2.0-1"))},
			version: "2.0-1",
		},
		{
			name:    "limit star",
			rules:   dpkg,
			ranges:  []patchbay.Range{eco(in("0"), fix("3-1"), lim("*"))},
			version: "2-1",
			want: Result{Affected: true, Fixed: "3-1",
				Evidence: "ID range [introduced 0, fixed 3-1, limit *]: installed 2-1 < fixed 3-1 (dpkg rules)"},
		},
		{
			name:    "epoch: fixed without epoch is below any epoch 1",
			rules:   dpkg,
			ranges:  []patchbay.Range{eco(in("0"), fix("9.0-1"))},
			version: "1:1.0-1",
		},
		{
			name:    "epoch: rpm epoch makes it newer",
			rules:   rpmRules,
			ranges:  []patchbay.Range{eco(in("0"), fix("1:3.0.7-27.el9"))},
			version: "3.0.7-99.el9",
			want: Result{Affected: true, Fixed: "1:3.0.7-27.el9",
				Evidence: "ID range [introduced 0, fixed 1:3.0.7-27.el9]: installed 3.0.7-99.el9 < fixed 1:3.0.7-27.el9 (rpm rules)"},
		},
		{
			name:    "tilde: ~ sorts before the release",
			rules:   dpkg,
			ranges:  []patchbay.Range{eco(in("0"), fix("2.0-1"))},
			version: "2.0~rc1-1",
			want: Result{Affected: true, Fixed: "2.0-1",
				Evidence: "ID range [introduced 0, fixed 2.0-1]: installed 2.0~rc1-1 < fixed 2.0-1 (dpkg rules)"},
		},
		{
			name:    "tilde: backport below the fix",
			rules:   dpkg,
			ranges:  []patchbay.Range{eco(in("0"), fix("1.2.3-1+deb12u1"))},
			version: "1.2.3-1+deb12u1~bpo11+1",
			want: Result{Affected: true, Fixed: "1.2.3-1+deb12u1",
				Evidence: "ID range [introduced 0, fixed 1.2.3-1+deb12u1]: installed 1.2.3-1+deb12u1~bpo11+1 < fixed 1.2.3-1+deb12u1 (dpkg rules)"},
		},
		{
			name:     "versions list: listed",
			rules:    dpkg,
			versions: []string{"1.0-1", "1.1-1"},
			version:  "1.1-1",
			want: Result{Affected: true,
				Evidence: "ID versions list of pkg: installed 1.1-1 is listed (dpkg rules)"},
		},
		{
			name:     "versions list: equal under the rules",
			rules:    dpkg,
			versions: []string{"0:1.1-1"},
			version:  "1.1-1",
			want: Result{Affected: true,
				Evidence: "ID versions list of pkg: installed 0:1.1-1 is listed (dpkg rules)"},
		},
		{
			name:     "versions list: not listed",
			rules:    dpkg,
			versions: []string{"1.0-1", "1.1-1"},
			version:  "1.2-1",
		},
		{
			name:    "introduced and fixed at the same version is empty",
			rules:   dpkg,
			ranges:  []patchbay.Range{eco(fix("1.0-1"), in("1.0-1"))},
			version: "1.0-1",
		},
		{
			name:    "git ranges are ignored",
			rules:   dpkg,
			ranges:  []patchbay.Range{{Type: "GIT", Events: []patchbay.RangeEvent{in("0")}}},
			version: "1.0-1",
		},
		{
			name:    "no ranges, no versions: affects nothing",
			rules:   dpkg,
			version: "1.0-1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := patchbay.Affected{Ecosystem: "x", Package: "pkg", Ranges: tt.ranges, Versions: tt.versions}
			got, err := Affects("ID", a, tt.version, tt.rules)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Affects(%q) (-want +got):\n%s", tt.version, diff)
			}
		})
	}
}

func TestAffectsErrors(t *testing.T) {
	dpkg, _ := RulesFor("Debian:12")
	tests := []struct {
		name     string
		ranges   []patchbay.Range
		versions []string
		version  string
		want     string
	}{
		{"unreadable installed version", []patchbay.Range{eco(in("0"), fix("1.0-1"))}, nil, "abc", "installed version"},
		{"unreadable installed, range says nothing", nil, nil, "", "installed version"},
		{"unreadable fixed", []patchbay.Range{eco(in("0"), fix("x y"))}, nil, "1.0-1", "fixed event"},
		{"unreadable listed version", nil, []string{"#bad"}, "1.0-1", "versions list"},
		{"semver range", []patchbay.Range{{Type: "SEMVER", Events: []patchbay.RangeEvent{in("0")}}}, nil, "1.0-1", "unsupported range type"},
		{"event with two fields", []patchbay.Range{eco(patchbay.RangeEvent{Introduced: "0", Fixed: "1"})}, nil, "1.0-1", "2 fields"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := patchbay.Affected{Package: "pkg", Ranges: tt.ranges, Versions: tt.versions}
			got, err := Affects("ID", a, tt.version, dpkg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Affects = %+v, %v; want error with %q", got, err, tt.want)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	adv := patchbay.Advisory{
		ID: "DSA-1-1",
		Affected: []patchbay.Affected{
			{Ecosystem: "Debian:11", Package: "openssl", Ranges: []patchbay.Range{eco(in("0"), fix("1.1.1w-0+deb11u2"))}},
			{Ecosystem: "Debian:12", Package: "openssl", Ranges: []patchbay.Range{eco(in("0"), fix("3.0.15-1~deb12u1"))}},
			{Ecosystem: "Debian:12", Package: "curl", Ranges: []patchbay.Range{eco(in("0"))}},
		},
	}
	withdrawn := adv
	withdrawn.Withdrawn = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name                    string
		adv                     patchbay.Advisory
		ecosystem, pkg, version string
		want                    Result
	}{
		{"affected in its release", adv, "Debian:12", "openssl", "3.0.14-1~deb12u2", Result{Affected: true, Fixed: "3.0.15-1~deb12u1",
			Evidence: "DSA-1-1 range [introduced 0, fixed 3.0.15-1~deb12u1]: installed 3.0.14-1~deb12u2 < fixed 3.0.15-1~deb12u1 (dpkg rules)"}},
		{"fixed", adv, "Debian:12", "openssl", "3.0.15-1~deb12u1", Result{}},
		{"other release ignored", adv, "Debian:13", "openssl", "1.0-1", Result{}},
		{"other package ignored", adv, "Debian:12", "zlib", "1.0-1", Result{}},
		{"withdrawn matches nothing", withdrawn, "Debian:12", "curl", "1.0-1", Result{Evidence: "DSA-1-1 withdrawn on 2025-03-01: matches nothing"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Check(tt.adv, tt.ecosystem, tt.pkg, tt.version)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Check (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := Check(adv, "Plan9:4", "openssl", "1"); err == nil {
		t.Error("Check with unknown ecosystem: want error")
	}
}

func TestEcosystem(t *testing.T) {
	tests := []struct {
		name string
		os   patchbay.OS
		pro  bool
		want []string
	}{
		{"debian 12", patchbay.OS{ID: "debian", VersionID: "12"}, false, []string{"Debian:12"}},
		{"ubuntu 22.04", patchbay.OS{ID: "ubuntu", VersionID: "22.04"}, false, []string{"Ubuntu:22.04:LTS"}},
		{"ubuntu 22.04 pro", patchbay.OS{ID: "ubuntu", VersionID: "22.04"}, true, []string{"Ubuntu:22.04:LTS", "Ubuntu:Pro:22.04:LTS"}},
		{"ubuntu 24.10 not lts", patchbay.OS{ID: "ubuntu", VersionID: "24.10"}, true, []string{"Ubuntu:24.10"}},
		{"ubuntu 23.04 not lts", patchbay.OS{ID: "ubuntu", VersionID: "23.04"}, false, []string{"Ubuntu:23.04"}},
		{"almalinux 9.4", patchbay.OS{ID: "almalinux", VersionID: "9.4"}, false, []string{"AlmaLinux:9"}},
		{"rocky 9", patchbay.OS{ID: "rocky", VersionID: "9"}, false, []string{"Rocky Linux:9"}},
		{"alpine 3.20.3", patchbay.OS{ID: "alpine", VersionID: "3.20.3"}, false, []string{"Alpine:v3.20"}},
		{"alpine edge", patchbay.OS{ID: "alpine", VersionID: "3.21_alpha20240807"}, false, []string{"Alpine:v3.21"}},
		{"debian sid has no version", patchbay.OS{ID: "debian"}, false, nil},
		{"unknown", patchbay.OS{ID: "plan9", VersionID: "4"}, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Ecosystem(tt.os, tt.pro)); diff != "" {
				t.Errorf("Ecosystem (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRulesAndBySource(t *testing.T) {
	tests := []struct {
		ecosystem string
		rules     string
		bySource  bool
	}{
		{"Debian:12", "dpkg", true},
		{"Ubuntu:Pro:22.04:LTS", "dpkg", true},
		{"AlmaLinux:9", "rpm", false},
		{"Rocky Linux:9", "rpm", false},
		{"Alpine:v3.20", "apk", true},
	}
	for _, tt := range tests {
		t.Run(tt.ecosystem, func(t *testing.T) {
			r, err := RulesFor(tt.ecosystem)
			if err != nil {
				t.Fatal(err)
			}
			if r.Name != tt.rules || BySource(tt.ecosystem) != tt.bySource {
				t.Errorf("rules %q by source %v, want %q %v", r.Name, BySource(tt.ecosystem), tt.rules, tt.bySource)
			}
		})
	}
	apk, _ := RulesFor("Alpine:v3.20")
	if c, err := apk.Compare("1.2.3-r1", "1.2.10-r0"); err != nil || c != -1 {
		t.Errorf("apk compare = %d, %v; want -1", c, err)
	}
	if _, err := apk.Compare("1.2.3-r1", "not a version"); err == nil {
		t.Error("apk compare of garbage: want error")
	}
}

// FuzzAffects checks that Affects never calls an unreadable version "not
// affected" and that an affected result with a fix has a fix above the
// installed version.
func FuzzAffects(f *testing.F) {
	f.Add("1.0-1", "0", "2.0-1", "", "1.5-1")
	f.Add("1.0-1", "1.0-1", "", "1.2-1", "1.2-1")
	f.Add("2.0~rc1", "0", "2.0", "", "1:0")
	f.Fuzz(func(t *testing.T, v, intro, fixed, last, listed string) {
		r, _ := RulesFor("Debian:12")
		var evs []patchbay.RangeEvent
		for _, e := range []patchbay.RangeEvent{{Introduced: intro}, {Fixed: fixed}, {LastAffected: last}} {
			if e != (patchbay.RangeEvent{}) {
				evs = append(evs, e)
			}
		}
		a := patchbay.Affected{Package: "p", Ranges: []patchbay.Range{eco(evs...)}, Versions: []string{listed}}
		got, err := Affects("ID", a, v, r)
		if _, verr := r.Compare(v, v); verr != nil && err == nil {
			t.Fatalf("unreadable installed %q gave %+v, no error", v, got)
		}
		if err != nil {
			return
		}
		if got.Affected && got.Evidence == "" {
			t.Fatal("affected without evidence")
		}
		if !got.Affected && got.Fixed != "" {
			t.Fatal("not affected but fixed set")
		}
		if got.Fixed != "" {
			if c, _ := r.Compare(got.Fixed, v); c <= 0 {
				t.Fatalf("fixed %q not above installed %q", got.Fixed, v)
			}
		}
	})
}
