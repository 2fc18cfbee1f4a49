package sqlite

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay"
)

func TestSortedPackages(t *testing.T) {
	p := func(name, arch string) patchbay.Package {
		return patchbay.Package{Name: name, Arch: arch, Version: "1"}
	}
	tests := []struct {
		name string
		in   []patchbay.Package
	}{
		{"nil", nil},
		{"sorted", []patchbay.Package{p("a", "amd64"), p("b", "amd64")}},
		{"reversed", []patchbay.Package{p("b", "amd64"), p("a", "amd64")}},
		// Key order, not (name, arch) order: '-' and digits sort before ':'.
		{"name prefixes", []patchbay.Package{p("a", "amd64"), p("a-b", "amd64"), p("ab", "all"), p("a2", "i386"), p("a", "all")}},
		{"multiarch", []patchbay.Package{p("libc6", "i386"), p("libc6", "amd64"), p("libc6-dev", "amd64")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.in)
			want := patchbay.Inventory{Packages: slices.Clone(tt.in)}
			want.Normalize()
			got := sortedPackages(in)
			if diff := cmp.Diff(want.Packages, got); diff != "" {
				t.Errorf("sortedPackages (-Normalize +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.in, in); diff != "" {
				t.Errorf("sortedPackages changed its argument (-before +after):\n%s", diff)
			}
		})
	}
}

func FuzzSortedPackages(f *testing.F) {
	f.Add("a", "amd64", "a-b", "amd64", "ab", "i386")
	f.Add("x", "", "x:", "", "x", "a")
	f.Fuzz(func(t *testing.T, n1, a1, n2, a2, n3, a3 string) {
		pkgs := []patchbay.Package{{Name: n1, Arch: a1}, {Name: n2, Arch: a2}, {Name: n3, Arch: a3}}
		got := sortedPackages(slices.Clone(pkgs))
		// Invariant: sorted by Key, a permutation of the input.
		if !slices.IsSortedFunc(got, func(a, b patchbay.Package) int { return strings.Compare(a.Key(), b.Key()) }) {
			t.Errorf("sortedPackages(%q) = %q, not sorted by Key", pkgs, got)
		}
		sortAll := func(ps []patchbay.Package) []patchbay.Package {
			ps = slices.Clone(ps)
			slices.SortFunc(ps, func(a, b patchbay.Package) int {
				return strings.Compare(a.Name+"\x00"+a.Arch, b.Name+"\x00"+b.Arch)
			})
			return ps
		}
		if diff := cmp.Diff(sortAll(pkgs), sortAll(got)); diff != "" {
			t.Errorf("sortedPackages(%q) is not a permutation (-in +out):\n%s", pkgs, diff)
		}
	})
}

func TestParseInts(t *testing.T) {
	tests := []struct {
		in   string
		want []int64
		err  bool
	}{
		{"[]", nil, false},
		{"[7]", []int64{7}, false},
		{"[1,22,333,0]", []int64{1, 22, 333, 0}, false},
		{"[9007199254740993]", []int64{9007199254740993}, false},
		{"", nil, true},
		{"[1,,2]", nil, true},
		{"[1,]", nil, true},
		{"[-1]", nil, true},
		{"[1 ,2]", nil, true},
		{"[1234567890123456789]", nil, true},
		{"1,2", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseInts(tt.in)
			if (err != nil) != tt.err {
				t.Fatalf("parseInts(%q) error = %v, want error %v", tt.in, err, tt.err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseInts(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func FuzzParseInts(f *testing.F) {
	f.Add("[1,2,3]")
	f.Add("[]")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseInts(s)
		if err != nil {
			return
		}
		// Whatever parses is a canonical list of non-negative integers:
		// it renders back to the input.
		if jsonInts(got) != s {
			t.Errorf("parseInts(%q) = %v, renders as %q", s, got, jsonInts(got))
		}
	})
}
