package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/client"
	"github.com/patchbay/patchbay/internal/debversion"
)

// ImageCollector collects the inventory of a root filesystem that is not
// running (a VM or container template): what Host collects from it, minus
// the facts of a running system. It has no boot id, uptime or addresses;
// its kernel is the newest kernel package installed in it; it never
// requires a reboot; its host name is the image's label.
type ImageCollector struct {
	Host  Collector
	Label string
}

// Collect implements Collector.
func (c ImageCollector) Collect(ctx context.Context, refresh bool) (patchbay.Inventory, error) {
	inv, err := c.Host.Collect(ctx, refresh)
	if err != nil {
		return inv, err
	}
	inv.Hostname = c.Label
	inv.BootID, inv.UptimeSeconds, inv.IPAddresses = "", 0, nil
	inv.Kernel = newestKernel(inv.Packages)
	inv.RebootRequired, inv.RebootReasons = false, nil
	inv.Normalize()
	return inv, nil
}

// newestKernel is the release of the newest kernel image package
// installed (linux-image-6.1.0-28-amd64 → "6.1.0-28-amd64"), "" when none.
func newestKernel(pkgs []patchbay.Package) string {
	var best patchbay.Package
	for _, p := range pkgs {
		rel, ok := strings.CutPrefix(p.Name, "linux-image-")
		if !ok || rel == "" || !(rel[0] >= '0' && rel[0] <= '9') {
			continue // the metapackage (linux-image-amd64) names no release
		}
		if best.Name == "" {
			best = p
			continue
		}
		// Kernel packages carry their release in the name, and the ABI
		// part sorts as a version does ("6.1.0-28" after "6.1.0-9").
		if n, err := debversion.Compare(rel, strings.TrimPrefix(best.Name, "linux-image-")); err == nil && n > 0 {
			best = p
		}
	}
	return strings.TrimPrefix(best.Name, "linux-image-")
}

// Image is what RunImage needs beyond Config.
type Image struct {
	Root  string
	Label string
	// NoServices makes the image start no service while jobs run in it
	// (a policy-rc.d that denies everything) and returns what puts the
	// image back as it was.
	NoServices func(root string) (restore func() error, err error)
}

// RunImage inventories an image once and runs the install and refresh
// jobs the server has for it, offline: enrol if needed, report the
// inventory, poll once without waiting, run each job with no service
// allowed to start, no reboot and no health check (skipped, with a note in
// the result), post the results, and report the new inventory. The error
// says what failed, a job included; nil when there was nothing to do or
// every job succeeded.
func RunImage(ctx context.Context, cfg Config, img Image) error {
	if cfg.Jobs == nil {
		return errors.New("image: no job executor")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Once = true
	log := cfg.Logger
	a := &Agent{cfg: cfg, checkInNow: make(chan struct{}, 1)}
	if err := a.connect(ctx); err != nil {
		return err
	}
	c := a.client()
	var failed []string
	// A job a killed run left is finished first, under the same guard.
	err := a.inImage(img, func() error {
		results, err := cfg.Jobs.Resume(ctx)
		for _, r := range results {
			if err := a.markUnsent(r.JobID); err != nil {
				return err
			}
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("finish interrupted jobs: %w", err)
	}
	if err := a.postUnsent(ctx, c); err != nil {
		return err
	}
	if err := a.checkIn(ctx, c); err != nil {
		return err
	}
	poll, err := c.PollJobs(ctx, 0)
	if err != nil {
		return fmt.Errorf("poll jobs: %w", err)
	}
	a.setBlocked(ctx, poll.Blocked)
	ran := 0
	for _, j := range poll.Jobs {
		if j.Action != patchbay.JobInstall && j.Action != patchbay.JobRefresh {
			log.InfoContext(ctx, "job not run on an image; left to the server", "job_id", j.ID, "action", j.Action)
			continue
		}
		res, err := a.runImageJob(ctx, c, img, j)
		if err != nil {
			return err
		}
		ran++
		if res.Status != patchbay.JobSucceeded {
			failed = append(failed, fmt.Sprintf("job %s (%s) failed: %s", j.ID, j.Action, res.Reason))
		}
	}
	if ran > 0 {
		// The server sees the image's new versions now.
		if err := a.checkIn(ctx, c); err != nil {
			return err
		}
	}
	if len(failed) > 0 {
		return errors.New(strings.Join(failed, "; "))
	}
	log.InfoContext(ctx, "image done", "root", img.Root, "jobs", ran)
	return nil
}

// runImageJob runs one job in the image and posts its result.
func (a *Agent) runImageJob(ctx context.Context, c *client.Client, img Image, j patchbay.Job) (patchbay.JobResult, error) {
	log := a.cfg.Logger
	if err := j.Validate(); err != nil {
		now := a.cfg.Now().UTC()
		res := patchbay.JobResult{JobID: j.ID, Action: j.Action, Status: patchbay.JobFailed,
			Reason: "refused: " + patchbay.ErrorMessage(err), Steps: []patchbay.StepResult{}, StartedAt: now, FinishedAt: now}
		return res, a.post(ctx, c, res)
	}
	// Health checks test a running system; an image runs nothing.
	checks := j.Checks
	j.Checks = nil
	if err := a.markUnsent(j.ID); err != nil {
		return patchbay.JobResult{}, err
	}
	log.InfoContext(ctx, "job started", "job_id", j.ID, "action", j.Action, "packages", len(j.Packages), "root", img.Root)
	var res patchbay.JobResult
	err := a.inImage(img, func() error {
		var err error
		res, err = a.cfg.Jobs.Run(context.WithoutCancel(ctx), j)
		return err
	})
	if err != nil {
		return patchbay.JobResult{}, fmt.Errorf("run job %s: %w", j.ID, err)
	}
	if len(checks) > 0 {
		now := a.cfg.Now().UTC()
		res.Steps = append(res.Steps, patchbay.StepResult{Name: "checks", Status: patchbay.JobSucceeded,
			Message:   "skipped on an image (nothing runs in it): " + strings.Join(slices.Clone(checks), ", "),
			StartedAt: now, FinishedAt: now})
	}
	log.InfoContext(ctx, "job finished", "job_id", j.ID, "action", j.Action, "status", res.Status, "reason", res.Reason)
	if err := a.post(ctx, c, res); err != nil {
		return res, err
	}
	return res, a.markSent(j.ID)
}

// inImage runs fn with the image's services disabled, and restores the
// image afterwards whatever fn did.
func (a *Agent) inImage(img Image, fn func() error) (err error) {
	if img.NoServices == nil {
		return fn()
	}
	restore, err := img.NoServices(img.Root)
	if err != nil {
		return err
	}
	defer func() {
		if rerr := restore(); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}()
	return fn()
}

// DefaultImageLabel is the label of an image without --image-label: the
// base name of its root directory.
func DefaultImageLabel(root string) string {
	return filepath.Base(filepath.Clean(root))
}
