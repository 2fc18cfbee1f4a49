package restart

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/pkgmgr"
)

func TestDeletedMappings(t *testing.T) {
	maps, err := os.ReadFile("testdata/maps.txt")
	if err != nil {
		t.Fatal(err)
	}
	got := DeletedMappings(maps, Ignored)
	want := []string{"/usr/lib/x86_64-linux-gnu/libssl.so.3", "/opt/my app/lib/libfoo.so"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("deleted mappings (-want +got):\n%s", diff)
	}
}

func TestUnit(t *testing.T) {
	for file, want := range map[string]string{"cgroup-v2.txt": "nginx.service", "cgroup-v1.txt": "cron.service", "cgroup-user.txt": "session-3.scope"} {
		data, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		if got := Unit(data); got != want {
			t.Errorf("%s: unit %q, want %q", file, got, want)
		}
	}
	if got := Unit([]byte("0::/\n")); got != "" {
		t.Errorf("root cgroup: unit %q", got)
	}
}

func TestUnits(t *testing.T) {
	ps := []patchbay.StaleProcess{{Unit: "nginx.service"}, {Unit: "patchbay-agent.service"}, {Unit: "session-3.scope"}, {Unit: "nginx.service"}, {Unit: "cron.service"}, {}}
	if diff := cmp.Diff([]string{"cron.service", "nginx.service"}, Units(ps, "patchbay-agent.service")); diff != "" {
		t.Error(diff)
	}
}

// TestScanRealProcess runs a copy of a binary, deletes the copy while it
// runs (what an upgrade does to the old file) and finds the process.
func TestScanRealProcess(t *testing.T) {
	dir := t.TempDir()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal("no sleep binary")
	}
	bin := filepath.Join(dir, "old-daemon")
	copyFile(t, sleep, bin)
	cmd := exec.Command(bin, "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if err := os.Remove(bin); err != nil {
		t.Fatal(err)
	}
	// The default rules ignore /tmp; this test's binary lives there.
	only := func(p string) bool { return !strings.HasPrefix(p, dir) }
	var found *patchbay.StaleProcess
	deadline := time.Now().Add(5 * time.Second)
	for found == nil && time.Now().Before(deadline) {
		ps, err := Scan(Options{Ignore: only})
		if err != nil {
			t.Fatal(err)
		}
		if i := slices.IndexFunc(ps, func(p patchbay.StaleProcess) bool { return p.PID == cmd.Process.Pid }); i >= 0 {
			found = &ps[i]
		} else {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if found == nil {
		t.Fatalf("process %d running a deleted binary was not found", cmd.Process.Pid)
	}
	if !slices.Contains(found.Files, bin) || found.Command != "old-daemon" {
		t.Errorf("found %+v, want command old-daemon mapping %s", *found, bin)
	}
	// With the default rules, nothing under /tmp counts.
	ps, err := Scan(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(ps, func(p patchbay.StaleProcess) bool { return p.PID == cmd.Process.Pid }) {
		t.Errorf("default rules report a process mapping a deleted file under /tmp")
	}
}

type recorder struct {
	cmds []string
	fail string
}

func (r *recorder) Run(_ context.Context, c pkgmgr.Cmd) (pkgmgr.Result, error) {
	line := c.Path + " " + strings.Join(c.Args, " ")
	r.cmds = append(r.cmds, line)
	if r.fail != "" && strings.Contains(line, r.fail) {
		return pkgmgr.Result{ExitCode: 1, Stderr: []byte("Job failed\n")}, nil
	}
	return pkgmgr.Result{}, nil
}

func TestRestart(t *testing.T) {
	r := &recorder{fail: "b.service"}
	done, out, err := Restart(context.Background(), r, []string{"a.service", "b.service", "c.service"})
	if err == nil || !strings.Contains(err.Error(), "b.service exited with status 1") {
		t.Errorf("error %v", err)
	}
	if diff := cmp.Diff([]string{"a.service"}, done); diff != "" {
		t.Error(diff)
	}
	if !strings.Contains(string(out), "Job failed") || len(r.cmds) != 2 || r.cmds[0] != "systemctl restart -- a.service" {
		t.Errorf("commands %q, output %q", r.cmds, out)
	}
}

func FuzzDeletedMappings(f *testing.F) {
	maps, _ := os.ReadFile("testdata/maps.txt")
	f.Add(maps)
	f.Add([]byte(" (deleted)"))
	f.Add([]byte("a b c d e  (deleted)\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		files := DeletedMappings(data, Ignored)
		if len(files) > MaxFiles {
			t.Fatalf("%d files", len(files))
		}
		for _, p := range files {
			if !strings.HasPrefix(p, "/") || Ignored(p) {
				t.Fatalf("reported %q", p)
			}
		}
	})
}

func FuzzUnit(f *testing.F) {
	for _, n := range []string{"cgroup-v1.txt", "cgroup-v2.txt", "cgroup-user.txt"} {
		b, _ := os.ReadFile(filepath.Join("testdata", n))
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		u := Unit(data)
		if u != "" && !strings.HasSuffix(u, ".service") && !strings.HasSuffix(u, ".scope") || strings.Contains(u, "/") {
			t.Fatalf("unit %q", u)
		}
	})
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
