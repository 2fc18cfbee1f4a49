// Package vulntest finds the shared advisory data sets for tests of the
// vuln packages.
//
//	Shared(t, rel string) string
package vulntest

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Shared returns the path of rel inside the shared advisories folder
// (../shared/advisories beside the repository, or $PATCHBAY_ADVISORIES).
// When it is missing the test is skipped, or fails when PATCHBAY_CI=1.
func Shared(t testing.TB, rel string) string {
	t.Helper()
	base := os.Getenv("PATCHBAY_ADVISORIES")
	if base == "" {
		_, file, _, _ := runtime.Caller(0)
		base = filepath.Join(filepath.Dir(file), "..", "..", "..", "..", "shared", "advisories")
	}
	p := filepath.Join(base, rel)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("PATCHBAY_CI") == "1" {
			t.Fatalf("shared advisory data missing (PATCHBAY_CI=1): %v", err)
		}
		t.Skipf("shared advisory data missing, set PATCHBAY_ADVISORIES to ../shared/advisories: %v", err)
	}
	return p
}
