package rpm

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/pkgmgr"
)

var _ pkgmgr.Installer = (*Manager)(nil)

const installTimeout = 30 * time.Minute

// Validate checks every package against RPM's grammar: a name rpmbuild
// accepts, an architecture of letters, digits and '_', and a version
// "[epoch:]version-release" (the release is required: a plan names one
// exact build).
func (m *Manager) Validate(pkgs []patchbay.PackageVersion) error {
	if len(pkgs) == 0 {
		return patchbay.Errorf(patchbay.EINVALID, "no packages to install")
	}
	for _, p := range pkgs {
		if !ValidName(p.Name) || len(p.Name) > 200 {
			return patchbay.Errorf(patchbay.EINVALID, "invalid RPM package name %q", p.Name)
		}
		if p.Arch != "" && (!validArch(p.Arch) || len(p.Arch) > 32) {
			return patchbay.Errorf(patchbay.EINVALID, "%s: invalid RPM architecture %q", p.Name, p.Arch)
		}
		if evr, err := ParseEVR(p.Version); err != nil || evr.Release == "" || len(p.Version) > 200 {
			return patchbay.Errorf(patchbay.EINVALID, "%s: invalid RPM version %q (want [epoch:]version-release)", p.Name, p.Version)
		}
	}
	return nil
}

// nevra is how dnf names one exact package: name-[epoch:]version-release
// and ".arch" when one is planned.
func nevra(p patchbay.PackageVersion) string {
	s := p.Name + "-" + p.Version
	if p.Arch != "" {
		s += "." + p.Arch
	}
	return s
}

// Install installs exactly pkgs with `dnf install NEVRA...` (yum on EL7),
// without weak dependencies. dnf resolves the whole transaction before it
// changes anything, so a planned version that no repository has fails the
// install, with that reason, and installs nothing. A planned version older
// than the installed one is refused before dnf runs: a plan never
// downgrades.
func (m *Manager) Install(ctx context.Context, pkgs []patchbay.PackageVersion) ([]byte, error) {
	if err := m.Validate(pkgs); err != nil {
		return nil, err
	}
	current, err := m.Installed(ctx, pkgs)
	if err != nil {
		return nil, err
	}
	for i, p := range pkgs {
		if v := current[i].Version; v != "" && newer(v, p.Version) {
			return nil, fmt.Errorf("%s is at %s, newer than the planned %s: a plan never downgrades", label(p), v, p.Version)
		}
	}
	args := []string{"-y", "--setopt=install_weak_deps=False", "install"}
	for _, p := range pkgs {
		args = append(args, nevra(p))
	}
	c := m.toolCmd(installTimeout, args...)
	res, err := m.r.Run(ctx, c)
	out := append(append([]byte{}, res.Stdout...), res.Stderr...)
	if err != nil {
		return out, fmt.Errorf("%s install: %w", m.tool, err)
	}
	if res.ExitCode != 0 {
		if missing := unmatched(out); len(missing) > 0 {
			return out, fmt.Errorf("not available from any source: %s", strings.Join(missing, ", "))
		}
		return out, fmt.Errorf("%s install: exit %d: %s", m.tool, res.ExitCode, lastLine(append(res.Stdout, res.Stderr...)))
	}
	return out, nil
}

