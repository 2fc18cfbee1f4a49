package deb

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/pkgmgr"
)

var _ pkgmgr.ChangelogReader = (*Manager)(nil)

// Limits of a changelog fetch.
const (
	downloadTimeout = 5 * time.Minute
	extractTimeout  = 2 * time.Minute
	// maxDeb bounds the .deb whose file tree is read (into memory, as
	// dpkg-deb --fsys-tarfile prints it): the smallest candidate binary is
	// chosen, so only sources whose every binary is large (a kernel
	// image) hit it.
	maxDeb = 64 << 20
	// maxDocHops bounds how often a symlinked doc directory is followed
	// to another package.
	maxDocHops = 2
)

// Changelog downloads a candidate package with `apt-get download
// name=version` into a temporary directory (nothing is installed) and
// returns its Debian changelog: usr/share/doc/<pkg>/changelog.Debian.gz,
// or changelog.gz for a native package, decompressed and cut after
// patchbay.MaxChangelogBytes. pkgs are binaries of one source at one
// version; the smallest (by apt-cache's Size) is read. A doc directory
// that is a symlink to another package's (libfoo-dev -> libfoo1) is
// followed by downloading that package at the same version.
func (m *Manager) Changelog(ctx context.Context, pkgs []patchbay.PackageVersion) (patchbay.ChangelogFile, error) {
	if err := m.Validate(pkgs); err != nil {
		return patchbay.ChangelogFile{}, err
	}
	p := m.smallest(ctx, pkgs)
	dir, err := os.MkdirTemp("", "patchbay-changelog-")
	if err != nil {
		return patchbay.ChangelogFile{}, fmt.Errorf("changelog: %w", err)
	}
	defer os.RemoveAll(dir)
	for hop := 0; ; hop++ {
		deb, err := m.download(ctx, dir, p)
		if err != nil {
			return patchbay.ChangelogFile{}, err
		}
		f, link, err := m.readDeb(ctx, deb, p.Name)
		if err != nil || link == "" {
			return f, err
		}
		if hop == maxDocHops {
			return patchbay.ChangelogFile{}, fmt.Errorf("changelog of %s: doc directories link more than %d times", pkgs[0].Name, maxDocHops)
		}
		// The doc dir belongs to another binary of the same source.
		p = patchbay.PackageVersion{Name: link, Arch: p.Arch, Version: p.Version}
		if err := m.Validate([]patchbay.PackageVersion{p}); err != nil {
			return patchbay.ChangelogFile{}, fmt.Errorf("changelog: doc directory links to %q: %w", link, err)
		}
		if err := os.Remove(deb); err != nil {
			return patchbay.ChangelogFile{}, fmt.Errorf("changelog: %w", err)
		}
	}
}

// smallest picks the candidate with the smallest download, by what
// apt-cache show says; the first one when apt-cache cannot tell.
func (m *Manager) smallest(ctx context.Context, pkgs []patchbay.PackageVersion) patchbay.PackageVersion {
	if len(pkgs) == 1 {
		return pkgs[0]
	}
	args := append(m.aptOptions(), "show", "--no-all-versions")
	for _, p := range pkgs {
		args = append(args, aptArg(p))
	}
	res, err := m.run.Run(ctx, pkgmgr.Cmd{Path: "apt-cache", Args: args, Env: aptEnv(), Timeout: queryTimeout})
	if err != nil || res.ExitCode != 0 {
		return pkgs[0]
	}
	paras, err := parseControl(res.Stdout)
	if err != nil {
		return pkgs[0]
	}
	best, bestSize := pkgs[0], int64(-1)
	for _, p := range pkgs {
		for _, para := range paras {
			if para.get("Package") != p.Name || para.get("Version") != p.Version {
				continue
			}
			if size, err := strconv.ParseInt(para.get("Size"), 10, 64); err == nil && (bestSize < 0 || size < bestSize) {
				best, bestSize = p, size
			}
		}
	}
	return best
}

// download fetches p's .deb into dir and returns its path.
func (m *Manager) download(ctx context.Context, dir string, p patchbay.PackageVersion) (string, error) {
	// As root, apt would drop to _apt for the download, which cannot
	// write to a 0700 temporary directory: download as the caller.
	args := append(m.aptOptions(), "-q", "-o", "APT::Sandbox::User=root", "download", aptArg(p))
	res, err := m.run.Run(ctx, pkgmgr.Cmd{Path: "apt-get", Args: args, Env: aptEnv(), Dir: dir, Timeout: downloadTimeout})
	if err != nil {
		return "", fmt.Errorf("apt-get download %s: %w", aptArg(p), err)
	}
	if res.ExitCode != 0 {
		return "", fmt.Errorf("apt-get download %s: exit %d: %s", aptArg(p), res.ExitCode, aptErrors(res))
	}
	debs, err := filepath.Glob(filepath.Join(dir, "*.deb"))
	if err != nil {
		return "", err
	}
	if len(debs) != 1 {
		return "", fmt.Errorf("apt-get download %s: %d .deb files downloaded, want 1", aptArg(p), len(debs))
	}
	return debs[0], nil
}

