package lab

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Where the base image comes from. The suite is bookworm alone, so the image
// is deliberately old: real updates from bookworm-security and
// bookworm-updates are pending in it.
const (
	debianMirror   = "http://deb.debian.org/debian"
	securityMirror = "http://deb.debian.org/debian-security"
	baseSuite      = "bookworm"
	baseVariant    = "minbase"
	// baseRecipeVersion is bumped when the build steps change in a way the
	// files below do not show.
	baseRecipeVersion = "1"
)

// RepoIP is the address of the lab's server namespace: the lab repository
// and every relay (ExposeTCP) listen on it. Hosts reach it and nothing else.
const RepoIP = "169.254.77.1"

// baseFile is one file the recipe writes into the image.
type baseFile struct {
	path    string
	mode    os.FileMode
	content string
}

// baseFiles are written into the image after debootstrap. Hosts cannot
// reach the Debian mirror: their apt sources name the lab repository only.
func baseFiles() []baseFile {
	return []baseFile{
		{"/etc/apt/sources.list", 0o644, "# Patchbay lab: every source is the lab repository (hosts cannot reach a mirror).\n" +
			"deb [trusted=yes] http://" + RepoIP + "/debian bookworm main\n" +
			"deb [trusted=yes] http://" + RepoIP + "/debian-security bookworm-security main\n" +
			"deb [trusted=yes] http://" + RepoIP + "/debian-updates bookworm-updates main\n" +
			"deb [trusted=yes] http://" + RepoIP + "/lab ./\n"},
		{"/etc/apt/apt.conf.d/90patchbay-lab", 0o644, "Acquire::Languages \"none\";\n" +
			"Acquire::Retries \"0\";\n" +
			"Acquire::http::Timeout \"10\";\n"},
		// No daemon a package installs may start in a host.
		{"/usr/sbin/policy-rc.d", 0o755, "#!/bin/sh\nexit 101\n"},
		{"/etc/resolv.conf", 0o644, "nameserver 127.0.0.1\n"},
		{"/etc/hostname", 0o644, "localhost\n"},
		{"/etc/machine-id", 0o444, ""},
	}
}

// baseKey hashes the recipe: a change to it gives a new image.
func baseKey() string {
	h := sha256.New()
	fmt.Fprintf(h, "v%s %s %s %s\n", baseRecipeVersion, baseSuite, baseVariant, debianMirror)
	for _, f := range baseFiles() {
		fmt.Fprintf(h, "%s %o %q\n", f.path, f.mode, f.content)
	}
	return baseSuite + "-" + hex.EncodeToString(h.Sum(nil))[:12]
}

// Base is the cached root filesystem every host is an overlay of.
type Base struct {
	Key     string // recipe hash: a recipe change builds a new image
	Tarball string // the cached image, zstd-compressed tar
	Rootfs  string // the extracted image: the read-only lower dir of hosts
}

// BaseStats says what EnsureBase had to do.
type BaseStats struct {
	Built     bool          // debootstrap ran
	Extracted bool          // the tarball was extracted
	Duration  time.Duration // the whole EnsureBase call
}

