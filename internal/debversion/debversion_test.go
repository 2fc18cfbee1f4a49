package debversion

import (
	"strings"
	"testing"
)

// compareCases are also checked against dpkg in TestCompareMatchesDpkg.
var compareCases = []struct {
	name string
	a, b string
	want int
}{
	{"equal", "1.0-1", "1.0-1", 0},
	{"revision", "1.0-1", "1.0-2", -1},
	{"numeric not lexical", "1.10", "1.9", 1},
	{"epoch wins", "1:0.1", "2.0", 1},
	{"zero epoch is no epoch", "0:1.0", "1.0", 0},
	{"tilde sorts before the end", "1.0~rc1", "1.0", -1},
	{"tilde before tilde-tilde", "1.0~~", "1.0~", -1},
	{"security update", "5.36.0-7+deb12u3", "5.36.0-7+deb12u4", -1},
	{"binNMU after source version", "5.2.15-2", "5.2.15-2+b8", -1},
	{"backport before release", "2.6.1~bpo11+1", "2.6.1", -1},
	{"stable update after backport base", "1.2-1~deb12u1", "1.2-1", -1},
	{"letters before non-letters", "1.0a", "1.0+", -1},
	{"leading zeros", "1.002", "1.2", 0},
	{"missing revision is revision 0", "1.0", "1.0-0", 0},
	{"systemd", "252.38-1~deb12u1", "252.39-1~deb12u2", -1},
	{"libcap epoch", "1:2.66-4+deb12u2+b2", "1:2.66-4+deb12u3+b1", -1},
}

func TestCompare(t *testing.T) {
	for _, tt := range compareCases {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Compare(tt.a, tt.b)
			if err != nil {
				t.Fatalf("Compare(%q, %q): %v", tt.a, tt.b, err)
			}
			if got != tt.want {
				t.Errorf("Compare(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
			back, _ := Compare(tt.b, tt.a)
			if back != -tt.want {
				t.Errorf("Compare(%q, %q) = %d, want %d", tt.b, tt.a, back, -tt.want)
			}
		})
	}
}

func TestCompareRefusesInvalid(t *testing.T) {
	tests := []struct{ name, v string }{
		{"empty", ""},
		{"blank", "  "},
		{"no leading digit", "abc"},
		{"leading letter with revision", "v1.0-1"},
		{"space inside", "1.0 -1"},
		{"empty revision", "1.0-"},
		{"empty epoch", ":1.0"},
		{"letter epoch", "a:1.0"},
		{"nothing after epoch", "1:"},
		{"underscore", "1.0_1"},
		{"non-ASCII letter", "1.0é"},
		{"slash", "1.0/2"},
		{"colon in revision", "1.0-1:2"},
		{"huge number", "1.1234567890123456789"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if Valid(tt.v) {
				t.Errorf("Valid(%q) = true, want false", tt.v)
			}
			// An unknown version is never equal to anything, itself included.
			if c, err := Compare(tt.v, tt.v); err == nil {
				t.Errorf("Compare(%q, %q) = %d, nil error; want an error", tt.v, tt.v, c)
			}
			if _, err := Compare("1.0", tt.v); err == nil {
				t.Errorf("Compare(1.0, %q): nil error, want one", tt.v)
			}
		})
	}
}

// FuzzCompare checks the library's order against a direct port of dpkg's
// algorithm, and that it is an order: reflexive, antisymmetric, transitive.
func FuzzCompare(f *testing.F) {
	seeds := [][3]string{
		{"1.0-1", "1.0-2", "1.0-10"},
		{"1:2.66-4+deb12u2+b2", "1:2.66-4+deb12u3+b1", "2.66"},
		{"1.0~rc1", "1.0", "1.0+dfsg"},
		{"2.6.1~bpo11+1", "2.6.1", "2.6.1-1"},
		{"0:1.0", "1.0-0", "1.0a"},
		{"252.38-1~deb12u1", "252.39-1~deb12u2", "252.39"},
		{"9.2p1-2+deb12u6", "1:9.2p1-2+deb12u10", "10.0"},
		{"1.002", "1.2", "1.02~"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, a, b, c string) {
		ab, errAB := Compare(a, b)
		ba, errBA := Compare(b, a)
		if (errAB == nil) != (errBA == nil) {
			t.Fatalf("Compare(%q, %q) err %v but reversed err %v", a, b, errAB, errBA)
		}
		if errAB != nil {
			return
		}
		if ab != -ba {
			t.Fatalf("Compare(%q, %q) = %d but Compare(%q, %q) = %d", a, b, ab, b, a, ba)
		}
		if aa, err := Compare(a, a); err != nil || aa != 0 {
			t.Fatalf("Compare(%q, %q) = %d, %v; want 0", a, a, aa, err)
		}
		if want := sign(dpkgCompare(a, b)); ab != want {
			t.Fatalf("Compare(%q, %q) = %d, dpkg's algorithm says %d", a, b, ab, want)
		}
		bc, err := Compare(b, c)
		if err != nil {
			return
		}
		ac, _ := Compare(a, c)
		if ab <= 0 && bc <= 0 && ac > 0 || ab >= 0 && bc >= 0 && ac < 0 {
			t.Fatalf("not transitive: %q ? %q = %d, %q ? %q = %d, %q ? %q = %d", a, b, ab, b, c, bc, a, c, ac)
		}
	})
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

// dpkgCompare is a port of dpkg_version_compare and verrevcmp from dpkg's
// lib/dpkg/version.c, for versions Parse accepted.
func dpkgCompare(a, b string) int {
	a, b = strings.TrimSpace(a), strings.TrimSpace(b) // as dpkg's parseversion
	ea, ua, ra := split(a)
	eb, ub, rb := split(b)
	if ea != eb {
		if ea < eb {
			return -1
		}
		return 1
	}
	if c := verrevcmp(ua, ub); c != 0 {
		return c
	}
	return verrevcmp(ra, rb)
}

func split(v string) (epoch int, upstream, revision string) {
	if e, rest, ok := cut(v, ':'); ok {
		for i := 0; i < len(e); i++ {
			epoch = epoch*10 + int(e[i]-'0')
		}
		v = rest
	}
	for i := len(v) - 1; i >= 0; i-- {
		if v[i] == '-' {
			return epoch, v[:i], v[i+1:]
		}
	}
	return epoch, v, ""
}

func cut(s string, sep byte) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func order(s string, i int) int {
	if i >= len(s) {
		return 0
	}
	c := s[i]
	switch {
	case isDigit(c):
		return 0
	case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
		return int(c)
	case c == '~':
		return -1
	}
	return int(c) + 256
}

func verrevcmp(a, b string) int {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		firstDiff := 0
		for i < len(a) && !isDigit(a[i]) || j < len(b) && !isDigit(b[j]) {
			ac, bc := order(a, i), order(b, j)
			if ac != bc {
				return ac - bc
			}
			i++
			j++
		}
		for i < len(a) && a[i] == '0' {
			i++
		}
		for j < len(b) && b[j] == '0' {
			j++
		}
		for i < len(a) && isDigit(a[i]) && j < len(b) && isDigit(b[j]) {
			if firstDiff == 0 {
				firstDiff = int(a[i]) - int(b[j])
			}
			i++
			j++
		}
		if i < len(a) && isDigit(a[i]) {
			return 1
		}
		if j < len(b) && isDigit(b[j]) {
			return -1
		}
		if firstDiff != 0 {
			return firstDiff
		}
	}
	return 0
}
