package lab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sort"
	"strings"
	"time"
)

// ErrUnsupported is wrapped by Preflight when this machine cannot run a lab
// (not root, no overlayfs, no network namespaces). Tests skip on it, except
// in CI.
var ErrUnsupported = errors.New("lab unsupported on this machine")

// requiredTools maps each program the lab runs on the machine to the Debian
// package that provides it.
func requiredTools() map[string]string {
	return map[string]string{
		"debootstrap":    "debootstrap",
		"apt-ftparchive": "apt-utils",
		"dpkg-deb":       "dpkg",
		"zstd":           "zstd",
		"tar":            "tar",
		"ip":             "iproute2",
		"nsenter":        "util-linux",
		"unshare":        "util-linux",
		"mount":          "mount",
		"chroot":         "coreutils",
	}
}

// Preflight reports, wrapping ErrUnsupported, why this machine cannot run a
// lab at all: tools that EnsureTools can install are not its concern.
func Preflight() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: needs root (euid %d)", ErrUnsupported, os.Geteuid())
	}
	fs, err := os.ReadFile("/proc/filesystems")
	if err != nil {
		return fmt.Errorf("%w: read /proc/filesystems: %v", ErrUnsupported, err)
	}
	if !strings.Contains(string(fs), "\toverlay\n") {
		return fmt.Errorf("%w: no overlayfs in /proc/filesystems", ErrUnsupported)
	}
	if _, err := os.Stat("/proc/self/ns/net"); err != nil {
		return fmt.Errorf("%w: no network namespaces: %v", ErrUnsupported, err)
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return fmt.Errorf("%w: not a Debian machine (no apt-get)", ErrUnsupported)
	}
	return nil
}

// EnsureTools installs, with apt-get, the Debian packages of every program
// the lab needs that is missing, so a fresh machine (CI) can build a lab.
func EnsureTools(ctx context.Context, log *slog.Logger) error {
	if err := Preflight(); err != nil {
		return err
	}
	var missing []string
	seen := map[string]bool{}
	for prog, pkg := range requiredTools() {
		if _, err := exec.LookPath(prog); err == nil || seen[pkg] {
			continue
		}
		seen[pkg] = true
		missing = append(missing, pkg)
	}
	if len(missing) == 0 {
		return nil
	}
	sort.Strings(missing)
	start := time.Now()
	log.Info("lab: installing tools", "packages", strings.Join(missing, " "))
	// Another source of the machine may fail; the Debian ones are enough.
	if _, err := run(ctx, command{argv: []string{"apt-get", "update", "-q"}, timeout: 5 * time.Minute}); err != nil {
		log.Warn("lab: apt-get update", "err", err)
	}
	argv := append([]string{"apt-get", "install", "-y", "-q", "--no-install-recommends"}, missing...)
	if _, err := run(ctx, command{argv: argv, env: []string{"DEBIAN_FRONTEND=noninteractive"}, timeout: 10 * time.Minute}); err != nil {
		return fmt.Errorf("install %s: %w", strings.Join(missing, " "), err)
	}
	log.Info("lab: tools installed", "duration", time.Since(start).Round(time.Millisecond))
	return nil
}
