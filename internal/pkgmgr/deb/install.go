package deb

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/debversion"
	"github.com/patchbay/patchbay/internal/pkgmgr"
)

var _ pkgmgr.Installer = (*Manager)(nil)

// Timeouts of the commands that change the system. dpkg's frontend lock is
// waited for up to the lock timeout (WithLockTimeout) inside them.
const (
	installTimeout     = 30 * time.Minute
	repairTimeout      = 15 * time.Minute
	DefaultLockTimeout = 2 * time.Minute
)

// WithLockTimeout sets how long Install and Repair wait for the dpkg lock
// another process holds (unattended-upgrades, a person running apt)
// before failing. 0 is DefaultLockTimeout.
func WithLockTimeout(d time.Duration) Option {
	return func(m *Manager) { m.lockTimeout = d }
}

// installEnv is added to the commands that change the system: never ask
// (debconf, apt-listchanges, ucf), never restart services from a
// needrestart hook.
func installEnv() []string {
	return append(aptEnv(), "APT_LISTCHANGES_FRONTEND=none", "UCF_FORCE_CONFFOLD=1")
}

// Validate checks every package against Debian's grammar: a name dpkg
// accepts, an architecture of lower-case letters, digits and '-', a
// version dpkg parses without warnings. Nothing else reaches apt's
// command line.
func (m *Manager) Validate(pkgs []patchbay.PackageVersion) error {
	if len(pkgs) == 0 {
		return patchbay.Errorf(patchbay.EINVALID, "no packages to install")
	}
	for _, p := range pkgs {
		if !validName(p.Name) || len(p.Name) > 200 {
			return patchbay.Errorf(patchbay.EINVALID, "invalid Debian package name %q", p.Name)
		}
		if p.Arch != "" && !validArch(p.Arch) {
			return patchbay.Errorf(patchbay.EINVALID, "%s: invalid Debian architecture %q", p.Name, p.Arch)
		}
		if !validWord(p.Version) || !debversion.Valid(p.Version) || len(p.Version) > 200 {
			return patchbay.Errorf(patchbay.EINVALID, "%s: invalid Debian version %q", p.Name, p.Version)
		}
	}
	return nil
}

func validArch(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' && i > 0) {
			return false
		}
	}
	return true
}

// aptArg is how apt-get and apt-cache name p: "name:arch=version", or
// "name=version" when no architecture is planned.
func aptArg(p patchbay.PackageVersion) string { return aptName(p) + "=" + p.Version }

func aptName(p patchbay.PackageVersion) string {
	if p.Arch == "" {
		return p.Name
	}
	return p.Name + ":" + p.Arch
}

// Install installs exactly pkgs with apt-get, after checking with
// apt-cache policy that apt's indexes have each planned version (or that
// it is the one installed): a version that is not there fails the install
// with the versions that are, and nothing is installed. apt-get runs
// non-interactively, keeps modified conffiles (--force-confold; the
// maintainer's version where the file was not modified, --force-confdef),
// refuses downgrades, removals and changes to held packages, installs no
// recommends, and waits for a held dpkg lock up to the lock timeout.
//
// Install runs only on the running system (root "/").
func (m *Manager) Install(ctx context.Context, pkgs []patchbay.PackageVersion) ([]byte, error) {
	return m.install(ctx, pkgs, false)
}

// InstallDowngrading is Install with --allow-downgrades: a rollback job
// reinstalls versions older than the installed ones. A version no source
// has any more fails the job with apt's reason, as with Install.
func (m *Manager) InstallDowngrading(ctx context.Context, pkgs []patchbay.PackageVersion) ([]byte, error) {
	return m.install(ctx, pkgs, true)
}

func (m *Manager) install(ctx context.Context, pkgs []patchbay.PackageVersion, downgrade bool) ([]byte, error) {
	if err := m.Validate(pkgs); err != nil {
		return nil, err
	}
	if m.cmdRoot() != "/" {
		return nil, fmt.Errorf("install: only on the running system, not on root %s", m.root)
	}
	if err := m.checkAvailable(ctx, pkgs); err != nil {
		return nil, err
	}
	args := m.installArgs(pkgs)
	if downgrade {
		args = allowDowngrades(args)
	}
	res, err := m.run.Run(ctx, pkgmgr.Cmd{Path: "apt-get", Args: args, Env: installEnv(), Timeout: installTimeout + m.lock()})
	out := combined(res)
	if err != nil {
		return out, fmt.Errorf("apt-get install: %w", err)
	}
	if res.ExitCode != 0 {
		return out, fmt.Errorf("apt-get install: exit %d: %s", res.ExitCode, aptErrors(res))
	}
	return out, nil
}

// installArgs is the argv of apt-get install for pkgs (validated).
func (m *Manager) installArgs(pkgs []patchbay.PackageVersion) []string {
	args := append(m.aptOptions(), "-q", "-y",
		"--no-install-recommends", "--no-remove",
		"-o", "Dpkg::Options::=--force-confold",
		"-o", "Dpkg::Options::=--force-confdef",
		"-o", "Dpkg::Use-Pty=0",
		"-o", "APT::Get::allow-downgrades=false",
		"-o", "APT::Get::allow-change-held-packages=false",
		"-o", "APT::Get::allow-remove-essential=false",
		"-o", fmt.Sprintf("DPkg::Lock::Timeout=%d", int(m.lock().Seconds())),
		"install")
	for _, p := range pkgs {
		args = append(args, aptArg(p))
	}
	return args
}

