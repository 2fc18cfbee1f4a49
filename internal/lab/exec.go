package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// toolPath is the PATH of every command the lab runs on the machine and in
// hosts.
const toolPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// toolTimeout bounds a machine-side command that does not set its own.
const toolTimeout = 2 * time.Minute

// command is one machine-side command run by the lab.
type command struct {
	argv    []string
	dir     string
	env     []string // added to PATH, LANG=C, LC_ALL=C
	stdin   []byte
	timeout time.Duration
}

// run executes c and returns its stdout; a non-zero exit is an error that
// carries the tail of stderr.
func run(ctx context.Context, c command) ([]byte, error) {
	timeout := c.timeout
	if timeout <= 0 {
		timeout = toolTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, c.argv[0], c.argv[1:]...)
	cmd.Dir = c.dir
	cmd.Env = append([]string{"PATH=" + toolPath, "LANG=C", "LC_ALL=C"}, c.env...)
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if c.stdin != nil {
		cmd.Stdin = bytes.NewReader(c.stdin)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return killGroup(cmd.Process.Pid) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if err != nil {
		name := filepath.Base(c.argv[0])
		if ctx.Err() != nil {
			return stdout.Bytes(), fmt.Errorf("%s: %w", name, ctx.Err())
		}
		return stdout.Bytes(), fmt.Errorf("%s: %w: %s", name, err, tail(stderr.String(), 2000))
	}
	return stdout.Bytes(), nil
}

// runArgs is run with argv only.
func runArgs(ctx context.Context, argv ...string) ([]byte, error) {
	return run(ctx, command{argv: argv})
}

// killGroup sends SIGKILL to the process group led by pid.
func killGroup(pid int) error {
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return nil
}

// tail is the last n bytes of s, trimmed.
func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = "..." + s[len(s)-n:]
	}
	return s
}
