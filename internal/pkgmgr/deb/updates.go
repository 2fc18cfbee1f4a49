package deb

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/debversion"
	"github.com/patchbay/patchbay/internal/pkgmgr"
)

// Updates lists the pending updates of present packages: what
// `apt list --upgradable` shows, each with the origin apt prints and
// marked security when any origin is a security archive (isSecurity).
//
// The list comes from a simulated `apt-get dist-upgrade`, whose "Inst"
// lines carry the origins. dist-upgrade rather than upgrade: it also plans
// updates that need a new package or a removal (a kernel ABI bump, a
// security fix that adds a dependency), which upgrade would keep back.
// Whatever the simulation still leaves out (held packages, packages kept
// back by conflicts, phased updates, or everything when the simulation
// fails, for instance on a host where dpkg was interrupted) is taken from
// `apt-cache policy`: any present package whose candidate version is newer
// than the installed one.
func (m *Manager) Updates(ctx context.Context) ([]patchbay.Update, error) {
	installed, err := m.Packages(ctx)
	if err != nil {
		return nil, err
	}
	native, err := m.nativeArch(ctx, installed)
	if err != nil {
		return nil, err
	}
	args := append(m.aptOptions(), "-s", "-o", "Debug::NoLocking=1", "dist-upgrade")
	sim, err := m.run.Run(ctx, pkgmgr.Cmd{Path: "apt-get", Args: args, Env: aptEnv(), Timeout: queryTimeout})
	if err != nil {
		return nil, fmt.Errorf("apt-get -s dist-upgrade: %w", err)
	}
	var planned []simInst
	if sim.ExitCode == 0 {
		planned, err = parseSimulation(sim.Stdout)
		if err != nil {
			return nil, err
		}
	}

	idx := newPackageIndex(installed, native)
	covered := map[string]bool{}
	var updates []patchbay.Update
	for _, s := range planned {
		pkg, ok := idx.lookup(s.name, s.qual)
		if !ok || covered[pkg.Key()] || !newer(s.candidate, s.installed) {
			continue
		}
		covered[pkg.Key()] = true
		updates = append(updates, patchbay.Update{
			Name:             pkg.Name,
			Arch:             pkg.Arch,
			InstalledVersion: s.installed,
			CandidateVersion: s.candidate,
			Origin:           s.origin,
			Security:         isSecurity(s.origin),
		})
	}
	var rest []patchbay.Package
	for _, p := range installed {
		if !covered[p.Key()] {
			rest = append(rest, p)
		}
	}
	more, err := m.policyUpdates(ctx, rest, idx)
	if err != nil {
		return nil, err
	}
	updates = append(updates, more...)
	slices.SortFunc(updates, func(a, b patchbay.Update) int { return strings.Compare(a.Key(), b.Key()) })
	return updates, nil
}

// newer reports whether candidate sorts after installed, or, when either
// version is one debversion refuses, whether they differ (an unknown order
// is reported rather than hidden).
func newer(candidate, installed string) bool {
	c, err := debversion.Compare(candidate, installed)
	if err != nil {
		return candidate != installed
	}
	return c > 0
}

// nativeArch is the architecture apt prints without a ":arch" qualifier:
// the architecture of the dpkg package itself, or what dpkg says.
func (m *Manager) nativeArch(ctx context.Context, installed []patchbay.Package) (string, error) {
	for _, p := range installed {
		if p.Name == "dpkg" && p.Arch != "all" {
			return p.Arch, nil
		}
	}
	res, err := m.run.Run(ctx, pkgmgr.Cmd{Path: "dpkg", Args: []string{"--print-architecture"}, Timeout: queryTimeout})
	if err != nil {
		return "", fmt.Errorf("dpkg --print-architecture: %w", err)
	}
	arch := string(bytes.TrimSpace(res.Stdout))
	if res.ExitCode != 0 || !validName(arch) {
		return "", fmt.Errorf("dpkg --print-architecture: exit %d: %q", res.ExitCode, arch)
	}
	return arch, nil
}

// packageIndex finds the present package apt means by a name as apt
// prints it: "name" for the native architecture or "all", "name:arch" for
// a foreign one.
type packageIndex struct {
	native string
	byKey  map[string]patchbay.Package
}

func newPackageIndex(pkgs []patchbay.Package, native string) packageIndex {
	idx := packageIndex{native: native, byKey: make(map[string]patchbay.Package, len(pkgs))}
	for _, p := range pkgs {
		idx.byKey[p.Key()] = p
	}
	return idx
}

