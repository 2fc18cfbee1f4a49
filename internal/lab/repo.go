package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
)

// LabSuite is the flat suite of packages tests publish, served at
// http://169.254.77.1/lab and named in every host's sources.list.
const LabSuite = "lab"

// DebSpec describes a package a test publishes into the lab repository.
type DebSpec struct {
	Name        string
	Version     string
	Arch        string   // "" means "all"
	Depends     []string // control syntax each, e.g. "demo-lib (>= 1.0)"
	Description string   // "" gives a generated one

	// Maintainer scripts: a body without "#!" runs under "#!/bin/sh" with
	// "set -e".
	Preinst, Postinst, Prerm, Postrm string

	// Conffiles are files (absolute path → content) marked as conffiles,
	// so dpkg keeps a host's local edit on upgrade.
	Conffiles map[string]string
	// Files are the other files (absolute path → content); content that
	// starts with "#!" is installed executable.
	Files map[string]string
}

// Package names and versions as Debian allows them (upstream and revision
// characters, optional epoch).
var (
	debNameRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)
	debVersionRE = regexp.MustCompile(`^([0-9]+:)?[0-9][A-Za-z0-9.+~-]*$`)
	debArchRE    = regexp.MustCompile(`^[a-z0-9-]+$`)
)

func (s DebSpec) validate() error {
	if !debNameRE.MatchString(s.Name) {
		return fmt.Errorf("invalid package name %q", s.Name)
	}
	if !debVersionRE.MatchString(s.Version) {
		return fmt.Errorf("invalid version %q of %s", s.Version, s.Name)
	}
	if s.Arch != "" && !debArchRE.MatchString(s.Arch) {
		return fmt.Errorf("invalid architecture %q of %s", s.Arch, s.Name)
	}
	for p := range s.Files {
		if _, dup := s.Conffiles[p]; dup {
			return fmt.Errorf("%s: %s is both a file and a conffile", s.Name, p)
		}
	}
	for _, m := range []map[string]string{s.Files, s.Conffiles} {
		for p := range m {
			if !filepath.IsAbs(p) || filepath.Clean(p) != p || strings.HasPrefix(p, "/DEBIAN") {
				return fmt.Errorf("%s: file path %q must be absolute and clean", s.Name, p)
			}
		}
	}
	return nil
}

func (s DebSpec) arch() string {
	if s.Arch == "" {
		return "all"
	}
	return s.Arch
}

// fileName is the pool file name of the package, as dpkg-name makes it.
func (s DebSpec) fileName() string {
	v := strings.ReplaceAll(s.Version, ":", "%3a")
	return s.Name + "_" + v + "_" + s.arch() + ".deb"
}

// control is the DEBIAN/control file.
func (s DebSpec) control() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Package: %s\nVersion: %s\nArchitecture: %s\n", s.Name, s.Version, s.arch())
	b.WriteString("Maintainer: Patchbay Lab <lab@patchbay.invalid>\nSection: misc\nPriority: optional\n")
	if len(s.Depends) > 0 {
		fmt.Fprintf(&b, "Depends: %s\n", strings.Join(s.Depends, ", "))
	}
	desc := s.Description
	if desc == "" {
		desc = "Patchbay lab test package " + s.Name
	}
	fmt.Fprintf(&b, "Description: %s\n", strings.ReplaceAll(strings.TrimSpace(desc), "\n", "\n "))
	return b.String()
}

// Repo is the lab's apt repository, served over HTTP at http://169.254.77.1/
// from inside the lab: the real pending Debian updates (debian,
// debian-security, debian-updates) and the flat suite tests publish into.
type Repo struct {
	dir string // served root
	mu  sync.Mutex
}

// URL is the base URL of the flat suite tests publish into.
func (r *Repo) URL() string { return "http://" + RepoIP + "/" + LabSuite }

// Dir is the directory the repository is served from.
func (r *Repo) Dir() string { return r.dir }

// newRepo prepares dir with an empty, indexed lab suite.
func newRepo(ctx context.Context, dir string) (*Repo, error) {
	r := &Repo{dir: dir}
	if err := os.MkdirAll(r.suiteDir(), 0o755); err != nil {
		return nil, fmt.Errorf("create repo: %w", err)
	}
	if err := r.index(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Repo) suiteDir() string { return filepath.Join(r.dir, LabSuite) }

// Publish builds each package and (re)indexes the lab suite, so the next
// `apt-get update` in a host sees them. Publishing a version again
// replaces it; older versions of a package stay published.
func (r *Repo) Publish(ctx context.Context, specs ...DebSpec) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range specs {
		if err := s.validate(); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		if err := r.build(ctx, s); err != nil {
			return fmt.Errorf("publish %s %s: %w", s.Name, s.Version, err)
		}
	}
	return r.index(ctx)
}

