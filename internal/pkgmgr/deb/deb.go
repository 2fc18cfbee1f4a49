// Package deb is the package manager of Debian and its derivatives: the
// dpkg database for what is installed, apt for indexes and updates.
//
// A Manager works on the running system (root "/") or on the root of a
// filesystem that is not running, such as an unpacked image. For another
// root it reads ROOT/var/lib/dpkg/status and runs the host's apt with
// -o Dir=ROOT/, so apt uses that tree's sources, lists, preferences and
// dpkg status, and the tree's foreign architectures
// (ROOT/var/lib/dpkg/arch). Limits of that mode, inherent to apt: the
// host's apt.conf.d still applies; file: sources and Signed-By keyrings are
// absolute paths that apt resolves on the host, not in the tree.
package deb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/pkgmgr"
)

// aptEnv is added to every apt command: never ask, never restart services
// from a needrestart hook.
func aptEnv() []string { return []string{"DEBIAN_FRONTEND=noninteractive", "NEEDRESTART_SUSPEND=1"} }

// queryTimeout bounds the read-only apt commands (simulation, policy).
const queryTimeout = 5 * time.Minute

// Manager implements pkgmgr.Manager for dpkg and apt.
type Manager struct {
	root          string
	run           pkgmgr.Runner
	runningKernel func() (string, error)
	lockTimeout   time.Duration // Install and Repair; see WithLockTimeout
	// chroot: the runner runs every command inside root (chroot), so
	// commands see root as "/"; files are still read under root.
	chroot bool
}

var _ pkgmgr.Manager = (*Manager)(nil)

// Option configures a Manager.
type Option func(*Manager)

// WithRunningKernel sets where RebootRequired gets the release of the
// running kernel (what `uname -r` prints). By default it is read from
// /proc/sys/kernel/osrelease when the root is "/", and not known for any
// other root; a func that returns "" means "not known" and disables the
// kernel check. The test lab injects one, since its hosts share the real
// machine's kernel.
func WithRunningKernel(f func() (string, error)) Option {
	return func(m *Manager) { m.runningKernel = f }
}

// WithChroot says that the runner runs every command chrooted into the
// root filesystem (an image patched offline): apt and dpkg then see the
// root as "/" and need no options pointing at it, and Install and Repair
// work on it. Files are still read under the root from outside.
func WithChroot() Option {
	return func(m *Manager) { m.chroot = true }
}

// cmdRoot is the root filesystem as the commands see it.
func (m *Manager) cmdRoot() string {
	if m.chroot {
		return "/"
	}
	return m.root
}

// New returns the manager of the Debian system whose root filesystem is at
// root ("/" for the running system; "" means "/"), executing commands
// through r.
func New(root string, r pkgmgr.Runner, opts ...Option) *Manager {
	if root == "" {
		root = "/"
	}
	m := &Manager{root: filepath.Clean(root), run: r}
	if m.root == "/" {
		m.runningKernel = procKernelRelease
	}
	for _, o := range opts {
		o(m)
	}
	return m
}

// Name is "apt".
func (m *Manager) Name() string { return "apt" }

// Packages lists the packages whose files are on disk according to the
// dpkg status file, read directly (no command runs): installed ones and
// those an interrupted dpkg run left half-installed, unpacked or
// half-configured. Removed packages of which only configuration files
// remain are not listed.
func (m *Manager) Packages(ctx context.Context) ([]patchbay.Package, error) {
	data, err := os.ReadFile(m.path("var/lib/dpkg/status"))
	if err != nil {
		return nil, fmt.Errorf("read dpkg status: %w", err)
	}
	return parseStatus(data)
}

// Refresh runs apt-get update, failing when any source fails
// (--error-on=any, apt >= 1.9.11; bookworm has 2.6), so that stale indexes
// are not taken for "no updates". Translations are not downloaded.
func (m *Manager) Refresh(ctx context.Context) error {
	args := append(m.aptOptions(), "-q", "--error-on=any", "-o", "Acquire::Languages=none", "update")
	res, err := m.run.Run(ctx, pkgmgr.Cmd{Path: "apt-get", Args: args, Env: aptEnv()})
	if err != nil {
		return fmt.Errorf("apt-get update: %w", err)
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("apt-get update: exit %d: %s", res.ExitCode, aptErrors(res))
	}
	return nil
}

// aptOptions are the options that point apt at m's root: none for "/".
func (m *Manager) aptOptions() []string {
	if m.cmdRoot() == "/" {
		return nil
	}
	opts := []string{
		"-o", "Dir=" + m.root + "/",
		"-o", "Dir::State::status=" + m.path("var/lib/dpkg/status"),
	}
	// dpkg keeps the architectures it accepts (native first, then foreign
	// ones) in its database; apt would ask the host's dpkg instead.
	if data, err := os.ReadFile(m.path("var/lib/dpkg/arch")); err == nil {
		for _, a := range strings.Fields(string(data)) {
			if validName(a) {
				opts = append(opts, "-o", "APT::Architectures::="+a)
			}
		}
	}
	return opts
}

// path is p (relative to the root filesystem) under m's root.
func (m *Manager) path(p string) string { return filepath.Join(m.root, p) }

// aptErrors picks the lines of an apt command's output that say what went
// wrong, for an error message, without repeats: dpkg's "error processing
// package P" lines (they name the package) and apt's error and warning
// lines ("E: ", "W: "); the "Err:" lines of the download log if there are
// none, else the last lines of stderr.
func aptErrors(res pkgmgr.Result) string {
	var picked, errLines []string
	for _, out := range [][]byte{res.Stderr, res.Stdout} {
		for _, l := range strings.Split(string(out), "\n") {
			l = strings.TrimSpace(l)
			switch {
			case strings.HasPrefix(l, "dpkg: error processing ") || strings.HasPrefix(l, "E: ") || strings.HasPrefix(l, "W: "):
				if !slices.Contains(picked, l) {
					picked = append(picked, l)
				}
			case strings.HasPrefix(l, "Err:"):
				if !slices.Contains(errLines, l) {
					errLines = append(errLines, l)
				}
			}
		}
	}
	if len(picked) == 0 {
		picked = errLines
	}
	if len(picked) == 0 {
		lines := strings.Split(strings.TrimSpace(string(res.Stderr)), "\n")
		picked = lines[max(0, len(lines)-3):]
	}
	if len(picked) > 8 {
		picked = append(picked[:8], fmt.Sprintf("(%d more)", len(picked)-8))
	}
	return strings.Join(picked, "; ")
}

// procKernelRelease reads the release of the running kernel.
func procKernelRelease() (string, error) {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read kernel release: %w", err)
	}
	return string(bytes.TrimSpace(b)), nil
}