// readDeb reads the changelog of package pkg from the .deb at deb, with
// the package's source from its control file. link is set instead when
// the package's doc directory is a symlink to another package's.
func (m *Manager) readDeb(ctx context.Context, deb, pkg string) (f patchbay.ChangelogFile, link string, err error) {
	fi, err := os.Stat(deb)
	if err != nil {
		return f, "", fmt.Errorf("changelog: %w", err)
	}
	if fi.Size() > maxDeb {
		return f, "", fmt.Errorf("changelog: %s is %d MiB, more than the %d MiB read", filepath.Base(deb), fi.Size()>>20, maxDeb>>20)
	}
	res, err := m.run.Run(ctx, pkgmgr.Cmd{Path: "dpkg-deb", Args: []string{"--field", deb, "Package", "Version", "Source"}, Timeout: extractTimeout})
	if err == nil && res.ExitCode != 0 {
		err = fmt.Errorf("exit %d: %s", res.ExitCode, lastLines(res, 3))
	}
	if err != nil {
		return f, "", fmt.Errorf("dpkg-deb --field %s: %w", filepath.Base(deb), err)
	}
	paras, err := parseControl(res.Stdout)
	if err != nil || len(paras) != 1 {
		return f, "", fmt.Errorf("dpkg-deb --field %s: unreadable control fields: %v", filepath.Base(deb), err)
	}
	f.Package, f.Version = paras[0].get("Package"), paras[0].get("Version")
	if f.Package != pkg {
		return f, "", fmt.Errorf("changelog: %s holds package %q, not %q", filepath.Base(deb), f.Package, pkg)
	}
	if f.Source, f.SourceVersion, err = parseSource(paras[0].get("Source"), f.Package, f.Version); err != nil {
		return f, "", fmt.Errorf("changelog: %s: %w", filepath.Base(deb), err)
	}
	res, err = m.run.Run(ctx, pkgmgr.Cmd{Path: "dpkg-deb", Args: []string{"--fsys-tarfile", deb}, Timeout: extractTimeout})
	if err == nil && res.ExitCode != 0 {
		err = fmt.Errorf("exit %d: %s", res.ExitCode, lastLines(res, 3))
	}
	if err != nil {
		return f, "", fmt.Errorf("dpkg-deb --fsys-tarfile %s: %w", filepath.Base(deb), err)
	}
	c, err := extractChangelog(bytes.NewReader(res.Stdout), pkg, patchbay.MaxChangelogBytes)
	if err != nil {
		return f, "", fmt.Errorf("changelog of %s %s: %w", f.Package, f.Version, err)
	}
	f.Path, f.Text, f.Truncated = c.path, c.text, c.truncated
	return f, c.link, nil
}

// extracted is what extractChangelog found in a package's file tree.
type extracted struct {
	path      string // "usr/share/doc/PKG/changelog.Debian.gz"
	text      string
	truncated bool
	link      string // the package whose doc directory PKG's links to
}

var errNoChangelog = errors.New("the package ships no usr/share/doc/<package>/changelog.Debian.gz or changelog.gz")

// extractChangelog reads a package's file tree (a tar stream, as
// dpkg-deb --fsys-tarfile prints it) for the changelog of package pkg:
// usr/share/doc/PKG/changelog.Debian.gz, else changelog.gz (a native
// package's), gunzipped and cut after max bytes at a line end. A doc
// directory, or changelog file, that is a symlink into another package's
// doc directory gives that package as link instead.
func extractChangelog(r io.Reader, pkg string, max int) (extracted, error) {
	doc := "usr/share/doc/" + pkg
	names := []string{doc + "/changelog.Debian.gz", doc + "/changelog.gz"} // by preference
	found := map[string]extracted{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return extracted{}, fmt.Errorf("read package files: %w", err)
		}
		name := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		switch {
		case name == doc && h.Typeflag == tar.TypeSymlink:
			if other, ok := docLink(doc, h.Linkname); ok {
				return extracted{link: other}, nil
			}
			return extracted{}, fmt.Errorf("%s links to %q, outside usr/share/doc", doc, h.Linkname)
		case !slices.Contains(names, name):
		case h.Typeflag == tar.TypeSymlink:
			// changelog.Debian.gz -> ../libfoo1/changelog.Debian.gz
			if other, ok := docLink(name, path.Dir(h.Linkname)); ok && other != pkg {
				found[name] = extracted{link: other}
			}
		case h.Typeflag == tar.TypeReg:
			text, truncated, err := gunzipText(tr, max)
			if err != nil {
				return extracted{}, fmt.Errorf("%s: %w", name, err)
			}
			found[name] = extracted{path: name, text: text, truncated: truncated}
		}
	}
	for _, n := range names {
		if e, ok := found[n]; ok {
			return e, nil
		}
	}
	return extracted{}, errNoChangelog
}

// docLink resolves a symlink at usr/share/doc/X (or in it) to the name of
// the package whose doc directory it points to.
func docLink(from, target string) (string, bool) {
	if target == "" {
		return "", false
	}
	var p string
	if strings.HasPrefix(target, "/") {
		p = path.Clean(target)[1:]
	} else {
		p = path.Clean(path.Join(path.Dir(from), target))
	}
	dir, name := path.Split(p)
	if dir != "usr/share/doc/" || name == "" || name == path.Base(from) && path.Dir(from) == "usr/share/doc" {
		return "", false
	}
	return name, true
}

// gunzipText decompresses r, keeping at most max bytes cut at the last
// line end; truncated says whether there was more.
func gunzipText(r io.Reader, max int) (string, bool, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return "", false, err
	}
	b, err := io.ReadAll(io.LimitReader(zr, int64(max)+1))
	if err != nil {
		return "", false, err
	}
	if len(b) <= max {
		return string(b), false, nil
	}
	b = b[:max]
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[:i+1]
	}
	return string(b), true, nil
}
