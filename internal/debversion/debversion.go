// Package debversion compares Debian package versions the way dpkg does.
//
// Comparison is done by github.com/knqyf263/go-deb-version, which agrees
// with `dpkg --compare-versions` on real archive versions (see the tests).
// In front of it, Parse applies dpkg's own syntax rules more strictly than
// the library: a version dpkg would only warn about (one that does not
// start with a digit, or holds a character outside the Debian grammar) is
// refused here, and so is one whose numbers the library cannot compare
// exactly (more than 18 digits in a row). A refused version is "unknown":
// Compare returns an error, never "equal", so a caller cannot mistake an
// unreadable version for an up-to-date one.
package debversion

import (
	"fmt"
	"strings"

	version "github.com/knqyf263/go-deb-version"
)

// maxDigits bounds a run of digits: the library converts runs to int, so
// longer runs would overflow and compare wrong.
const maxDigits = 18

// Version is a parsed Debian version.
type Version struct {
	v version.Version
	s string
}

// String returns the version as it was given (trimmed).
func (v Version) String() string { return v.s }

// Parse parses s ("[epoch:]upstream[-revision]").
func Parse(s string) (Version, error) {
	s = strings.TrimSpace(s)
	if err := check(s); err != nil {
		return Version{}, fmt.Errorf("debian version %q: %w", s, err)
	}
	v, err := version.NewVersion(s)
	if err != nil {
		return Version{}, fmt.Errorf("debian version %q: %w", s, err)
	}
	return Version{v: v, s: s}, nil
}

// Compare returns -1, 0 or +1 as v sorts before, equal to or after w.
func (v Version) Compare(w Version) int {
	c := v.v.Compare(w.v)
	switch {
	case c < 0:
		return -1
	case c > 0:
		return 1
	}
	return 0
}

// Compare returns -1, 0 or +1 as version a sorts before, equal to or after
// version b, or an error when either is not a valid Debian version (then
// the order is unknown; the int is 0 and means nothing).
func Compare(a, b string) (int, error) {
	va, err := Parse(a)
	if err != nil {
		return 0, err
	}
	vb, err := Parse(b)
	if err != nil {
		return 0, err
	}
	return va.Compare(vb), nil
}

// Valid reports whether s is a version Compare accepts.
func Valid(s string) bool {
	_, err := Parse(s)
	return err == nil
}

// check applies the rules of dpkg's parseversion (lib/dpkg/parsehelp.c),
// treating its warnings as errors.
func check(s string) error {
	if s == "" {
		return fmt.Errorf("empty")
	}
	if strings.ContainsAny(s, " \t\r\n") {
		return fmt.Errorf("contains white space")
	}
	rest := s
	if epoch, after, ok := strings.Cut(s, ":"); ok {
		if epoch == "" || !allDigits(epoch) {
			return fmt.Errorf("epoch is not a number")
		}
		if len(epoch) > 9 { // dpkg: epoch must fit in an int
			return fmt.Errorf("epoch is too big")
		}
		if after == "" {
			return fmt.Errorf("nothing after colon")
		}
		rest = after
	}
	upstream, revision := rest, ""
	if i := strings.LastIndexByte(rest, '-'); i >= 0 {
		upstream, revision = rest[:i], rest[i+1:]
		if revision == "" {
			return fmt.Errorf("revision is empty")
		}
	}
	if upstream == "" {
		return fmt.Errorf("upstream version is empty")
	}
	if !isDigit(upstream[0]) {
		return fmt.Errorf("upstream version does not start with a digit")
	}
	for i := 0; i < len(upstream); i++ {
		if c := upstream[i]; !isAlnum(c) && !strings.ContainsRune(".-+~:", rune(c)) {
			return fmt.Errorf("invalid character %q in upstream version", c)
		}
	}
	for i := 0; i < len(revision); i++ {
		if c := revision[i]; !isAlnum(c) && !strings.ContainsRune(".+~", rune(c)) {
			return fmt.Errorf("invalid character %q in revision", c)
		}
	}
	run := 0
	for i := 0; i < len(rest); i++ {
		if isDigit(rest[i]) {
			run++
			if run > maxDigits {
				return fmt.Errorf("number longer than %d digits", maxDigits)
			}
		} else {
			run = 0
		}
	}
	return nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isAlnum(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}