// InstallDowngrading installs exactly pkgs like Install, but a planned
// version older than the installed one is installed with `dnf downgrade
// NEVRA...` (dnf install refuses downgrades), in a transaction of its own
// before the others are installed. A rollback job uses it.
func (m *Manager) InstallDowngrading(ctx context.Context, pkgs []patchbay.PackageVersion) ([]byte, error) {
	if err := m.Validate(pkgs); err != nil {
		return nil, err
	}
	current, err := m.Installed(ctx, pkgs)
	if err != nil {
		return nil, err
	}
	var older, rest []patchbay.PackageVersion
	for i, p := range pkgs {
		if v := current[i].Version; v != "" && newer(v, p.Version) {
			older = append(older, p)
		} else {
			rest = append(rest, p)
		}
	}
	var out []byte
	if len(older) > 0 {
		args := []string{"-y", "--setopt=install_weak_deps=False", "downgrade"}
		for _, p := range older {
			args = append(args, nevra(p))
		}
		res, err := m.r.Run(ctx, m.toolCmd(installTimeout, args...))
		out = append(append(out, res.Stdout...), res.Stderr...)
		if err != nil {
			return out, fmt.Errorf("%s downgrade: %w", m.tool, err)
		}
		if res.ExitCode != 0 {
			if missing := unmatched(out); len(missing) > 0 {
				return out, fmt.Errorf("not available from any source: %s", strings.Join(missing, ", "))
			}
			return out, fmt.Errorf("%s downgrade: exit %d: %s", m.tool, res.ExitCode, lastLine(append(res.Stdout, res.Stderr...)))
		}
	}
	if len(rest) == 0 {
		return out, nil
	}
	o, err := m.Install(ctx, rest)
	return append(out, o...), err
}

// unmatched lists the arguments dnf or yum found in no repository:
// "No match for argument: X" (dnf 4), "No package X available." (yum 3).
func unmatched(out []byte) []string {
	var missing []string
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "No match for argument: "); ok {
			missing = append(missing, v)
		} else if v, ok := strings.CutPrefix(line, "No package "); ok && strings.HasSuffix(v, " available.") {
			missing = append(missing, strings.TrimSuffix(v, " available."))
		}
	}
	return missing
}

func label(p patchbay.PackageVersion) string {
	if p.Arch == "" {
		return p.Name
	}
	return p.Name + "." + p.Arch
}

// Repair has nothing to do on RPM systems: an rpm transaction that dies
// leaves no half-configured state for a command to finish (yum's
// yum-complete-transaction is not run).
func (m *Manager) Repair(context.Context) (bool, []byte, error) { return false, nil, nil }

// Installed asks rpm for the installed instances of each name and
// returns, for each of pkgs, the planned version when it is among them,
// else the newest installed one, else "".
func (m *Manager) Installed(ctx context.Context, pkgs []patchbay.PackageVersion) ([]patchbay.PackageVersion, error) {
	if err := m.Validate(pkgs); err != nil {
		return nil, err
	}
	args := m.rpmArgs("-q", "--queryformat", queryFormat, "--")
	seen := map[string]bool{}
	for _, p := range pkgs {
		if !seen[p.Name] {
			args = append(args, p.Name)
			seen[p.Name] = true
		}
	}
	// rpm exits with the number of names not installed, and says so on
	// stdout: "package NAME is not installed".
	res, err := m.r.Run(ctx, pkgmgr.Cmd{Path: "rpm", Args: args, Timeout: queryTimeout})
	if err != nil {
		return nil, fmt.Errorf("rpm -q: %w", err)
	}
	var records []byte
	for _, line := range strings.SplitAfter(string(res.Stdout), "\n") {
		if strings.HasPrefix(line, "package ") && strings.HasSuffix(strings.TrimSpace(line), " is not installed") {
			continue
		}
		records = append(records, line...)
	}
	if res.ExitCode != 0 && len(strings.TrimSpace(string(res.Stderr))) > 0 {
		return nil, fmt.Errorf("rpm -q: exit %d: %s", res.ExitCode, lastLine(res.Stderr))
	}
	found, err := parseQuery(records)
	if err != nil {
		return nil, fmt.Errorf("rpm -q: %w", err)
	}
	out := make([]patchbay.PackageVersion, len(pkgs))
	for i, p := range pkgs {
		out[i] = patchbay.PackageVersion{Name: p.Name, Arch: p.Arch}
		for _, f := range found {
			if f.Name != p.Name || p.Arch != "" && f.Arch != p.Arch {
				continue
			}
			if out[i].Version == "" || f.Version == p.Version || out[i].Version != p.Version && newer(f.Version, out[i].Version) {
				out[i] = patchbay.PackageVersion{Name: f.Name, Arch: f.Arch, Version: f.Version}
			}
		}
	}
	return out, nil
}
