// Package osexec runs package-manager commands with os/exec: argv only,
// never through a shell, in a minimal environment, with a timeout that
// kills the command's whole process group.
package osexec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/patchbay/patchbay/internal/pkgmgr"
)

// DefaultPath is the PATH of every command unless Runner.Path says otherwise.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// waitDelay bounds how long Run waits for the output pipes to close after
// the process group was killed (a daemonised grandchild in its own session
// may hold them open forever).
const waitDelay = 5 * time.Second

// Runner is the os/exec implementation of pkgmgr.Runner. The zero value is
// ready to use.
//
// Every command starts with an environment of only PATH, LANG=C and
// LC_ALL=C, to which Cmd.Env is added (a later entry wins), with standard
// input from /dev/null, in a new process group. When Cmd.Timeout (or
// pkgmgr.DefaultTimeout) passes or ctx is done, the whole group gets
// SIGKILL.
//
// A command that ran is not an error, whatever its exit code: the caller
// decides what a code means. Run returns an error only when the command
// could not be started, timed out or was cancelled. A command killed by a
// signal it did not get from Run reports ExitCode 128+signal, as a shell
// would.
type Runner struct {
	// Path is the PATH of the commands and where a Cmd.Path without a
	// slash is looked up. Empty: DefaultPath.
	Path string
}

// Run executes c.
func (r Runner) Run(ctx context.Context, c pkgmgr.Cmd) (pkgmgr.Result, error) {
	searchPath := r.Path
	if searchPath == "" {
		searchPath = DefaultPath
	}
	name := filepath.Base(c.Path)
	prog, err := lookPath(c.Path, searchPath)
	if err != nil {
		return pkgmgr.Result{ExitCode: -1}, fmt.Errorf("run %s: %w", name, err)
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = pkgmgr.DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, prog, c.Args...)
	cmd.Args[0] = c.Path
	cmd.Dir = c.Dir
	cmd.Env = append([]string{"PATH=" + searchPath, "LANG=C", "LC_ALL=C"}, c.Env...)
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// The group id is the child's pid (Setpgid with Pgid 0).
		if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return err
		}
		return nil
	}
	cmd.WaitDelay = waitDelay

	err = cmd.Run()
	res := pkgmgr.Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), ExitCode: -1}
	if cmd.ProcessState != nil {
		res.ExitCode = exitCode(cmd.ProcessState)
	}
	if err != nil && ctx.Err() != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return res, fmt.Errorf("run %s: timed out after %s: %w", name, timeout, ctx.Err())
		}
		return res, fmt.Errorf("run %s: %w", name, ctx.Err())
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		// Not started, or (exec.ErrWaitDelay) exited while a child it left
		// behind kept the output open: the output may be cut short.
		return res, fmt.Errorf("run %s: %w", name, err)
	}
	return res, nil
}

// exitCode is the exit status of a finished process, or 128+signal for one
// a signal killed.
func exitCode(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// lookPath resolves prog the way a shell would with PATH=searchPath,
// rather than with the agent's own PATH.
func lookPath(prog, searchPath string) (string, error) {
	if prog == "" {
		return "", errors.New("empty command path")
	}
	if strings.Contains(prog, "/") {
		if err := executable(prog); err != nil {
			return "", err
		}
		return prog, nil
	}
	for _, dir := range filepath.SplitList(searchPath) {
		if dir == "" || !filepath.IsAbs(dir) {
			continue // relative PATH entries would depend on Cmd.Dir
		}
		p := filepath.Join(dir, prog)
		if executable(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: %w in %s", prog, exec.ErrNotFound, searchPath)
}

func executable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s: not an executable file", p)
	}
	return nil
}
