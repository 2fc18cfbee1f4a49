// Package vercmp compares package versions with the rules of the package
// manager that produced them. It wraps well-tested libraries; it never
// guesses: a version a library refuses is an error, not "equal".
package vercmp

import (
	"fmt"

	debversion "github.com/knqyf263/go-deb-version"
	rpmversion "github.com/knqyf263/go-rpm-version"
)

// Compare returns -1, 0 or +1 as a is older than, equal to or newer than b
// under the rules of package manager pm ("apt", "dnf", "yum", "rpm").
func Compare(pm, a, b string) (int, error) {
	switch pm {
	case "apt", "dpkg", "deb":
		return Deb(a, b)
	case "dnf", "yum", "rpm":
		return RPM(a, b), nil
	}
	return 0, fmt.Errorf("compare versions: unknown package manager %q", pm)
}

// Deb compares two Debian versions as dpkg does.
func Deb(a, b string) (int, error) {
	va, err := debversion.NewVersion(a)
	if err != nil {
		return 0, fmt.Errorf("debian version %q: %w", a, err)
	}
	vb, err := debversion.NewVersion(b)
	if err != nil {
		return 0, fmt.Errorf("debian version %q: %w", b, err)
	}
	return va.Compare(vb), nil
}

// RPM compares two [epoch:]version-release strings as rpm does.
func RPM(a, b string) int {
	return rpmversion.NewVersion(a).Compare(rpmversion.NewVersion(b))
}
