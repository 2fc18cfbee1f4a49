// Package rpm is the package manager of RHEL-family hosts: the rpm
// database for what is installed, dnf (or yum where there is no dnf, as on
// EL7) for updates, and needs-restarting for reboots.
//
// It runs rpm rather than reading the rpmdb itself (go-rpmdb could): rpm
// is on every such host, reads every database format it ever wrote (BDB,
// NDB, SQLite) and takes the database lock, and --queryformat gives a
// machine-readable record per package.
package rpm

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/pkgmgr"
)

// Timeouts of each command. dnf may download metadata; rpm and
// needs-restarting only read local files.
const (
	queryTimeout   = 2 * time.Minute
	refreshTimeout = 10 * time.Minute
	listTimeout    = 5 * time.Minute
	restartTimeout = 2 * time.Minute
)

// checkUpdateAvailable is the exit code of dnf/yum check-update when
// updates are available (0: none, 1: error).
const checkUpdateAvailable = 100

// Options tune a Manager. The zero value suits a RHEL-family host.
type Options struct {
	// Tool is "dnf" or "yum". Empty: dnf when ROOT/usr/bin/dnf exists,
	// else yum when ROOT/usr/bin/yum exists, else dnf.
	Tool string
	// DBPath, when set, is passed to rpm as --dbpath (Debian's own rpm,
	// used by the lab, keeps its database in ~/.rpmdb).
	DBPath string
	// ExtraArgs go to every dnf/yum command before the subcommand:
	// --releasever, --repofrompath, --setopt for a lab or a proxy.
	ExtraArgs []string
	// RunningKernel returns the release of the running kernel (uname -r).
	// Nil: /proc/sys/kernel/osrelease.
	RunningKernel func(ctx context.Context) (string, error)
}

// Manager implements pkgmgr.Manager with rpm and dnf or yum.
type Manager struct {
	root string
	r    pkgmgr.Runner
	opts Options
	tool string
}

var _ pkgmgr.Manager = (*Manager)(nil)

// New returns the Manager of the system mounted at root ("/" for the host
// itself; another root is passed to rpm as --root and to dnf as
// --installroot).
func New(root string, r pkgmgr.Runner, opts Options) *Manager {
	if root == "" {
		root = "/"
	}
	tool := opts.Tool
	if tool == "" {
		tool = "dnf"
		if !exists(filepath.Join(root, "usr/bin/dnf")) && exists(filepath.Join(root, "usr/bin/yum")) {
			tool = "yum"
		}
	}
	if opts.RunningKernel == nil {
		opts.RunningKernel = procKernelRelease
	}
	return &Manager{root: root, r: r, opts: opts, tool: tool}
}

// Name is "dnf" or "yum".
func (m *Manager) Name() string { return m.tool }

// Packages lists the installed packages, sorted by name and arch. Where
// several versions of one name and arch are installed side by side
// (installonly packages: kernel, kernel-core ...) only the newest is
// listed, since an inventory has one version per name and arch; the kernel
// that actually runs is RebootRequired's business.
func (m *Manager) Packages(ctx context.Context) ([]patchbay.Package, error) {
	all, err := m.allPackages(ctx)
	if err != nil {
		return nil, err
	}
	return newestPerKey(all), nil
}

// allPackages lists every installed package record, duplicates included.
func (m *Manager) allPackages(ctx context.Context) ([]patchbay.Package, error) {
	args := m.rpmArgs("-qa", "--queryformat", queryFormat)
	res, err := m.run(ctx, pkgmgr.Cmd{Path: "rpm", Args: args, Timeout: queryTimeout}, 0)
	if err != nil {
		return nil, fmt.Errorf("list rpm packages: %w", err)
	}
	pkgs, err := parseQuery(res.Stdout)
	if err != nil {
		return nil, fmt.Errorf("list rpm packages: %w", err)
	}
	return pkgs, nil
}

// Refresh downloads fresh metadata of every enabled repository (dnf
// makecache --refresh; yum clean expire-cache + makecache fast). A
// repository that cannot be read fails it: skip_if_unavailable, which
// would otherwise skip it silently ("Ignoring repositories"), is turned off
// for all repositories.
func (m *Manager) Refresh(ctx context.Context) error {
	if m.tool == "yum" {
		if _, err := m.run(ctx, m.toolCmd(refreshTimeout, "-q", "clean", "expire-cache"), 0); err != nil {
			return fmt.Errorf("refresh yum metadata: %w", err)
		}
		if _, err := m.run(ctx, m.toolCmd(refreshTimeout, "-q", "makecache", "fast"), 0); err != nil {
			return fmt.Errorf("refresh yum metadata: %w", err)
		}
		return nil
	}
	if _, err := m.run(ctx, m.toolCmd(refreshTimeout, "-q", "makecache", "--refresh"), 0); err != nil {
		return fmt.Errorf("refresh dnf metadata: %w", err)
	}
	return nil
}

