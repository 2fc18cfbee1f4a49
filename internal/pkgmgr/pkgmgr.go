// Package pkgmgr defines what the agent needs from a host's package
// manager, small enough to read at a glance, and the runner through which
// every implementation executes commands. Implementations live in
// subpackages, one per tool family: deb (dpkg, apt), rpm (rpmdb, dnf/yum),
// apk.
package pkgmgr

import (
	"context"
	"time"

	"github.com/patchbay/patchbay"
)

// Manager is one package-manager family on one root filesystem.
type Manager interface {
	// Name is the tool the inventory names: "apt", "dnf", "yum", "apk".
	Name() string
	// Packages lists the installed packages.
	Packages(ctx context.Context) ([]patchbay.Package, error)
	// Refresh updates the package indexes (apt-get update, dnf makecache).
	// It fails when any source fails, so stale indexes are not mistaken
	// for "no updates".
	Refresh(ctx context.Context) error
	// Updates lists pending updates of installed packages from the current
	// indexes, each marked security or not.
	Updates(ctx context.Context) ([]patchbay.Update, error)
	// RebootRequired reports whether the host needs a reboot to run what is
	// installed, and why (one short reason per cause).
	RebootRequired(ctx context.Context) (bool, []string, error)
}

// Installer installs exact package versions: what a rollout plan froze,
// never another version. Kept apart from Manager, which only reads.
type Installer interface {
	// Validate checks names, architectures and versions against the
	// distribution's grammar; Install calls it before any command runs.
	Validate(pkgs []patchbay.PackageVersion) error
	// Install installs exactly pkgs, non-interactively, keeping modified
	// configuration files. It fails with a clear reason, and installs
	// nothing, when a planned version is not available from any source.
	// The output is the package manager's, also on failure.
	Install(ctx context.Context, pkgs []patchbay.PackageVersion) (output []byte, err error)
	// Repair finishes what an interrupted package-manager run left
	// (dpkg --configure -a) when there is anything; repaired reports
	// whether it ran.
	Repair(ctx context.Context) (repaired bool, output []byte, err error)
	// Installed returns, for each of pkgs in order, the version of that
	// name and architecture fully installed now, "" when there is none.
	Installed(ctx context.Context, pkgs []patchbay.PackageVersion) ([]patchbay.PackageVersion, error)
}

// Cmd is one command to execute: argv only, never a shell.
type Cmd struct {
	Path    string
	Args    []string
	Env     []string // added to a minimal environment (PATH, LANG=C)
	Dir     string
	Timeout time.Duration // 0: DefaultTimeout
}

// DefaultTimeout bounds every command that does not set its own.
const DefaultTimeout = 10 * time.Minute

// Result is what a command produced.
type Result struct {
	Stdout   []byte
	Stderr   []byte
	ExitCode int
}

// Runner executes commands. The agent uses an os/exec runner; tests may
// inject one that returns captured output.
type Runner interface {
	Run(ctx context.Context, c Cmd) (Result, error)
}

// ChangelogReader reads the changelog of a candidate package version
// from the host's package sources, without installing anything (Debian
// family).
type ChangelogReader interface {
	// Changelog reads the changelog of one of pkgs (binaries of one source
	// at one version).
	Changelog(ctx context.Context, pkgs []patchbay.PackageVersion) (patchbay.ChangelogFile, error)
}

// Downgrader is an Installer that can also install versions older than
// the installed ones, for a rollout's rollback job (Job.AllowDowngrade).
type Downgrader interface {
	// InstallDowngrading is Install allowing older versions.
	InstallDowngrading(ctx context.Context, pkgs []patchbay.PackageVersion) (output []byte, err error)
}
