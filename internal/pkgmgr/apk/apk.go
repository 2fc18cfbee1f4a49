// Package apk is the package manager of Alpine Linux hosts: the installed
// database /lib/apk/db/installed for what is installed, `apk version` for
// updates.
//
// Nothing here was run against a real apk: there is no apk-tools in Debian
// and Alpine's mirrors are out of reach of this project's machines. The
// installed-database parser follows apk-package(5) and the update parser
// apk-tools' app_version.c; their test files are reconstructed from those,
// and say so in their names.
package apk

import (
	"bytes"
	"cmp"
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

// Timeouts of each command. apk update downloads the indexes.
const (
	refreshTimeout = 10 * time.Minute
	listTimeout    = 2 * time.Minute
)

// Options tune a Manager. The zero value suits an Alpine host.
type Options struct {
	// RunningKernel returns the release of the running kernel (uname -r).
	// Nil: /proc/sys/kernel/osrelease.
	RunningKernel func(ctx context.Context) (string, error)
}

// Manager implements pkgmgr.Manager with apk.
type Manager struct {
	root string
	r    pkgmgr.Runner
	opts Options
}

var _ pkgmgr.Manager = (*Manager)(nil)

// New returns the Manager of the Alpine system mounted at root ("/" for
// the host itself; another root is passed to apk as --root).
func New(root string, r pkgmgr.Runner, opts Options) *Manager {
	if root == "" {
		root = "/"
	}
	if opts.RunningKernel == nil {
		opts.RunningKernel = procKernelRelease
	}
	return &Manager{root: root, r: r, opts: opts}
}

// Name is "apk".
func (m *Manager) Name() string { return "apk" }

// Packages reads ROOT/lib/apk/db/installed (or ROOT/usr/lib/apk/db/installed,
// where apk-tools 3 keeps it), sorted by name and arch.
func (m *Manager) Packages(ctx context.Context) ([]patchbay.Package, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var data []byte
	var err error
	for _, p := range []string{"lib/apk/db/installed", "usr/lib/apk/db/installed"} {
		data, err = os.ReadFile(filepath.Join(m.root, p))
		if !errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("read apk installed db: %w", err)
	}
	pkgs, err := parseInstalled(data)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(pkgs, func(a, b patchbay.Package) int { return cmp.Compare(a.Key(), b.Key()) })
	return pkgs, nil
}

// Refresh runs apk update, which exits non-zero when any repository
// could not be fetched (its exit code counts the unavailable and stale
// ones).
func (m *Manager) Refresh(ctx context.Context) error {
	if _, err := m.run(ctx, refreshTimeout, "update"); err != nil {
		return fmt.Errorf("refresh apk indexes: %w", err)
	}
	return nil
}

// Updates lists the packages whose installed version is older than the
// newest in the current indexes (apk version -l '<', which reads the
// cached indexes and downloads nothing). A warning on stderr (an index
// that could not be opened) fails it rather than read as "no updates".
//
// Origin is the repository tag of the candidate, empty for the untagged
// repositories. Security is always false: an Alpine host has no security
// classification of its updates (it lives in the secdb, outside apk).
func (m *Manager) Updates(ctx context.Context) ([]patchbay.Update, error) {
	pkgs, err := m.Packages(ctx)
	if err != nil {
		return nil, fmt.Errorf("list updates: %w", err)
	}
	res, err := m.run(ctx, listTimeout, "version", "-l", "<")
	if err != nil {
		return nil, fmt.Errorf("list updates: %w", err)
	}
	if w := warnings(res.Stderr); w != "" {
		return nil, fmt.Errorf("list updates: apk version: %s", w)
	}
	list, err := parseVersionList(res.Stdout)
	if err != nil {
		return nil, fmt.Errorf("list updates: %w", err)
	}
	return mergeUpdates(pkgs, list), nil
}

// mergeUpdates names each pending update with the installed package it
// updates, which gives its arch and splits name from version without
// guessing.
func mergeUpdates(installed []patchbay.Package, list []pending) []patchbay.Update {
	byNameVersion := make(map[string]patchbay.Package, len(installed))
	for _, p := range installed {
		byNameVersion[p.Name+"-"+p.Version] = p
	}
	updates := make([]patchbay.Update, 0, len(list))
	for _, l := range list {
		u := patchbay.Update{CandidateVersion: l.Available, Origin: l.Tag}
		if p, ok := byNameVersion[l.NameVersion]; ok {
			u.Name, u.Arch, u.InstalledVersion = p.Name, p.Arch, p.Version
		} else {
			// Installed between reading the db and running apk: apk's own
			// split.
			u.Name, u.InstalledVersion, _ = splitNameVersion(l.NameVersion)
		}
		updates = append(updates, u)
	}
	slices.SortFunc(updates, func(a, b patchbay.Update) int { return cmp.Compare(a.Key(), b.Key()) })
	return updates
}

// RebootRequired compares the running kernel with the installed kernel
// package of its flavour. Alpine's kernel release is
// pkgver-pkgrel-flavour ("6.6.58-0-lts") and its package linux-flavour at
// pkgver-rpkgrel ("linux-lts" 6.6.58-r0); apk replaces a kernel in place,
// so any difference means the running one is gone. A kernel not from apk
// (a container on another host) says nothing: no reboot.
func (m *Manager) RebootRequired(ctx context.Context) (bool, []string, error) {
	running, err := m.opts.RunningKernel(ctx)
	if err != nil {
		return false, nil, fmt.Errorf("running kernel: %w", err)
	}
	pkgs, err := m.Packages(ctx)
	if err != nil {
		return false, nil, fmt.Errorf("reboot check: %w", err)
	}
	reboot, reasons := kernelReboot(strings.TrimSpace(running), pkgs)
	return reboot, reasons, nil
}

func kernelReboot(running string, pkgs []patchbay.Package) (bool, []string) {
	i := strings.LastIndexByte(running, '-')
	if i <= 0 {
		return false, nil
	}
	flavour, verRel := running[i+1:], running[:i]
	j := strings.LastIndexByte(verRel, '-')
	if j <= 0 || flavour == "" {
		return false, nil
	}
	want := verRel[:j] + "-r" + verRel[j+1:]
	for _, p := range pkgs {
		if p.Name != "linux-"+flavour {
			continue
		}
		if p.Version == want {
			return false, nil
		}
		return true, []string{fmt.Sprintf("running kernel %s, installed %s %s", running, p.Name, p.Version)}
	}
	return false, nil
}

// run executes apk with --root when needed, and fails on a non-zero exit.
func (m *Manager) run(ctx context.Context, timeout time.Duration, args ...string) (pkgmgr.Result, error) {
	if m.root != "/" {
		args = append([]string{"--root", m.root}, args...)
	}
	c := pkgmgr.Cmd{Path: "apk", Args: args, Timeout: timeout}
	res, err := m.r.Run(ctx, c)
	if err != nil {
		return res, err
	}
	if res.ExitCode != 0 {
		return res, fmt.Errorf("apk %s: exit code %d: %s", strings.Join(args, " "), res.ExitCode, warnings(res.Stderr))
	}
	return res, nil
}

// warnings are apk's "WARNING:" and "ERROR:" lines, joined.
func warnings(stderr []byte) string {
	var w []string
	for line := range strings.Lines(string(stderr)) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "WARNING:") || strings.HasPrefix(line, "ERROR:") {
			w = append(w, line)
		}
	}
	return strings.Join(w, "; ")
}

// procKernelRelease reads the running kernel's release as uname -r does.
func procKernelRelease(context.Context) (string, error) {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "", err
	}
	return string(bytes.TrimSpace(b)), nil
}
