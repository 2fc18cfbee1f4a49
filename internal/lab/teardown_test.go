package lab_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/lab"
	"github.com/patchbay/patchbay/internal/lab/labtest"
)

// fakeAgent stands in for the patchbay agent until it exists: it checks in
// with the server at $1 every 200 ms, as the real agent will through
// ExposeTCP.
const fakeAgent = `#!/bin/bash
echo "fake agent on $(hostname) talking to $1:$2"
while :; do
	if exec 3<>"/dev/tcp/$1/$2"; then
		printf 'GET /checkin/%s/%s HTTP/1.0\r\n\r\n' "$(hostname)" "$(cat /proc/sys/kernel/random/boot_id)" >&3
		cat <&3 >/dev/null
		exec 3>&-
	fi
	sleep 0.2
done
`

// TestUpAndClose runs the developer entry point with an agent binary in
// every host reporting to a root-namespace server, then checks that Close
// leaves no namespace, mount, process, directory or state behind.
func TestUpAndClose(t *testing.T) {
	var mu sync.Mutex
	checkins := map[string]string{} // hostname → boot id
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/checkin/"), "/")
		if len(parts) == 2 {
			mu.Lock()
			checkins[parts[0]] = parts[1]
			mu.Unlock()
		}
	}))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	agent := filepath.Join(t.TempDir(), "patchbay")
	if err := os.WriteFile(agent, []byte(fakeAgent), 0o755); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	l := labtest.New(t, lab.Options{
		Hosts:       5,
		AgentBinary: agent,
		AgentArgs:   []string{lab.RepoIP, port},
		Expose:      []string{srv.Listener.Addr().String()},
	})
	t.Logf("Up with 5 agent hosts in %s", time.Since(start).Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(checkins)
		mu.Unlock()
		if n == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 5 hosts checked in: %v", n, checkins)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, h := range l.Hosts() {
		mu.Lock()
		got := checkins[h.Name()]
		mu.Unlock()
		if got != h.BootID() {
			t.Errorf("%s checked in with boot id %q, want %s", h.Name(), got, h.BootID())
		}
	}
	h := l.Hosts()[0]
	if res, _ := h.Exec(ctx, "sh", "-c", "echo x >"+lab.AgentPath); res.ExitCode == 0 {
		t.Errorf("the agent binary is writable inside the host")
	}

	enter, err := lab.EnterCommand(ctx, l.Name(), "h2", "hostname")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(enter[0], enter[1:]...).Output(); err != nil || string(out) != "h2\n" {
		t.Errorf("EnterCommand %q: %q, %v", enter, out, err)
	}

	st := findState(t, l.Name())
	if err := l.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	assertGone(t, st)
}

// findState returns the state file of the lab called name.
func findState(t *testing.T, name string) lab.State {
	t.Helper()
	states, err := lab.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range states {
		if st.Name == name {
			return st
		}
	}
	t.Fatalf("no state for lab %s in %v", name, states)
	return lab.State{}
}

// assertGone checks that nothing of the lab st describes is left.
func assertGone(t *testing.T, st lab.State) {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), lab.Prefix+st.Name+"-") {
		t.Errorf("network namespaces left:\n%s", out)
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(mounts), st.Dir) || strings.Contains(string(mounts), lab.Prefix+st.Name+"-") {
		t.Errorf("mounts left:\n%s", grepLines(string(mounts), st.Name))
	}
	// No process of the lab: none runs from its directory or in its
	// namespaces (their command lines name the host roots).
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || e.Name() == fmt.Sprint(os.Getpid()) {
			continue
		}
		if strings.Contains(string(cmdline), st.Dir) {
			t.Errorf("process %s left: %q", e.Name(), cmdline)
		}
		if root, err := os.Readlink(filepath.Join("/proc", e.Name(), "root")); err == nil && strings.HasPrefix(root, st.Dir) {
			t.Errorf("process %s left, rooted in %s", e.Name(), root)
		}
	}
	if _, err := os.Stat(st.Dir); !os.IsNotExist(err) {
		t.Errorf("lab dir %s left (%v)", st.Dir, err)
	}
	if _, err := os.Stat(filepath.Join(lab.StateDir, st.Name+".json")); !os.IsNotExist(err) {
		t.Errorf("state file left (%v)", err)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// staleHelperEnv makes TestCleanStale's child run a lab and wait to be
// killed.
const staleHelperEnv = "PATCHBAY_LAB_STALE_HELPER"

// TestCleanStale kills (SIGKILL) a process that runs a lab with booted
// hosts, as a crashed or timed-out test run would die, and checks that its
// hosts died with it and that CleanStale removes everything it left.
func TestCleanStale(t *testing.T) {
	if os.Getenv(staleHelperEnv) == "1" {
		runStaleHelper(t)
		return
	}
	labtest.Require(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestCleanStale$", "-test.v")
	cmd.Env = append(os.Environ(), staleHelperEnv+"=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var name string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if n, ok := strings.CutPrefix(sc.Text(), "STALE-LAB "); ok {
			name = n
			break
		}
	}
	if name == "" {
		cmd.Wait()
		t.Fatal("helper did not start a lab")
	}
	st := findState(t, name)
	if len(st.Hosts) != 2 {
		t.Fatalf("helper lab state %+v, want 2 hosts", st)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	// The hosts die with their owner (Pdeathsig, unshare --kill-child).
	deadline := time.Now().Add(10 * time.Second)
	for _, hs := range st.Hosts {
		for {
			out, _ := exec.Command("ip", "netns", "pids", hs.Netns).Output()
			if strings.TrimSpace(string(out)) == "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("host %s still has processes %s after its owner died", hs.Name, out)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// What remains is stale: namespaces, overlay mounts, the directory.
	out, _ := exec.Command("ip", "netns", "list").Output()
	if !strings.Contains(string(out), st.Netns[0]) {
		t.Fatalf("the killed lab left no namespace to clean; the test proves nothing:\n%s", out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	if err := lab.CleanStale(ctx, labtest.Logger(t)); err != nil {
		t.Fatalf("clean stale: %v", err)
	}
	t.Logf("stale lab cleaned in %s", time.Since(start).Round(time.Millisecond))
	assertGone(t, st)
}

// runStaleHelper is the child of TestCleanStale: a lab with two booted
// hosts, whose name it prints, then it waits to be killed.
func runStaleHelper(t *testing.T) {
	ctx := context.Background()
	l, err := lab.Up(ctx, lab.Options{Hosts: 2, NoMirror: true})
	if err != nil {
		t.Fatalf("helper lab: %v", err)
	}
	mustExec(ctx, t, l.Hosts()[0], "sh", "-c", "sleep 600 >/dev/null 2>&1 &")
	fmt.Printf("STALE-LAB %s\n", l.Name())
	time.Sleep(10 * time.Minute)
}
