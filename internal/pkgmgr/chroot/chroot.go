// Package chroot runs package-manager commands inside a root filesystem
// that is not running (a VM or container template), so that dpkg, apt and
// their maintainer scripts work on the image as if it were booted, and
// never on the machine running the agent.
//
// Every command runs through a helper (Exec, reached by re-executing the
// agent binary) in a private mount namespace of its own: the helper makes
// every mount private, mounts proc and sysfs and binds /dev inside the
// root, chroots into it and executes the command. The mounts exist only in
// that namespace, so they disappear when its last process exits, however
// the command or the agent ends (even SIGKILL): the host never sees them,
// and nothing has to be unmounted.
package chroot

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/patchbay/patchbay/internal/pkgmgr"
	"github.com/patchbay/patchbay/internal/pkgmgr/osexec"
)

// Runner implements pkgmgr.Runner: it runs each command inside Root.
type Runner struct {
	// Root is the root filesystem the commands run in (absolute).
	Root string
	// Helper is the argv prefix that reaches Exec in a new process: the
	// agent binary and its hidden subcommand. Run appends
	// ROOT DIR -- PATH ARGS...
	Helper []string
	// Outer runs the helper; the zero value is osexec.Runner{}, which
	// gives the timeout and the kill of the whole process group.
	Outer osexec.Runner
}

var _ pkgmgr.Runner = Runner{}

// Run executes c inside r.Root. c.Path is looked up in the root's PATH;
// c.Dir, when set, is a directory of the root ("/" when empty).
func (r Runner) Run(ctx context.Context, c pkgmgr.Cmd) (pkgmgr.Result, error) {
	argv, err := r.argv(c)
	if err != nil {
		return pkgmgr.Result{ExitCode: -1}, err
	}
	return r.Outer.Run(ctx, pkgmgr.Cmd{Path: argv[0], Args: argv[1:], Env: c.Env, Timeout: c.Timeout})
}

// argv is the helper's command line for c.
func (r Runner) argv(c pkgmgr.Cmd) ([]string, error) {
	if len(r.Helper) == 0 {
		return nil, errors.New("chroot runner: no helper command")
	}
	if !filepath.IsAbs(r.Root) || filepath.Clean(r.Root) == "/" {
		return nil, fmt.Errorf("chroot runner: root %q is not an absolute path other than /", r.Root)
	}
	if c.Path == "" {
		return nil, errors.New("chroot runner: empty command path")
	}
	dir := c.Dir
	if dir == "" {
		dir = "/"
	}
	if !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("chroot runner: working directory %q is not absolute", dir)
	}
	argv := append([]string{}, r.Helper...)
	argv = append(argv, filepath.Clean(r.Root), dir, "--", c.Path)
	return append(argv, c.Args...), nil
}

// ParseArgs splits the helper's arguments (after its subcommand) into the
// root, the working directory in it and the command's argv.
func ParseArgs(args []string) (root, dir string, argv []string, err error) {
	if len(args) < 4 || args[2] != "--" {
		return "", "", nil, errors.New("usage: ROOT DIR -- COMMAND [ARG...]")
	}
	root, dir, argv = args[0], args[1], args[3:]
	if !filepath.IsAbs(root) || filepath.Clean(root) == "/" {
		return "", "", nil, fmt.Errorf("root %q is not an absolute path other than /", root)
	}
	if !filepath.IsAbs(dir) {
		return "", "", nil, fmt.Errorf("working directory %q is not absolute", dir)
	}
	if argv[0] == "" {
		return "", "", nil, errors.New("empty command")
	}
	return filepath.Clean(root), dir, argv, nil
}

// mounts are what a command in the root sees of the kernel: the proc and
// sysfs filesystems, and the machine's devices (bound, with /dev/pts).
var mounts = []struct {
	target, fstype, source string
	flags                  uintptr
}{
	{"proc", "proc", "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
	{"sys", "sysfs", "sysfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_RDONLY},
	{"dev", "", "/dev", unix.MS_BIND | unix.MS_REC},
}

// Exec is the helper: in a new private mount namespace it mounts proc,
// sys and dev inside root, chroots into root, changes to dir and replaces
// itself with argv, with the environment it was given. It returns only on
// failure. It needs CAP_SYS_ADMIN and CAP_SYS_CHROOT (root).
func Exec(root, dir string, argv []string) error {
	// The namespace and the chroot belong to this thread; execve keeps
	// the calling thread, so the command gets them.
	runtime.LockOSThread()
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("new mount namespace: %w", err)
	}
	// Private, or the mounts below would propagate to the host's
	// namespace through shared peers (systemd makes / shared).
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	for _, m := range mounts {
		if err := mountIn(root, m.target, m.fstype, m.source, m.flags); err != nil {
			return err
		}
	}
	if err := unix.Chroot(root); err != nil {
		return fmt.Errorf("chroot %s: %w", root, err)
	}
	if err := unix.Chdir(dir); err != nil {
		return fmt.Errorf("chdir %s in %s: %w", dir, root, err)
	}
	prog := argv[0]
	if !strings.Contains(prog, "/") {
		// Looked up in the root, with the PATH the runner set.
		p, err := exec.LookPath(prog)
		if err != nil {
			return fmt.Errorf("in %s: %w", root, err)
		}
		prog = p
	}
	if err := unix.Exec(prog, argv, os.Environ()); err != nil {
		return fmt.Errorf("exec %s in %s: %w", argv[0], root, err)
	}
	return nil
}

// mountIn mounts onto ROOT/target, which must be a directory of the root
// itself: it is opened without following a symbolic link, so an image
// cannot point the mount at a directory of the host.
func mountIn(root, target, fstype, source string, flags uintptr) error {
	p := filepath.Join(root, target)
	fd, err := unix.Open(p, unix.O_PATH|unix.O_NOFOLLOW|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("mount point %s: %w (it must be a directory, not a symbolic link)", p, err)
	}
	defer unix.Close(fd)
	if err := unix.Mount(source, fmt.Sprintf("/proc/self/fd/%d", fd), fstype, flags, ""); err != nil {
		return fmt.Errorf("mount %s on %s: %w", source, p, err)
	}
	return nil
}
