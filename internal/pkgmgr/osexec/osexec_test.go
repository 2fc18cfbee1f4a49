package osexec

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay/internal/pkgmgr"
)

func TestRunExitCodesAndOutput(t *testing.T) {
	tests := []struct {
		name       string
		cmd        pkgmgr.Cmd
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{name: "true", cmd: pkgmgr.Cmd{Path: "/bin/true"}, wantCode: 0},
		{name: "false by name", cmd: pkgmgr.Cmd{Path: "false"}, wantCode: 1},
		{name: "exit 3 is not an error", cmd: pkgmgr.Cmd{Path: "sh", Args: []string{"-c", "exit 3"}}, wantCode: 3},
		{name: "stdout and stderr apart", cmd: pkgmgr.Cmd{Path: "sh", Args: []string{"-c", "echo out; echo err >&2; exit 100"}},
			wantCode: 100, wantStdout: "out\n", wantStderr: "err\n"},
		{name: "killed by a signal", cmd: pkgmgr.Cmd{Path: "sh", Args: []string{"-c", "kill -TERM $$"}}, wantCode: 128 + 15},
		{name: "argv is not split by a shell", cmd: pkgmgr.Cmd{Path: "printf", Args: []string{"%s|", "a b", "$HOME", ";true"}},
			wantStdout: "a b|$HOME|;true|"},
		{name: "dir", cmd: pkgmgr.Cmd{Path: "pwd", Dir: "/usr"}, wantStdout: "/usr\n"},
		{name: "stdin is empty", cmd: pkgmgr.Cmd{Path: "cat"}, wantStdout: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Runner{}.Run(context.Background(), tt.cmd)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			got := []any{res.ExitCode, string(res.Stdout), string(res.Stderr)}
			want := []any{tt.wantCode, tt.wantStdout, tt.wantStderr}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("code, stdout, stderr (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRunMinimalEnvironment(t *testing.T) {
	t.Setenv("PATCHBAY_SECRET_SHOULD_NOT_LEAK", "x")
	res, err := Runner{}.Run(context.Background(), pkgmgr.Cmd{
		Path: "env",
		Env:  []string{"DEBIAN_FRONTEND=noninteractive", "LANG=C.UTF-8"},
	})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("Run env: code %d, err %v", res.ExitCode, err)
	}
	got := strings.Split(strings.TrimSpace(string(res.Stdout)), "\n")
	slices.Sort(got)
	want := []string{"DEBIAN_FRONTEND=noninteractive", "LANG=C.UTF-8", "LC_ALL=C", "PATH=" + DefaultPath}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("environment (-want +got):\n%s", diff)
	}
}

func TestRunLooksUpInItsOwnPath(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "patchbay-test-tool")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho found\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+":"+os.Getenv("PATH")) // the agent's PATH must not matter
	if _, err := (Runner{}).Run(context.Background(), pkgmgr.Cmd{Path: "patchbay-test-tool"}); !errors.Is(err, exec.ErrNotFound) {
		t.Errorf("with the default PATH: err = %v, want exec.ErrNotFound", err)
	}
	res, err := Runner{Path: dir + ":" + DefaultPath}.Run(context.Background(), pkgmgr.Cmd{Path: "patchbay-test-tool"})
	if err != nil || string(res.Stdout) != "found\n" {
		t.Errorf("with Runner.Path: stdout %q, err %v", res.Stdout, err)
	}
}

func TestRunNotStarted(t *testing.T) {
	tests := []struct{ name, path string }{
		{"missing", "/nonexistent/patchbay-no-such-tool"},
		{"not executable", "/etc/hostname"},
		{"directory", "/usr"},
		{"empty", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Runner{}.Run(context.Background(), pkgmgr.Cmd{Path: tt.path})
			if err == nil {
				t.Fatalf("Run(%q): no error, result %+v", tt.path, res)
			}
			if res.ExitCode != -1 {
				t.Errorf("ExitCode = %d, want -1 for a command that did not start", res.ExitCode)
			}
		})
	}
}

// TestRunTimeoutKillsProcessGroup starts a shell that leaves a background
// sleep behind and checks that the timeout kills both.
func TestRunTimeoutKillsProcessGroup(t *testing.T) {
	start := time.Now()
	res, err := Runner{}.Run(context.Background(), pkgmgr.Cmd{
		Path:    "sh",
		Args:    []string{"-c", "sleep 60 & echo $!; wait"},
		Timeout: 300 * time.Millisecond,
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	if elapsed := time.Since(start); elapsed > 30*time.Second {
		t.Errorf("Run returned after %s, long after its timeout", elapsed)
	}
	pid, perr := strconv.Atoi(strings.TrimSpace(string(res.Stdout)))
	if perr != nil {
		t.Fatalf("background pid from stdout %q: %v", res.Stdout, perr)
	}
	waitGone(t, pid)
}

func TestRunParentCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	_, err := Runner{}.Run(ctx, pkgmgr.Cmd{Path: "sleep", Args: []string{"60"}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// waitGone fails t unless process pid is gone (or a zombie waiting for
// its new parent to reap it) within a few seconds.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return
		}
		// Field 3, after "pid (comm)", is the state.
		if i := strings.LastIndexByte(string(stat), ')'); i >= 0 && strings.HasPrefix(string(stat[i:]), ") Z") {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Errorf("process %d still runs after the timeout killed its group", pid)
}