// Unpublish removes one version of a package from the lab suite.
func (r *Repo) Unpublish(ctx context.Context, name, version string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := DebSpec{Name: name, Version: version}
	if err := s.validate(); err != nil {
		return fmt.Errorf("unpublish: %w", err)
	}
	matches, err := filepath.Glob(filepath.Join(r.suiteDir(), name+"_"+strings.ReplaceAll(version, ":", "%3a")+"_*.deb"))
	if err != nil {
		return fmt.Errorf("unpublish: %w", err)
	}
	if len(matches) == 0 {
		return fmt.Errorf("unpublish %s %s: not published", name, version)
	}
	for _, m := range matches {
		if err := os.Remove(m); err != nil {
			return fmt.Errorf("unpublish: %w", err)
		}
	}
	return r.index(ctx)
}

// build makes the .deb of s in the suite directory.
func (r *Repo) build(ctx context.Context, s DebSpec) error {
	tmp, err := os.MkdirTemp(r.dir, ".build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	pkg := filepath.Join(tmp, "pkg")
	write := func(rel, content string, mode os.FileMode) error {
		p := filepath.Join(pkg, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			return err
		}
		return os.Chmod(p, mode)
	}
	if err := write("DEBIAN/control", s.control(), 0o644); err != nil {
		return err
	}
	scripts := map[string]string{"preinst": s.Preinst, "postinst": s.Postinst, "prerm": s.Prerm, "postrm": s.Postrm}
	for name, body := range scripts {
		if body == "" {
			continue
		}
		if !strings.HasPrefix(body, "#!") {
			body = "#!/bin/sh\nset -e\n" + body
		}
		if !strings.HasSuffix(body, "\n") {
			body += "\n"
		}
		if err := write("DEBIAN/"+name, body, 0o755); err != nil {
			return err
		}
	}
	for _, p := range sortedKeys(s.Files) {
		mode := os.FileMode(0o644)
		if strings.HasPrefix(s.Files[p], "#!") {
			mode = 0o755
		}
		if err := write(p, s.Files[p], mode); err != nil {
			return err
		}
	}
	if len(s.Conffiles) > 0 {
		keys := sortedKeys(s.Conffiles)
		for _, p := range keys {
			if err := write(p, s.Conffiles[p], 0o644); err != nil {
				return err
			}
		}
		if err := write("DEBIAN/conffiles", strings.Join(keys, "\n")+"\n", 0o644); err != nil {
			return err
		}
	}
	out := filepath.Join(tmp, s.fileName())
	if _, err := runArgs(ctx, "dpkg-deb", "--build", "--root-owner-group", "-Zgzip", pkg, out); err != nil {
		return err
	}
	return os.Rename(out, filepath.Join(r.suiteDir(), s.fileName()))
}

// index writes Packages and Release of the flat lab suite, each replaced
// atomically.
func (r *Repo) index(ctx context.Context) error {
	dir := r.suiteDir()
	pk, err := run(ctx, command{argv: []string{"apt-ftparchive", "packages", "."}, dir: dir})
	if err != nil {
		return fmt.Errorf("index lab suite: %w", err)
	}
	if err := writeAtomic(filepath.Join(dir, "Packages"), pk); err != nil {
		return fmt.Errorf("index lab suite: %w", err)
	}
	rel, err := run(ctx, command{argv: releaseArgv(releaseFields{
		Origin: "Patchbay Lab", Label: "Patchbay-Lab", Suite: LabSuite, Codename: LabSuite,
	}), dir: dir})
	if err != nil {
		return fmt.Errorf("index lab suite: %w", err)
	}
	if err := writeAtomic(filepath.Join(dir, "Release"), rel); err != nil {
		return fmt.Errorf("index lab suite: %w", err)
	}
	return nil
}

// releaseFields are the fields of a Release file that apt shows as an
// update's origin ("Debian-Security:12/oldstable-security").
type releaseFields struct {
	Origin, Label, Suite, Codename, Version string
	Architectures, Components               string
}

// releaseArgv is the apt-ftparchive command that prints the Release file
// of the current directory.
func releaseArgv(f releaseFields) []string {
	// Index files only: by default the old Release would list itself.
	argv := []string{"apt-ftparchive", "-o", "APT::FTPArchive::Release::Default-Patterns=false",
		"-o", "APT::FTPArchive::Release::Patterns::=Packages*"}
	for _, kv := range [][2]string{
		{"Origin", f.Origin}, {"Label", f.Label}, {"Suite", f.Suite}, {"Codename", f.Codename},
		{"Version", f.Version}, {"Architectures", f.Architectures}, {"Components", f.Components},
	} {
		if kv[1] != "" {
			argv = append(argv, "-o", "APT::FTPArchive::Release::"+kv[0]+"="+kv[1])
		}
	}
	return append(argv, "release", ".")
}

// writeAtomic replaces path with data through a temporary file and rename,
// so the HTTP server never serves half a file.
func writeAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return errors.Join(err, os.Remove(tmp))
	}
	return nil
}