// EnsureBase returns the base image for the current recipe, building it
// with debootstrap when the cache has none (about a minute) and extracting
// the cached tarball when only that is there (a few seconds).
func EnsureBase(ctx context.Context, log *slog.Logger, cache string) (Base, BaseStats, error) {
	start := time.Now()
	key := baseKey()
	b := Base{
		Key:     key,
		Tarball: filepath.Join(cache, "base-"+key+".tar.zst"),
		Rootfs:  filepath.Join(cache, "base-"+key, "rootfs"),
	}
	var st BaseStats
	unlock, err := lockCache(ctx, cache)
	if err != nil {
		return b, st, err
	}
	defer unlock()
	stamp := filepath.Join(cache, "base-"+key, "ok")
	if got, err := os.ReadFile(stamp); err == nil && string(got) == key {
		st.Duration = time.Since(start)
		return b, st, nil
	}
	if _, err := os.Stat(b.Tarball); errors.Is(err, fs.ErrNotExist) {
		log.Info("lab: building base image", "key", key)
		if err := buildBase(ctx, log, cache, b); err != nil {
			return b, st, fmt.Errorf("build base image: %w", err)
		}
		st.Built = true
	} else if err != nil {
		return b, st, fmt.Errorf("stat base tarball: %w", err)
	}
	if err := os.RemoveAll(filepath.Dir(b.Rootfs)); err != nil {
		return b, st, fmt.Errorf("remove old base: %w", err)
	}
	if err := os.MkdirAll(b.Rootfs, 0o755); err != nil {
		return b, st, fmt.Errorf("create base dir: %w", err)
	}
	if _, err := run(ctx, command{argv: []string{"tar", "--numeric-owner", "--xattrs", "--xattrs-include=*",
		"-I", "zstd", "-xpf", b.Tarball, "-C", b.Rootfs}, timeout: 5 * time.Minute}); err != nil {
		return b, st, fmt.Errorf("extract base: %w", err)
	}
	if err := os.WriteFile(stamp, []byte(key), 0o644); err != nil {
		return b, st, fmt.Errorf("write base stamp: %w", err)
	}
	st.Extracted = true
	st.Duration = time.Since(start)
	log.Info("lab: base image ready", "key", key, "built", st.Built, "duration", st.Duration.Round(time.Millisecond))
	return b, st, nil
}

// buildBase runs debootstrap into a temporary directory, applies the
// recipe and writes the tarball. The caller holds the cache lock.
func buildBase(ctx context.Context, log *slog.Logger, cache string, b Base) error {
	tmp := filepath.Join(cache, "tmp", "base-"+b.Key)
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("remove old build dir: %w", err)
	}
	defer os.RemoveAll(tmp)
	rootfs := filepath.Join(tmp, "rootfs")
	if err := os.MkdirAll(rootfs, 0o755); err != nil {
		return err
	}
	start := time.Now()
	// In a private mount namespace: whatever debootstrap mounts in the
	// target (proc, sys) goes away with it, even when it fails.
	if _, err := run(ctx, command{argv: []string{"unshare", "--mount", "--propagation", "private", "--",
		"debootstrap", "--variant=" + baseVariant, baseSuite, rootfs, debianMirror}, timeout: 30 * time.Minute}); err != nil {
		return err
	}
	log.Info("lab: debootstrap done", "duration", time.Since(start).Round(time.Millisecond))
	root, err := os.OpenRoot(rootfs)
	if err != nil {
		return err
	}
	defer root.Close()
	for _, f := range baseFiles() {
		if err := writeInRoot(root, f.path, []byte(f.content), f.mode); err != nil {
			return err
		}
	}
	// The mirror's lists, package cache and downloaded .debs are not part
	// of the image: hosts fetch the lab's indexes on their first update.
	for _, pattern := range []string{"var/lib/apt/lists/*_*", "var/cache/apt/*.bin", "var/cache/apt/archives/*.deb"} {
		matches, err := filepath.Glob(filepath.Join(rootfs, pattern))
		if err != nil {
			return err
		}
		for _, m := range matches {
			if err := os.Remove(m); err != nil {
				return fmt.Errorf("clean image: %w", err)
			}
		}
	}
	tmpTar := b.Tarball + ".tmp"
	if _, err := run(ctx, command{argv: []string{"tar", "--numeric-owner", "--xattrs", "--xattrs-include=*",
		"-I", "zstd -3 -T0", "-cf", tmpTar, "-C", rootfs, "."}, timeout: 10 * time.Minute}); err != nil {
		os.Remove(tmpTar)
		return fmt.Errorf("write tarball: %w", err)
	}
	return os.Rename(tmpTar, b.Tarball)
}

// writeInRoot writes a file at an absolute in-image path, creating parent
// directories, through root so that no symlink in the image can lead the
// write outside it. An existing file or symlink at path is replaced.
func writeInRoot(root *os.Root, path string, data []byte, mode os.FileMode) error {
	rel := strings.TrimPrefix(filepath.Clean(path), "/")
	if err := root.MkdirAll(filepath.Dir(rel), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := root.Remove(rel); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := root.WriteFile(rel, data, mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	// WriteFile's mode is filtered by the umask.
	if err := root.Chmod(rel, mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
