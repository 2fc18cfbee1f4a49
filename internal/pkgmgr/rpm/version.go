package rpm

import (
	"strconv"
	"strings"

	rpmversion "github.com/knqyf263/go-rpm-version"

	"github.com/patchbay/patchbay"
)

// EVR is an RPM version split into its parts: [epoch:]version[-release].
type EVR struct {
	Epoch   int // 0 when the string has none
	Version string
	Release string // empty when the string has none
}

// String formats e as RHEL tools print it: "2:3.2-1.el9", with the epoch
// only when it is not 0 ("(none)" and 0 compare equal in rpm >= 4.9).
func (e EVR) String() string {
	s := e.Version
	if e.Release != "" {
		s += "-" + e.Release
	}
	if e.Epoch != 0 {
		s = strconv.Itoa(e.Epoch) + ":" + s
	}
	return s
}

// ParseEVR parses "[epoch:]version[-release]" as rpm does, and refuses what
// rpm could never produce: an empty or non-numeric epoch, an empty version
// or release, more than one "-", characters outside rpm's grammar for
// versions (letters, digits and "._+~^").
func ParseEVR(s string) (EVR, error) {
	var e EVR
	rest := s
	if i := strings.IndexByte(rest, ':'); i >= 0 {
		n, err := strconv.Atoi(rest[:i])
		if err != nil || n < 0 || !allDigits(rest[:i]) {
			return EVR{}, patchbay.Errorf(patchbay.EINVALID, "rpm version %q: bad epoch", s)
		}
		e.Epoch = n
		rest = rest[i+1:]
	}
	if i := strings.IndexByte(rest, '-'); i >= 0 {
		e.Version, e.Release = rest[:i], rest[i+1:]
		if e.Release == "" || strings.IndexByte(e.Release, '-') >= 0 {
			return EVR{}, patchbay.Errorf(patchbay.EINVALID, "rpm version %q: bad release", s)
		}
	} else {
		e.Version = rest
	}
	if e.Version == "" {
		return EVR{}, patchbay.Errorf(patchbay.EINVALID, "rpm version %q: empty version", s)
	}
	if !validVerRel(e.Version) || !validVerRel(e.Release) {
		return EVR{}, patchbay.Errorf(patchbay.EINVALID, "rpm version %q: character outside [A-Za-z0-9._+~^]", s)
	}
	return e, nil
}

// CompareVersions returns -1, 0 or +1 as a is older than, equal to or newer
// than b by rpm's rules (rpmvercmp on epoch, version, release). A string
// that is not an RPM version is an EINVALID error, never "equal".
//
// The comparison itself is github.com/knqyf263/go-rpm-version; the tests
// check it against rpm 4.18's own rpm.vercmp on real AlmaLinux versions.
func CompareVersions(a, b string) (int, error) {
	if _, err := ParseEVR(a); err != nil {
		return 0, err
	}
	if _, err := ParseEVR(b); err != nil {
		return 0, err
	}
	return rpmversion.NewVersion(a).Compare(rpmversion.NewVersion(b)), nil
}

// ValidName reports whether s is a possible RPM package name: letters,
// digits and "._+-", not starting with "-" or "." (rpmbuild's grammar, less
// the macro characters "%{}" that never survive a build). Names are checked
// before they reach a command line.
func ValidName(s string) bool {
	if s == "" || s[0] == '-' || s[0] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && c != '.' && c != '_' && c != '+' && c != '-' {
			return false
		}
	}
	return true
}

// validArch reports whether s is a possible RPM architecture (x86_64,
// noarch, aarch64, i686, ppc64le, s390x ...).
func validArch(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) && s[i] != '_' {
			return false
		}
	}
	return true
}

func validVerRel(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && !strings.ContainsRune("._+~^", rune(c)) {
			return false
		}
	}
	return true
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
