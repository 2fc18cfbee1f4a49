package deb

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/pkgmgr"
)

// policyUpdates asks `apt-cache policy` about pkgs and returns those whose
// candidate is newer than the installed version, with origins built from
// the package files of `apt-cache policy` the way apt builds them for
// "Inst" lines.
func (m *Manager) policyUpdates(ctx context.Context, pkgs []patchbay.Package, idx packageIndex) ([]patchbay.Update, error) {
	if len(pkgs) == 0 {
		return nil, nil
	}
	want := make(map[string]bool, len(pkgs))
	args := append(m.aptOptions(), "policy")
	for _, p := range pkgs {
		if !validName(p.Name) || !validName(p.Arch) {
			return nil, fmt.Errorf("apt-cache policy: invalid package %q", p.Key())
		}
		want[p.Key()] = true
		args = append(args, p.Key())
	}
	res, err := m.run.Run(ctx, pkgmgr.Cmd{Path: "apt-cache", Args: args, Env: aptEnv(), Timeout: queryTimeout})
	if err != nil {
		return nil, fmt.Errorf("apt-cache policy: %w", err)
	}
	if res.ExitCode != 0 {
		return nil, fmt.Errorf("apt-cache policy: exit %d: %s", res.ExitCode, aptErrors(res))
	}
	entries, err := parsePolicy(res.Stdout)
	if err != nil {
		return nil, err
	}
	var (
		updates []patchbay.Update
		sources [][]string
	)
	for _, e := range entries {
		pkg, ok := idx.lookup(e.name, e.qual)
		if !ok || !want[pkg.Key()] || e.candidate == "(none)" || e.installed == "(none)" || !newer(e.candidate, e.installed) {
			continue
		}
		want[pkg.Key()] = false // once
		updates = append(updates, patchbay.Update{
			Name:             pkg.Name,
			Arch:             pkg.Arch,
			InstalledVersion: e.installed,
			CandidateVersion: e.candidate,
		})
		sources = append(sources, e.sources[e.candidate])
	}
	if len(updates) == 0 {
		return nil, nil
	}
	res, err = m.run.Run(ctx, pkgmgr.Cmd{Path: "apt-cache", Args: append(m.aptOptions(), "policy"), Env: aptEnv(), Timeout: queryTimeout})
	if err != nil {
		return nil, fmt.Errorf("apt-cache policy: %w", err)
	}
	if res.ExitCode != 0 {
		return nil, fmt.Errorf("apt-cache policy: exit %d: %s", res.ExitCode, aptErrors(res))
	}
	files := parsePolicyFiles(res.Stdout)
	for i := range updates {
		updates[i].Origin = relStr(sources[i], files)
		updates[i].Security = isSecurity(updates[i].Origin)
	}
	return updates, nil
}

// policyEntry is what `apt-cache policy NAME` says about one package.
type policyEntry struct {
	name, qual           string
	installed, candidate string              // "(none)" when there is none
	sources              map[string][]string // version -> package files, in apt's order
}

