// Package vercmp compares package versions with the rules of the package
// manager that produced them. It never guesses: a version the rules refuse
// is an error, not "equal".
package vercmp

import (
	"fmt"

	"github.com/patchbay/patchbay/internal/debversion"
	"github.com/patchbay/patchbay/internal/pkgmgr/rpm"
)

// Compare returns -1, 0 or +1 as a is older than, equal to or newer than b
// under the rules of package manager pm ("apt", "dnf", "yum", "rpm").
func Compare(pm, a, b string) (int, error) {
	switch pm {
	case "apt", "dpkg", "deb":
		return debversion.Compare(a, b)
	case "dnf", "yum", "rpm":
		return rpm.CompareVersions(a, b)
	}
	return 0, fmt.Errorf("compare versions: unknown package manager %q", pm)
}
