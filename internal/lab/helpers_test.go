package lab_test

import (
	"context"
	"strings"
	"testing"

	"github.com/patchbay/patchbay/internal/lab"
)

// mustExec runs argv in h and returns its stdout, failing the test when it
// cannot run or exits non-zero.
func mustExec(ctx context.Context, t *testing.T, h *lab.Host, argv ...string) string {
	t.Helper()
	res, err := h.Exec(ctx, argv...)
	if err != nil {
		t.Fatalf("%s: %q: %v", h.Name(), argv, err)
	}
	if res.ExitCode != 0 {
		t.Fatalf("%s: %q exited %d:\n%s\n%s", h.Name(), argv, res.ExitCode, res.Stdout, res.Stderr)
	}
	return string(res.Stdout)
}

// fetchScript makes an HTTP/1.0 GET with bash's /dev/tcp (hosts have no
// curl): args host port path; exit 7 when it cannot connect.
const fetchScript = `exec 3<>"/dev/tcp/$1/$2" || exit 7
printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$3" "$1" >&3
cat <&3`

// fetch runs fetchScript in h under a 5 s timeout.
func fetch(ctx context.Context, t *testing.T, h *lab.Host, host, port, path string) (string, int) {
	t.Helper()
	res, err := h.Exec(ctx, "timeout", "5", "bash", "-c", fetchScript, "bash", host, port, path)
	if err != nil {
		t.Fatalf("%s: fetch %s:%s%s: %v", h.Name(), host, port, path, err)
	}
	return string(res.Stdout) + string(res.Stderr), res.ExitCode
}

// lines splits output into trimmed non-empty lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}