// parsePolicy reads the per-package output of `apt-cache policy NAMES`:
//
//	pb-demo:i386:
//	  Installed: 1.0-1
//	  Candidate: 1.0-2
//	  Version table:
//	     1.0-2 500
//	        500 file:/srv/pbrepo ./ Packages
//	 *** 1.0-1 100
//	        100 /var/lib/dpkg/status
//
// The header names a package as apt prints it (no ":arch" for the native
// architecture and "all"); version lines are indented 5 (or " *** " for the
// installed one), package files 8.
func parsePolicy(out []byte) ([]policyEntry, error) {
	var (
		entries []policyEntry
		cur     *policyEntry
		ver     string
	)
	for n, line := range strings.Split(string(out), "\n") {
		line = strings.TrimRight(line, "\r ")
		if line == "" {
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " "))
		text := strings.TrimSpace(line)
		switch {
		case indent == 0:
			full, ok := strings.CutSuffix(line, ":")
			if !ok || strings.ContainsAny(full, " \t") {
				return nil, fmt.Errorf("parse apt-cache policy: line %d: unexpected %q", n+1, truncate(line, 80))
			}
			name, qual, _ := strings.Cut(full, ":")
			if !validName(name) || qual != "" && !validName(qual) {
				return nil, fmt.Errorf("parse apt-cache policy: line %d: invalid package %q", n+1, full)
			}
			entries = append(entries, policyEntry{name: name, qual: qual, sources: map[string][]string{}})
			cur, ver = &entries[len(entries)-1], ""
		case cur == nil:
			return nil, fmt.Errorf("parse apt-cache policy: line %d: %q before any package", n+1, truncate(line, 80))
		case indent == 2:
			if v, ok := strings.CutPrefix(text, "Installed:"); ok {
				cur.installed = strings.TrimSpace(v)
			} else if v, ok := strings.CutPrefix(text, "Candidate:"); ok {
				cur.candidate = strings.TrimSpace(v)
			}
		case strings.HasPrefix(text, "*** ") || indent >= 3 && indent <= 5:
			f := strings.Fields(strings.TrimPrefix(text, "*** "))
			if len(f) < 2 {
				return nil, fmt.Errorf("parse apt-cache policy: line %d: bad version line %q", n+1, truncate(line, 80))
			}
			ver = f[0]
		default: // a package file of the current version: "PRIO SOURCE"
			prio, src, ok := strings.Cut(text, " ")
			if !ok || ver == "" || strings.Trim(prio, "-0123456789") != "" {
				return nil, fmt.Errorf("parse apt-cache policy: line %d: bad package file line %q", n+1, truncate(line, 80))
			}
			cur.sources[ver] = append(cur.sources[ver], strings.TrimSpace(src))
		}
	}
	for _, e := range entries {
		if e.installed == "" || e.candidate == "" {
			return nil, fmt.Errorf("parse apt-cache policy: %s: no Installed or Candidate line", e.name)
		}
	}
	return entries, nil
}

// packageFile is one index apt reads, from the "Package files" table of
// `apt-cache policy`.
type packageFile struct {
	release map[string]string // v, o, a, n, l, c, b
	site    string            // the "origin" line: the host it came from
}

// parsePolicyFiles reads the "Package files" table of `apt-cache policy`
// (no arguments), by package file as the per-package output names it:
//
//	Package files:
//	 100 /var/lib/dpkg/status
//	     release a=now
//	 500 http://deb.debian.org/debian-security bookworm-security/main amd64 Packages
//	     release v=12,o=Debian,a=oldstable-security,n=bookworm-security,l=Debian-Security,c=main,b=amd64
//	     origin deb.debian.org
//	Pinned packages:
func parsePolicyFiles(out []byte) map[string]packageFile {
	files := map[string]packageFile{}
	var cur string
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimRight(line, "\r ")
		if line == "" {
			continue
		}
		if line[0] != ' ' {
			cur = ""
			if line == "Pinned packages:" {
				break
			}
			continue
		}
		text := strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(text, "release "); ok && cur != "" {
			f := files[cur]
			for _, kv := range strings.Split(v, ",") {
				k, val, _ := strings.Cut(kv, "=")
				f.release[k] = val
			}
			files[cur] = f
			continue
		}
		if v, ok := strings.CutPrefix(text, "origin "); ok && cur != "" {
			f := files[cur]
			f.site = v
			files[cur] = f
			continue
		}
		if prio, src, ok := strings.Cut(text, " "); ok && strings.Trim(prio, "-0123456789") == "" {
			cur = strings.TrimSpace(src)
			files[cur] = packageFile{release: map[string]string{}}
		}
	}
	return files
}

// relStr describes a version by the package files it is in, as apt's
// pkgCache::VerIterator::RelStr does for "Inst" lines (without the
// "[arch]"): per file "Label:Version/Archive" (parts left out when the
// Release file lacks them; the site, or "localhost", when there is no
// archive), without duplicates, joined by ", ". The dpkg status file is
// not a source and is left out.
func relStr(sources []string, files map[string]packageFile) string {
	var parts []string
	for _, src := range sources {
		f, ok := files[src]
		if !ok || strings.HasSuffix(src, "/dpkg/status") {
			continue
		}
		var s string
		if l := f.release["l"]; l != "" {
			s = l + ":"
		}
		switch a, v := f.release["a"], f.release["v"]; {
		case a != "" && v != "":
			s += v + "/" + a
		case a != "":
			s += a
		case f.site != "":
			s += f.site
		default:
			s += "localhost"
		}
		if !slices.Contains(parts, s) {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ", ")
}
