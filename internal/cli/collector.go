package cli

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/agent"
	"github.com/patchbay/patchbay/internal/agent/check"
	"github.com/patchbay/patchbay/internal/agent/hook"
	"github.com/patchbay/patchbay/internal/agent/job"
	"github.com/patchbay/patchbay/internal/osinfo"
	"github.com/patchbay/patchbay/internal/pkgmgr"
	"github.com/patchbay/patchbay/internal/pkgmgr/apk"
	"github.com/patchbay/patchbay/internal/pkgmgr/deb"
	"github.com/patchbay/patchbay/internal/pkgmgr/osexec"
	"github.com/patchbay/patchbay/internal/pkgmgr/rpm"
)

// newCollector picks the package manager of the root filesystem and
// builds the agent's collector.
func newCollector(root string, logger *slog.Logger) (*agent.HostCollector, error) {
	run := osexec.Runner{}
	var m pkgmgr.Manager
	switch pm := osinfo.DetectPackageManager(root); pm {
	case "apt":
		m = deb.New(root, run)
	case "dnf", "yum":
		m = rpm.New(root, run, rpm.Options{Tool: pm})
	case "apk":
		m = apk.New(root, run, apk.Options{})
	default:
		return nil, fmt.Errorf("no supported package manager under %s (looked for dpkg, rpm with dnf/yum, apk)", root)
	}
	return &agent.HostCollector{Root: root, Manager: m, Now: time.Now, Logger: logger}, nil
}

// jobOptions are the agent flags that shape its job executor.
type jobOptions struct {
	stateDir, checksFile, hooksFile string
	rebootCommand                   []string
	ownUnit                         string
	// offline: an image, never rebooted, no runner for reboots or
	// service restarts.
	offline bool
}

// newJobExecutor builds the agent's job executor: job files in
// STATE_DIR/jobs, the collector's package manager for refreshes and (when
// it can) installs, the health checks and hooks of their files ("" for
// none) and the reboot command, run through the os/exec runner.
func newJobExecutor(m pkgmgr.Manager, o jobOptions) (*job.Executor, error) {
	cfg, err := check.Load(o.checksFile)
	if err != nil {
		return nil, err
	}
	hooks, err := hook.Load(o.hooksFile)
	if err != nil {
		return nil, err
	}
	in, ok := m.(pkgmgr.Installer)
	if !ok {
		in = noInstaller{tool: m.Name()}
	}
	cl, _ := m.(pkgmgr.ChangelogReader) // nil for all but apt
	var run pkgmgr.Runner = osexec.Runner{}
	if o.offline {
		run = nil
	}
	return job.New(job.Config{
		Dir:           filepath.Join(o.stateDir, "jobs"),
		Manager:       m,
		Installer:     in,
		Checks:        check.New(cfg, osexec.Runner{}, nil),
		Changelogs:    cl,
		Hooks:         hook.New(hooks, osexec.Runner{}),
		Runner:        run,
		Offline:       o.offline,
		RebootCommand: o.rebootCommand,
		OwnUnit:       o.ownUnit,
	})
}

// noInstaller is the Installer of a package manager that cannot install
// exact versions yet (apk): install jobs are refused before anything runs;
// refresh and check jobs still work.
type noInstaller struct{ tool string }

func (n noInstaller) err() error {
	return patchbay.Errorf(patchbay.EINVALID, "the agent cannot install packages with %s", n.tool)
}

func (n noInstaller) Validate([]patchbay.PackageVersion) error { return n.err() }

func (n noInstaller) Install(context.Context, []patchbay.PackageVersion) ([]byte, error) {
	return nil, n.err()
}

func (n noInstaller) Repair(context.Context) (bool, []byte, error) { return false, nil, nil }

func (n noInstaller) Installed(context.Context, []patchbay.PackageVersion) ([]patchbay.PackageVersion, error) {
	return nil, n.err()
}
