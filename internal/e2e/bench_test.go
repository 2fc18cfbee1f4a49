package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay"
)

// BenchmarkAgentIdleRSS runs the real agent against this machine's dpkg
// and apt, waits until it has sent its inventory and gone idle, and reports
// its resident memory (VmRSS) while it sleeps between check-ins.
// Target (issue 2): ≤ 15 MiB.
func BenchmarkAgentIdleRSS(b *testing.B) {
	for range b.N {
		rss := agentIdleRSS(b)
		b.ReportMetric(float64(rss)/1024, "idle-RSS-MiB")
	}
}

func agentIdleRSS(b *testing.B) int {
	b.Helper()
	s := startServer(b)
	tok := s.token(b)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, binary, "agent", "--server", s.URL, "--token", tok, "--state-dir", b.TempDir(), "--interval", "1m", "--refresh-interval", "1h")
	logPath := filepath.Join(b.TempDir(), "agent.log")
	logf, err := os.Create(logPath)
	if err != nil {
		b.Fatal(err)
	}
	defer logf.Close()
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		cancel()
		cmd.Wait()
	}()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		logs, _ := os.ReadFile(logPath)
		if bytes.Contains(logs, []byte("inventory sent")) {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("agent sent no inventory in 3 minutes:\n%s", logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(3 * time.Second) // idle: between check-ins
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(cmd.Process.Pid), "status"))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.Atoi(f[1])
			return kb
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

func (s *server) token(tb testing.TB) string {
	tb.Helper()
	return decode[patchbay.CreateTokenResponse](tb, s.CLI(tb, "tokens", "create", "-o", "json")).Token
}
