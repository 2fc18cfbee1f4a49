package lab_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/lab"
	"github.com/patchbay/patchbay/internal/lab/labtest"
)

// mainScript is a main process that logs TERM and exits on it, like a
// well-behaved agent.
const mainScript = `echo "main started"
trap 'echo "main got TERM"; exit 0' TERM
while :; do sleep 0.1; done`

// TestBoots covers a host's lifecycle: reboot (new boot id, /run cleared,
// disk kept, main process back), the in-host reboot shim, a graceful stop,
// and kill -9 of the main process and of another process.
func TestBoots(t *testing.T) {
	l := labtest.New(t, lab.Options{RebootDelay: 200 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	h, err := l.AddHost(ctx, "boots")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := h.Start(ctx, []string{"/bin/sh", "-c", mainScript}, []string{"LAB_TEST_VAR=42"}); err != nil {
		t.Fatal(err)
	}
	t.Logf("host booted in %s", time.Since(start).Round(time.Millisecond))

	mainEnv := func(t *testing.T) string {
		t.Helper()
		return mustExec(ctx, t, h, "sh", "-c", `tr '\0' '\n' </proc/$(cat /run/lab/main.pid)/environ`)
	}
	if env := mainEnv(t); !strings.Contains(env, "LAB_TEST_VAR=42") {
		t.Errorf("main process environment lacks LAB_TEST_VAR:\n%s", env)
	}

	t.Run("reboot", func(t *testing.T) {
		before := h.BootID()
		mustExec(ctx, t, h, "sh", "-c", "echo x >/run/marker && echo y >/etc/lab-disk-marker")
		start := time.Now()
		if err := h.Reboot(ctx, 100*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		t.Logf("rebooted in %s", time.Since(start).Round(time.Millisecond))
		after := strings.TrimSpace(mustExec(ctx, t, h, "cat", "/proc/sys/kernel/random/boot_id"))
		if after == before || after != h.BootID() {
			t.Errorf("boot id before %s, inside after %s, lab says %s", before, after, h.BootID())
		}
		if res, _ := h.Exec(ctx, "test", "-e", "/run/marker"); res.ExitCode != 1 {
			t.Errorf("/run/marker survived the reboot")
		}
		mustExec(ctx, t, h, "test", "-e", "/etc/lab-disk-marker")
		if env := mainEnv(t); !strings.Contains(env, "LAB_TEST_VAR=42") {
			t.Errorf("main process after reboot lacks its environment:\n%s", env)
		}
		log, _ := os.ReadFile(h.LogPath())
		if countLines(string(log), "main got TERM") != 1 || countLines(string(log), "main started") != 2 {
			t.Errorf("log should show one graceful stop and two starts:\n%s", log)
		}
	})

	t.Run("reboot shim", func(t *testing.T) {
		before, boots := h.BootID(), h.Boots()
		mustExec(ctx, t, h, lab.RebootCommand)
		if err := h.WaitBoot(ctx, boots+1); err != nil {
			t.Fatal(err)
		}
		inside := strings.TrimSpace(mustExec(ctx, t, h, "cat", "/proc/sys/kernel/random/boot_id"))
		if inside == before || inside != h.BootID() {
			t.Errorf("boot id before %s, after %s, lab says %s", before, inside, h.BootID())
		}
	})

	t.Run("kill main", func(t *testing.T) {
		pid := strings.TrimSpace(mustExec(ctx, t, h, "cat", "/run/lab/main.pid"))
		if err := h.KillMain(ctx); err != nil {
			t.Fatal(err)
		}
		// /lab/init restarts it after a second, as systemd would.
		deadline := time.Now().Add(10 * time.Second)
		for {
			now := strings.TrimSpace(mustExec(ctx, t, h, "cat", "/run/lab/main.pid"))
			res, _ := h.Exec(ctx, "test", "-d", "/proc/"+now)
			if now != pid && res.ExitCode == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("main process %s not restarted after kill -9", pid)
			}
			time.Sleep(100 * time.Millisecond)
		}
		log, _ := os.ReadFile(h.LogPath())
		if !strings.Contains(string(log), "main process exited with status 137") {
			t.Errorf("log does not show the kill:\n%s", log)
		}
	})

	t.Run("kill process", func(t *testing.T) {
		mustExec(ctx, t, h, "sh", "-c", "tail -f /dev/null >/dev/null 2>&1 &")
		// A process may exit between the glob and cat (cat then exits 1):
		// the count is of what was there.
		count := func() int {
			out := mustExec(ctx, t, h, "sh", "-c", "cat /proc/[0-9]*/comm 2>/dev/null; true")
			n := 0
			for _, c := range lines(out) {
				if c == "tail" {
					n++
				}
			}
			return n
		}
		// The background shell forks before tail is exec'd: wait for it.
		for start := time.Now(); count() != 1; time.Sleep(50 * time.Millisecond) {
			if time.Since(start) > 5*time.Second {
				t.Fatalf("%d tail processes, want 1", count())
			}
		}
		if err := h.KillProcess(ctx, "tail"); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for count() != 0 {
			if time.Now().After(deadline) {
				t.Fatal("tail survived kill -9")
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err := h.KillProcess(ctx, "tail"); err == nil {
			t.Error("KillProcess of no process succeeded")
		}
	})

	t.Run("stop", func(t *testing.T) {
		start := time.Now()
		if err := h.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("graceful stop took %s", d)
		}
		if h.Running() {
			t.Error("host still running after Stop")
		}
		// A host that is down still runs commands, in a one-off boot.
		if got := mustExec(ctx, t, h, "hostname"); got != "boots\n" {
			t.Errorf("hostname of a stopped host: %q", got)
		}
		if h.Running() {
			t.Error("Exec booted the host")
		}
	})
}

// countLines counts the lines of s equal to line.
func countLines(s, line string) int {
	n := 0
	for _, l := range strings.Split(s, "\n") {
		if l == line {
			n++
		}
	}
	return n
}