// Updates lists the pending updates from the cached metadata (-C: Refresh
// is what downloads), from check-update, and marks as security those that
// bring a version named by a security advisory (updateinfo list
// --security) newer than the installed one. A package of check-update's
// "Obsoleting Packages" section that is not also a plain update is listed
// under its own name, with the installed version of that name if any
// (usually none): upgrading installs it and removes what it obsoletes.
func (m *Manager) Updates(ctx context.Context) ([]patchbay.Update, error) {
	pkgs, err := m.Packages(ctx)
	if err != nil {
		return nil, fmt.Errorf("list updates: %w", err)
	}
	res, err := m.run(ctx, m.toolCmd(listTimeout, "-C", "-q", "check-update"), checkUpdateAvailable)
	if err != nil {
		return nil, fmt.Errorf("list updates: %w", err)
	}
	if res.ExitCode == 0 {
		return []patchbay.Update{}, nil
	}
	avail, err := parseCheckUpdate(res.Stdout)
	if err != nil {
		return nil, fmt.Errorf("list updates: %w", err)
	}
	if len(avail) == 0 {
		return nil, fmt.Errorf("list updates: %s check-update exited %d but listed no package", m.tool, res.ExitCode)
	}
	securityArgs := []string{"-C", "-q", "updateinfo", "list", "--security"}
	if m.tool == "yum" {
		securityArgs = []string{"-C", "-q", "updateinfo", "list", "security"}
	}
	res, err = m.run(ctx, m.toolCmd(listTimeout, securityArgs...), 0)
	if err != nil {
		return nil, fmt.Errorf("list security advisories: %w", err)
	}
	advs, err := parseUpdateinfo(res.Stdout)
	if err != nil {
		return nil, fmt.Errorf("list security advisories: %w", err)
	}
	return mergeUpdates(pkgs, avail, advs), nil
}

// mergeUpdates joins check-update's list with the installed versions and
// the security advisories.
func mergeUpdates(installed []patchbay.Package, avail []available, advs []advisory) []patchbay.Update {
	inst := make(map[string]string, len(installed))
	for _, p := range installed {
		inst[p.Name+"."+p.Arch] = p.Version
	}
	security := make(map[string][]string) // name.arch -> versions with a security fix
	for _, a := range advs {
		if a.Security() {
			security[a.Name+"."+a.Arch] = append(security[a.Name+"."+a.Arch], a.Version)
		}
	}
	byKey := make(map[string]patchbay.Update, len(avail))
	for _, a := range avail {
		key := a.Name + "." + a.Arch
		if prev, ok := byKey[key]; ok {
			if a.Obsoleting || newer(prev.CandidateVersion, a.Version) {
				continue // a plain update wins over the same package obsoleting
			}
		}
		u := patchbay.Update{
			Name:             a.Name,
			Arch:             a.Arch,
			InstalledVersion: inst[key],
			CandidateVersion: a.Version,
			Origin:           a.Repo,
		}
		for _, v := range security[key] {
			if (u.InstalledVersion == "" || newer(v, u.InstalledVersion)) && !newer(v, u.CandidateVersion) {
				u.Security = true
			}
		}
		byKey[key] = u
	}
	updates := make([]patchbay.Update, 0, len(byKey))
	for _, u := range byKey {
		updates = append(updates, u)
	}
	slices.SortFunc(updates, func(a, b patchbay.Update) int { return cmp.Compare(a.Key(), b.Key()) })
	return updates
}

// RebootRequired asks needs-restarting -r (dnf-plugins-core, or yum-utils
// on EL7), which compares the install time of core packages (kernel,
// glibc, systemd, dbus, linux-firmware ...) with the boot time. Where it is
// missing, it compares the running kernel with the newest installed
// kernel package.
func (m *Manager) RebootRequired(ctx context.Context) (bool, []string, error) {
	var cmd pkgmgr.Cmd
	switch {
	case m.tool == "dnf":
		cmd = m.toolCmd(restartTimeout, "-C", "-q", "needs-restarting", "-r")
	case m.root == "/":
		cmd = pkgmgr.Cmd{Path: "needs-restarting", Args: []string{"-r"}, Timeout: restartTimeout}
	}
	if cmd.Path != "" {
		res, err := m.r.Run(ctx, cmd)
		if err != nil && ctx.Err() != nil {
			return false, nil, fmt.Errorf("needs-restarting: %w", err)
		}
		if err == nil {
			if reboot, reasons, ok := parseNeedsRestarting(res.Stdout); ok {
				return reboot, reasons, nil
			}
		}
	}
	running, err := m.opts.RunningKernel(ctx)
	if err != nil {
		return false, nil, fmt.Errorf("running kernel: %w", err)
	}
	pkgs, err := m.allPackages(ctx)
	if err != nil {
		return false, nil, fmt.Errorf("reboot check: %w", err)
	}
	reboot, reasons := kernelReboot(strings.TrimSpace(running), pkgs)
	return reboot, reasons, nil
}