func (x packageIndex) lookup(name, qual string) (patchbay.Package, bool) {
	if qual != "" {
		p, ok := x.byKey[name+":"+qual]
		return p, ok
	}
	if p, ok := x.byKey[name+":"+x.native]; ok {
		return p, true
	}
	p, ok := x.byKey[name+":all"]
	return p, ok
}

// isSecurity reports whether an origin as apt prints it
// ("Label:Version/Archive", several joined by ", ") names a security
// archive: label Debian-Security (Debian), or an archive (suite) ending in
// "-security" (Debian's bookworm-security, Ubuntu's jammy-security,
// Ubuntu ESM's jammy-apps-security).
func isSecurity(origin string) bool {
	for _, part := range strings.Split(origin, ", ") {
		label, rest, ok := strings.Cut(part, ":")
		if !ok {
			label, rest = "", part
		}
		archive := rest[strings.LastIndexByte(rest, '/')+1:]
		if label == "Debian-Security" || strings.HasSuffix(archive, "-security") {
			return true
		}
	}
	return false
}

// simInst is an "Inst" line of a simulation that upgrades a package.
type simInst struct {
	name, qual string // "libc6", "i386" for "libc6:i386"
	installed  string
	candidate  string
	origin     string // "Debian:12.14/oldstable, Debian-Security:12/oldstable-security"
	arch       string // the candidate's architecture, "amd64" or "all"
}

// parseSimulation reads the "Inst" lines of `apt-get -s dist-upgrade`
// (apt-pkg's pkgSimulate: name, [installed version], then the candidate's
// version, origins and architecture in parentheses, then a note on broken
// dependencies). Real lines, from bookworm hosts:
//
//	Inst perl-base [5.36.0-7+deb12u3] (5.36.0-7+deb12u4 Debian-Security:12/oldstable-security [amd64])
//	Inst libcups2 [2.4.2-3+deb12u8] (2.4.2-3+deb12u9 Debian:12.14/oldstable, Debian-Security:12/oldstable-security [amd64])
//	Inst libperl5.36 [5.36.0-7+deb12u2] (5.36.0-7+deb12u3 Debian:12.14/oldstable [amd64]) [perl:amd64 ]
//	Inst pb-demo:i386 [1.0-1] (1.0-2 PB-Lab:1.0/lab [i386])
//	Inst pb-newdep (0.1-1 PB-Lab:1.0/lab [all])
//
// The last is a new package (no installed version), not an update, and is
// left out. A line that starts with "Inst " but does not read this way is
// an error, so a change of format is noticed rather than taken for "no
// updates".
func parseSimulation(out []byte) ([]simInst, error) {
	var insts []simInst
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSuffix(line, "\r")
		rest, ok := strings.CutPrefix(line, "Inst ")
		if !ok {
			continue
		}
		s, isUpgrade, err := parseInst(rest)
		if err != nil {
			return nil, fmt.Errorf("parse apt-get -s output: %w: %q", err, truncate(line, 200))
		}
		if isUpgrade {
			insts = append(insts, s)
		}
	}
	return insts, nil
}

func parseInst(rest string) (s simInst, isUpgrade bool, err error) {
	full, rest, ok := strings.Cut(rest, " ")
	if !ok {
		return s, false, fmt.Errorf("no version")
	}
	s.name, s.qual, _ = strings.Cut(full, ":")
	if !validName(s.name) || s.qual != "" && !validName(s.qual) {
		return s, false, fmt.Errorf("invalid package name %q", full)
	}
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return s, false, fmt.Errorf("unclosed installed version")
		}
		s.installed = rest[1:end]
		if !validWord(s.installed) {
			return s, false, fmt.Errorf("invalid installed version")
		}
		rest = strings.TrimPrefix(rest[end+1:], " ")
		isUpgrade = true
	}
	if !strings.HasPrefix(rest, "(") {
		return s, false, fmt.Errorf("no candidate")
	}
	end := strings.Index(rest, "])")
	if end < 0 {
		return s, false, fmt.Errorf("unclosed candidate")
	}
	cand := rest[1 : end+1] // "1.0-2 PB-Lab:1.0/lab [i386]"
	s.candidate, cand, _ = strings.Cut(cand, " ")
	open := strings.LastIndex(cand, "[")
	if open < 0 || !validWord(s.candidate) {
		return s, false, fmt.Errorf("invalid candidate")
	}
	s.arch = cand[open+1 : len(cand)-1]
	s.origin = strings.TrimSpace(cand[:open])
	if !validName(s.arch) {
		return s, false, fmt.Errorf("invalid architecture %q", s.arch)
	}
	return s, isUpgrade, nil
}
