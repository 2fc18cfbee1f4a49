package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/agent"
	"github.com/patchbay/patchbay/internal/osinfo"
	"github.com/patchbay/patchbay/internal/pkgmgr"
	"github.com/patchbay/patchbay/internal/pkgmgr/chroot"
	"github.com/patchbay/patchbay/internal/pkgmgr/deb"
)

// chrootExecCommand is the hidden helper of the chroot runner: the agent
// re-executes itself as `patchbay agent-chroot-exec ROOT DIR -- CMD...`
// to run one package-manager command inside an image (chroot.Exec).
func chrootExecCommand() *cobra.Command {
	return &cobra.Command{
		Use:                "agent-chroot-exec ROOT DIR -- COMMAND [ARG...]",
		Short:              "Run one command inside an image, in a private mount namespace (used by the agent)",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			root, dir, argv, err := chroot.ParseArgs(args)
			if err != nil {
				return usagef("%v", err)
			}
			return chroot.Exec(root, dir, argv) // returns only on failure
		},
	}
}

// imageOptions are the agent flags of image mode (--root DIR --once).
type imageOptions struct {
	root, label, machineID, stateDir string
	stateDirSet                      bool
}

// defaultImageStateDir keeps an image's credential outside the image, one
// directory per image label, so a template never carries a credential.
func defaultImageStateDir(label string) string {
	return filepath.Join("/var/lib/patchbay-agent/images", label)
}

// resolve fills the label and state dir and checks them.
func (o *imageOptions) resolve() error {
	root, err := filepath.Abs(o.root)
	if err != nil {
		return err
	}
	o.root = root
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
		return usagef("--root %s: not a directory", root)
	}
	if o.label == "" {
		o.label = agent.DefaultImageLabel(root)
	}
	if err := patchbay.ValidImageLabel(o.label); err != nil {
		return usagef("--image-label: %s", patchbay.ErrorMessage(err))
	}
	if !o.stateDirSet {
		o.stateDir = defaultImageStateDir(o.label)
	}
	sd, err := filepath.Abs(o.stateDir)
	if err != nil {
		return err
	}
	if rel, err := filepath.Rel(root, sd); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return usagef("--state-dir %s is inside the image %s: the image would carry the agent's credential", sd, root)
	}
	o.stateDir = sd
	return nil
}

// newImageCollector builds the collector of an image: a Debian image's
// commands run chrooted into it (chroot.Runner through this binary's
// agent-chroot-exec); other families are inventoried from outside, with
// their tools' root options, and cannot be patched yet.
func newImageCollector(o imageOptions, logger *slog.Logger) (agent.ImageCollector, pkgmgr.Manager, error) {
	facts := osinfo.Options{MachineID: o.machineID}
	var m pkgmgr.Manager
	if osinfo.DetectPackageManager(o.root) == "apt" {
		exe, err := os.Executable()
		if err != nil {
			return agent.ImageCollector{}, nil, fmt.Errorf("find this binary: %w", err)
		}
		run := chroot.Runner{Root: o.root, Helper: []string{exe, "agent-chroot-exec"}}
		m = deb.New(o.root, run, deb.WithChroot())
	} else {
		hc, err := newCollector(o.root, logger)
		if err != nil {
			return agent.ImageCollector{}, nil, err
		}
		m = hc.Manager
	}
	hc := &agent.HostCollector{Root: o.root, Facts: facts, Manager: m, Now: time.Now, Logger: logger}
	return agent.ImageCollector{Host: hc, Label: o.label}, m, nil
}

// runImage inventories the image once and runs its pending jobs
// (agent.RunImage), unless jobs is false.
func (e *env) runImage(ctx context.Context, o imageOptions, cfg agent.Config, jobs bool) error {
	if err := o.resolve(); err != nil {
		return err
	}
	col, m, err := newImageCollector(o, cfg.Logger)
	if err != nil {
		return err
	}
	cfg.StateDir, cfg.Collector, cfg.Image, cfg.Once = o.stateDir, col, o.label, true
	if !jobs {
		return agent.Run(ctx, cfg)
	}
	if m.Name() != "apt" {
		// Only Debian images are patched chrooted; others are inventoried
		// and their install jobs refused before anything runs.
		m = inventoryOnly{m}
	}
	if cfg.Jobs, err = newJobExecutor(m, jobOptions{stateDir: o.stateDir, offline: true}); err != nil {
		return err
	}
	err = agent.RunImage(ctx, cfg, agent.Image{Root: o.root, Label: o.label, NoServices: chroot.NoServices})
	if err != nil {
		return fmt.Errorf("image %s (%s): %w", o.label, o.root, err)
	}
	return nil
}

// inventoryOnly hides the Installer of a manager that cannot patch an
// image chrooted yet (rpm, apk).
type inventoryOnly struct{ pkgmgr.Manager }