// allowDowngrades turns installArgs' refusal of downgrades into
// --allow-downgrades.
func allowDowngrades(args []string) []string {
	out := make([]string, 0, len(args)+1)
	for _, a := range args {
		if a == "APT::Get::allow-downgrades=false" {
			a = "APT::Get::allow-downgrades=true"
		}
		out = append(out, a)
		if a == "install" {
			out = append(out[:len(out)-1], "--allow-downgrades", "install")
		}
	}
	return out
}

func (m *Manager) lock() time.Duration {
	if m.lockTimeout <= 0 {
		return DefaultLockTimeout
	}
	return m.lockTimeout
}

// checkAvailable fails unless apt's indexes hold each planned version, or
// it is the installed one, naming the versions that are available.
func (m *Manager) checkAvailable(ctx context.Context, pkgs []patchbay.PackageVersion) error {
	native, err := m.nativeArch(ctx, nil)
	if err != nil {
		return err
	}
	args := append(m.aptOptions(), "policy")
	for _, p := range pkgs {
		args = append(args, aptName(p))
	}
	res, err := m.run.Run(ctx, pkgmgr.Cmd{Path: "apt-cache", Args: args, Env: aptEnv(), Timeout: queryTimeout})
	if err != nil {
		return fmt.Errorf("apt-cache policy: %w", err)
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("apt-cache policy: exit %d: %s", res.ExitCode, aptErrors(res))
	}
	entries, err := parsePolicy(res.Stdout)
	if err != nil {
		return err
	}
	var problems []string
	for _, p := range pkgs {
		if msg := availability(p, entries, native); msg != "" {
			problems = append(problems, msg)
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// availability says why p cannot be installed from what apt-cache policy
// printed, or "" when it can.
func availability(p patchbay.PackageVersion, entries []policyEntry, native string) string {
	label := p.Name
	if p.Arch != "" {
		label += ":" + p.Arch
	}
	for _, e := range entries {
		if e.name != p.Name || !qualMatches(e.qual, p.Arch, native) {
			continue
		}
		if p.Version == e.installed {
			return ""
		}
		var avail []string
		for v, srcs := range e.sources {
			if slices.ContainsFunc(srcs, func(s string) bool { return !strings.HasSuffix(s, "/dpkg/status") }) {
				avail = append(avail, v)
			}
		}
		if slices.Contains(avail, p.Version) {
			return ""
		}
		slices.SortFunc(avail, func(a, b string) int {
			c, _ := debversion.Compare(b, a) // newest first
			return c
		})
		list := "none"
		if len(avail) > 0 {
			list = strings.Join(avail, ", ")
		}
		return fmt.Sprintf("%s %s is not available from any source; available: %s", label, p.Version, list)
	}
	return fmt.Sprintf("%s %s is not available from any source; apt knows no package %s", label, p.Version, label)
}

// qualMatches reports whether a package apt-cache policy names with
// qualifier qual (none for the native architecture and "all") is the
// planned architecture arch.
func qualMatches(qual, arch, native string) bool {
	if arch == "" || arch == native || arch == "all" {
		return qual == ""
	}
	return qual == arch
}

// Repair runs `dpkg --configure -a` when `dpkg --audit` reports packages
// an interrupted run left unpacked or half-configured, and fails when the
// audit still reports problems afterwards. A held lock is retried until
// the lock timeout.
func (m *Manager) Repair(ctx context.Context) (bool, []byte, error) {
	if m.cmdRoot() != "/" {
		return false, nil, fmt.Errorf("repair: only on the running system, not on root %s", m.root)
	}
	audit, err := m.audit(ctx)
	if err != nil || audit == "" {
		return false, nil, err
	}
	out := []byte("dpkg --audit:\n" + audit + "\n")
	deadline := time.Now().Add(m.lock())
	for {
		res, err := m.run.Run(ctx, pkgmgr.Cmd{
			Path: "dpkg", Args: []string{"--force-confold", "--force-confdef", "--configure", "-a"},
			Env: installEnv(), Timeout: repairTimeout,
		})
		out = append(out, "dpkg --configure -a:\n"...)
		out = append(out, combined(res)...)
		if err != nil {
			return true, out, fmt.Errorf("dpkg --configure -a: %w", err)
		}
		if res.ExitCode != 0 && lockHeld(res) && time.Now().Before(deadline) {
			select {
			case <-ctx.Done():
				return true, out, fmt.Errorf("dpkg --configure -a: %w", ctx.Err())
			case <-time.After(time.Second):
			}
			continue
		}
		if res.ExitCode != 0 {
			return true, out, fmt.Errorf("dpkg --configure -a: exit %d: %s", res.ExitCode, lastLines(res, 3))
		}
		break
	}
	after, err := m.audit(ctx)
	if err != nil {
		return true, out, err
	}
	if after != "" {
		out = append(out, "dpkg --audit after the repair:\n"+after+"\n"...)
		return true, out, fmt.Errorf("dpkg --audit still reports problems after dpkg --configure -a: %s", truncate(after, 300))
	}
	return true, out, nil
}

// audit runs dpkg --audit and returns what it reports ("" when the
// database is consistent). dpkg exits 1 when it reports something.
func (m *Manager) audit(ctx context.Context) (string, error) {
	res, err := m.run.Run(ctx, pkgmgr.Cmd{Path: "dpkg", Args: []string{"--audit"}, Timeout: queryTimeout})
	if err != nil {
		return "", fmt.Errorf("dpkg --audit: %w", err)
	}
	out := strings.TrimSpace(string(res.Stdout))
	if res.ExitCode != 0 && res.ExitCode != 1 || res.ExitCode == 1 && out == "" {
		return "", fmt.Errorf("dpkg --audit: exit %d: %s", res.ExitCode, lastLines(res, 3))
	}
	return out, nil
}

// lockHeld reports whether dpkg failed because another process holds its
// lock.
func lockHeld(res pkgmgr.Result) bool {
	s := string(res.Stderr)
	return strings.Contains(s, "lock") && (strings.Contains(s, "locked by another process") || strings.Contains(s, "Resource temporarily unavailable"))
}

// installedFormat asks dpkg-query for one tab-separated record per
// package instance: name, architecture, version, status (want, error flag,
// state).
const installedFormat = "${Package}\t${Architecture}\t${Version}\t${Status}\n"

// Installed asks dpkg-query (through the runner, so it is the database of
// the system the commands run on) and returns, for each of pkgs, the
// version of that name dpkg has fully installed ("install ok installed",
// or held) in the planned architecture (native or "all" when none is
// planned), with Version "" when there is none.
func (m *Manager) Installed(ctx context.Context, pkgs []patchbay.PackageVersion) ([]patchbay.PackageVersion, error) {
	if err := m.Validate(pkgs); err != nil {
		return nil, err
	}
	args := []string{"-W", "-f", installedFormat}
	if m.cmdRoot() != "/" {
		args = append([]string{"--admindir=" + m.path("var/lib/dpkg")}, args...)
	}
	args = append(args, "--")
	seen := map[string]bool{}
	for _, p := range pkgs {
		if !seen[p.Name] {
			args = append(args, p.Name)
			seen[p.Name] = true
		}
	}
	res, err := m.run.Run(ctx, pkgmgr.Cmd{Path: "dpkg-query", Args: args, Timeout: queryTimeout})
	if err != nil {
		return nil, fmt.Errorf("dpkg-query: %w", err)
	}
	// Exit 1: some name matched no package, which is an answer too.
	if res.ExitCode != 0 && res.ExitCode != 1 {
		return nil, fmt.Errorf("dpkg-query: exit %d: %s", res.ExitCode, lastLines(res, 3))
	}
	type entry struct{ arch, version string }
	full := map[string][]entry{} // name -> fully installed instances
	native := ""
	for n, line := range strings.Split(string(res.Stdout), "\n") {
		if line == "" {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 4 || !validName(f[0]) {
			return nil, fmt.Errorf("dpkg-query line %d: unexpected %q", n+1, truncate(line, 120))
		}
		st := strings.Fields(f[3])
		if len(st) != 3 || st[1] != "ok" || st[2] != "installed" || st[0] != "install" && st[0] != "hold" {
			continue
		}
		full[f[0]] = append(full[f[0]], entry{f[1], f[2]})
		if f[0] == "dpkg" && f[1] != "all" {
			native = f[1]
		}
	}
	if native == "" && slices.ContainsFunc(pkgs, func(p patchbay.PackageVersion) bool { return p.Arch == "" }) {
		if native, err = m.nativeArch(ctx, nil); err != nil {
			return nil, err
		}
	}
	out := make([]patchbay.PackageVersion, len(pkgs))
	for i, p := range pkgs {
		out[i] = patchbay.PackageVersion{Name: p.Name, Arch: p.Arch}
		for _, e := range full[p.Name] {
			if p.Arch == e.arch || p.Arch == "" && (e.arch == "all" || e.arch == native) {
				out[i] = patchbay.PackageVersion{Name: p.Name, Arch: e.arch, Version: e.version}
				break
			}
		}
	}
	return out, nil
}

// combined is a command's stdout followed by its stderr.
func combined(res pkgmgr.Result) []byte {
	out := make([]byte, 0, len(res.Stdout)+len(res.Stderr))
	out = append(out, res.Stdout...)
	return append(out, res.Stderr...)
}

// lastLines is the last n non-empty lines of stderr (else stdout), joined
// by "; ".
func lastLines(res pkgmgr.Result, n int) string {
	s := strings.TrimSpace(string(res.Stderr))
	if s == "" {
		s = strings.TrimSpace(string(res.Stdout))
	}
	lines := strings.Split(s, "\n")
	lines = lines[max(0, len(lines)-n):]
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return strings.Join(lines, "; ")
}