// isKernelPackage reports whether name is a package that installs a
// kernel image, across RHEL, its rebuilds, Oracle Linux and ELRepo.
func isKernelPackage(name string) bool {
	switch name {
	case "kernel", "kernel-core", "kernel-debug", "kernel-debug-core",
		"kernel-rt", "kernel-rt-core", "kernel-64k", "kernel-64k-core",
		"kernel-uek", "kernel-uek-core", "kernel-lt", "kernel-ml":
		return true
	}
	return false
}

// kernelReboot reports whether a newer kernel is installed than the one
// running (release as uname -r prints it: "5.14.0-427.13.1.el9_4.x86_64",
// with a "+debug" or "+64k" flavour suffix on EL9). The running kernel is
// found among the installed kernel packages by version-release.arch; when
// it is not there (a container, a kernel from elsewhere) nothing can be
// said and the answer is no.
func kernelReboot(running string, pkgs []patchbay.Package) (bool, []string) {
	release, _, _ := strings.Cut(running, "+")
	var flavours []string // names of the packages the running kernel came from
	for _, p := range pkgs {
		if isKernelPackage(p.Name) && stripEpoch(p.Version)+"."+p.Arch == release {
			flavours = append(flavours, p.Name)
		}
	}
	if len(flavours) == 0 {
		return false, nil
	}
	var newest *patchbay.Package
	for i, p := range pkgs {
		if slices.Contains(flavours, p.Name) && (newest == nil || newer(p.Version, newest.Version)) {
			newest = &pkgs[i]
		}
	}
	installed := stripEpoch(newest.Version) + "." + newest.Arch
	if installed == release {
		return false, nil
	}
	return true, []string{fmt.Sprintf("running kernel %s, newest installed %s", release, installed)}
}

func stripEpoch(v string) string {
	if i := strings.IndexByte(v, ':'); i >= 0 {
		return v[i+1:]
	}
	return v
}

// newestPerKey keeps the newest version of each name and arch, sorted by
// key.
func newestPerKey(all []patchbay.Package) []patchbay.Package {
	byKey := make(map[string]patchbay.Package, len(all))
	for _, p := range all {
		if prev, ok := byKey[p.Key()]; ok && !newer(p.Version, prev.Version) {
			continue
		}
		byKey[p.Key()] = p
	}
	pkgs := make([]patchbay.Package, 0, len(byKey))
	for _, p := range byKey {
		pkgs = append(pkgs, p)
	}
	slices.SortFunc(pkgs, func(a, b patchbay.Package) int { return cmp.Compare(a.Key(), b.Key()) })
	return pkgs
}

// newer reports whether version a is newer than b. Both come from parsers
// that checked them, so an error cannot happen; it would count as "not
// newer".
func newer(a, b string) bool {
	c, err := CompareVersions(a, b)
	return err == nil && c > 0
}

// rpmArgs prefixes args with --root and --dbpath as needed.
func (m *Manager) rpmArgs(args ...string) []string {
	var a []string
	if m.root != "/" {
		a = append(a, "--root", m.root)
	}
	if m.opts.DBPath != "" {
		a = append(a, "--dbpath", m.opts.DBPath)
	}
	return append(a, args...)
}

// toolCmd is a dnf or yum command: --installroot, the extra arguments, no
// silently skipped repositories, then args.
func (m *Manager) toolCmd(timeout time.Duration, args ...string) pkgmgr.Cmd {
	var a []string
	if m.root != "/" {
		a = append(a, "--installroot="+m.root)
	}
	a = append(a, m.opts.ExtraArgs...)
	a = append(a, "--setopt=*.skip_if_unavailable=False")
	a = append(a, args...)
	return pkgmgr.Cmd{Path: m.tool, Args: a, Timeout: timeout}
}

// run executes c and fails unless it exits 0 or okCode.
func (m *Manager) run(ctx context.Context, c pkgmgr.Cmd, okCode int) (pkgmgr.Result, error) {
	res, err := m.r.Run(ctx, c)
	if err != nil {
		return res, err
	}
	if res.ExitCode != 0 && res.ExitCode != okCode {
		return res, fmt.Errorf("%s %s: exit code %d: %s", c.Path, strings.Join(c.Args, " "), res.ExitCode, lastLine(res.Stderr))
	}
	return res, nil
}

// lastLine is the last non-empty line of a command's stderr, where dnf and
// rpm put the error that made them fail.
func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// procKernelRelease reads the running kernel's release as uname -r does.
func procKernelRelease(context.Context) (string, error) {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "", err
	}
	return string(bytes.TrimSpace(b)), nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
