// Package archtest checks the import graph against the layering rules of
// docs/architecture.md, with `go list -deps`.
package archtest

import (
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/patchbay/patchbay"

func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

func TestLayering(t *testing.T) {
	for _, tc := range []struct {
		pkg       string
		forbidden []string // import path prefixes
	}{
		// The domain imports nothing of this module.
		{mod, []string{mod + "/"}},
		// The agent links no SQL driver and no server code.
		{mod + "/internal/agent", []string{"modernc.org/sqlite", "github.com/jackc/pgx", "database/sql", mod + "/internal/sqlite", mod + "/internal/postgres", mod + "/internal/server", mod + "/internal/api", mod + "/internal/service", mod + "/internal/web"}},
		{mod + "/internal/client", []string{"database/sql", mod + "/internal/service", mod + "/internal/api", mod + "/internal/web"}},
		// Use cases and handlers see stores only through the domain's interfaces.
		{mod + "/internal/service", []string{"database/sql", mod + "/internal/sqlite", mod + "/internal/postgres", mod + "/internal/api"}},
		{mod + "/internal/api", []string{"database/sql", mod + "/internal/sqlite", mod + "/internal/postgres"}},
		// Stores never import what sits above them.
		{mod + "/internal/sqlite", []string{mod + "/internal/api", mod + "/internal/service", mod + "/internal/agent", mod + "/internal/server"}},
	} {
		t.Run(tc.pkg, func(t *testing.T) {
			for _, d := range deps(t, tc.pkg) {
				if d == tc.pkg {
					continue
				}
				for _, f := range tc.forbidden {
					if d == f || strings.HasPrefix(d, f) && (strings.HasSuffix(f, "/") || strings.HasPrefix(d, f+"/")) {
						t.Errorf("%s depends on %s", tc.pkg, d)
					}
				}
			}
		})
	}
}
