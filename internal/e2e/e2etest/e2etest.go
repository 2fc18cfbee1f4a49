// Package e2etest is the harness of the end-to-end tests: it builds the
// real patchbay binary, starts `patchbay server` processes on random
// loopback ports and runs CLI commands against them. Only tests import it.
package e2etest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/client"
	"github.com/patchbay/patchbay/internal/pki"
)

// Build builds a static patchbay binary (it may be bind-mounted into lab
// hosts) into dir and returns its path. It is meant for TestMain.
func Build(dir string) (string, error) {
	_, here, _, _ := runtime.Caller(0)
	pkg := filepath.Join(filepath.Dir(here), "..", "..", "..", "cmd", "patchbay")
	bin := filepath.Join(dir, "patchbay")
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build patchbay: %v\n%s", err, out)
	}
	return bin, nil
}

// Server is a running `patchbay server` process.
type Server struct {
	Binary  string
	URL     string // https://127.0.0.1:PORT
	Addr    string // 127.0.0.1:PORT
	DataDir string
	Config  string // client config with the admin token and the CA
	Admin   string // admin API token
	CAPEM   []byte
}

// StartServer starts `patchbay server` with extra arguments on a free
// loopback port, waits until it answers, writes a client config and stops
// it (SIGINT) when the test ends, printing the end of its log on failure.
func StartServer(t testing.TB, binary string, extraArgs ...string) *Server {
	t.Helper()
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Binary: binary, Addr: ln.Addr().String(), DataDir: filepath.Join(dir, "data"), Config: filepath.Join(dir, "config.json")}
	ln.Close()
	s.URL = "https://" + s.Addr

	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, binary, append([]string{"server", "--listen", s.Addr, "--data", s.DataDir}, extraArgs...)...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 20 * time.Second
	logf, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		logf.Close()
		if t.Failed() {
			data, _ := os.ReadFile(logf.Name())
			lines := strings.Split(string(data), "\n")
			t.Logf("server log (last 60 lines):\n%s", strings.Join(lines[max(0, len(lines)-60):], "\n"))
		}
	})
	WaitFor(t, "server up", 20*time.Second, func() (bool, string) {
		tok, err1 := os.ReadFile(filepath.Join(s.DataDir, "admin-token"))
		ca, err2 := os.ReadFile(filepath.Join(s.DataDir, "pki", pki.CACertFile))
		if err := errors.Join(err1, err2); err != nil {
			return false, err.Error()
		}
		tlsCfg, err := pki.PoolConfig(ca)
		if err != nil {
			return false, err.Error()
		}
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}, Timeout: time.Second}
		resp, err := c.Get(s.URL + "/api/v1/health")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		s.Admin, s.CAPEM = strings.TrimSpace(string(tok)), ca
		return true, ""
	})
	cfg, _ := json.Marshal(map[string]string{"server": s.URL, "token": s.Admin, "ca_pem": string(s.CAPEM)})
	if err := os.WriteFile(s.Config, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

// Client returns an API client acting as the admin, trusting the server's CA.
func (s *Server) Client(t testing.TB) *client.Client {
	t.Helper()
	tlsCfg, err := pki.PoolConfig(s.CAPEM)
	if err != nil {
		t.Fatal(err)
	}
	return client.New(s.URL, s.Admin, tlsCfg)
}

// CLI runs a CLI command as the admin and returns its stdout; a non-zero
// exit fails the test.
func (s *Server) CLI(t testing.TB, args ...string) []byte {
	t.Helper()
	out, errOut, code := Run(t, s.Binary, append([]string{"--config", s.Config}, args...)...)
	if code != 0 {
		t.Fatalf("patchbay %s: exit %d\n%s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// Run runs the binary and returns its output and exit code.
func Run(t testing.TB, binary string, args ...string) (stdout, stderr []byte, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return o.Bytes(), e.Bytes(), ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("run patchbay: %v", err)
	}
	return o.Bytes(), e.Bytes(), 0
}

// Decode unmarshals JSON output or fails the test.
func Decode[T any](t testing.TB, data []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	return v
}

// WaitFor polls cond every 100 ms until it holds or timeout passes; on
// timeout it fails the test with what cond last reported.
func WaitFor(t testing.TB, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; last seen: %s", timeout, what, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
