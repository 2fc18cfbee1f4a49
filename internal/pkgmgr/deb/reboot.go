package deb

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/patchbay/patchbay/internal/debversion"
)

// RebootRequired reports the causes of a pending reboot:
//
//   - /run/reboot-required exists (written by Ubuntu's update-notifier and
//     Debian's reboot-notifier; /run/reboot-required.pkgs names the
//     packages), reason "reboot-required file (pkg, ...)";
//   - the newest installed kernel, from the linux-image-* packages in the
//     dpkg status and /boot/vmlinuz-*, compared as Debian versions, is
//     newer than the running kernel, reason "newer kernel installed: NEW
//     (running OLD)". When the running kernel's release has a flavour
//     ("6.1.0-56-cloud-amd64": "cloud-amd64"), only installed kernels of
//     that flavour count. No running kernel known (see WithRunningKernel),
//     or one whose release is not a version: no kernel check.
func (m *Manager) RebootRequired(ctx context.Context) (bool, []string, error) {
	var reasons []string
	r, err := m.rebootRequiredFile()
	if err != nil {
		return false, nil, err
	}
	if r != "" {
		reasons = append(reasons, r)
	}
	if m.runningKernel != nil {
		running, err := m.runningKernel()
		if err != nil {
			return false, nil, fmt.Errorf("running kernel: %w", err)
		}
		if running != "" {
			kernels, err := m.installedKernels()
			if err != nil {
				return false, nil, err
			}
			if newest := newestKernel(kernels, running); newest != "" {
				reasons = append(reasons, fmt.Sprintf("newer kernel installed: %s (running %s)", newest, running))
			}
		}
	}
	return len(reasons) > 0, reasons, nil
}

// rebootRequiredFile returns the reason the reboot-required marker gives,
// or "". Under another root, /var/run is only looked at when it is a real
// directory: it is normally a symlink to /run, which, being absolute,
// would lead out of the tree.
func (m *Manager) rebootRequiredFile() (string, error) {
	dirs := []string{m.path("run")}
	if fi, err := os.Lstat(m.path("var/run")); err == nil && fi.IsDir() {
		dirs = append(dirs, m.path("var/run"))
	}
	for _, dir := range dirs {
		_, err := os.Stat(filepath.Join(dir, "reboot-required"))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("reboot-required file: %w", err)
		}
		reason := "reboot-required file"
		data, err := os.ReadFile(filepath.Join(dir, "reboot-required.pkgs"))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("reboot-required file: %w", err)
		}
		var pkgs []string
		for _, p := range strings.Fields(string(data)) {
			if validName(p) && !slices.Contains(pkgs, p) {
				pkgs = append(pkgs, p)
			}
		}
		if len(pkgs) > 0 {
			reason += " (" + strings.Join(pkgs, ", ") + ")"
		}
		return reason, nil
	}
	return "", nil
}

// installedKernels returns the releases of the kernels on disk: from the
// linux-image-RELEASE packages (Debian, Ubuntu; linux-image-unsigned-* on
// Ubuntu; not the linux-image-amd64 meta-packages, nor -dbg ones) and from
// /boot/vmlinuz-RELEASE (any kernel, packaged or not).
func (m *Manager) installedKernels() ([]string, error) {
	var kernels []string
	data, err := os.ReadFile(m.path("var/lib/dpkg/status"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read dpkg status: %w", err)
	}
	if err == nil {
		pkgs, err := parseStatus(data)
		if err != nil {
			return nil, err
		}
		for _, p := range pkgs {
			if rel := kernelRelease(p.Name); rel != "" && !slices.Contains(kernels, rel) {
				kernels = append(kernels, rel)
			}
		}
	}
	boot, _ := filepath.Glob(m.path("boot/vmlinuz-*"))
	for _, b := range boot {
		rel := strings.TrimPrefix(filepath.Base(b), "vmlinuz-")
		if startsWithDigit(rel) && !slices.Contains(kernels, rel) {
			kernels = append(kernels, rel)
		}
	}
	return kernels, nil
}

// kernelRelease is the kernel release a linux-image package installs, or
// "" for a package that is not a kernel image.
func kernelRelease(pkg string) string {
	rel, ok := strings.CutPrefix(pkg, "linux-image-")
	if !ok {
		return ""
	}
	rel = strings.TrimPrefix(rel, "unsigned-")
	if !startsWithDigit(rel) || strings.HasSuffix(rel, "-dbg") || strings.HasSuffix(rel, "-dbgsym") {
		return ""
	}
	return strings.TrimSuffix(rel, "-unsigned")
}

func startsWithDigit(s string) bool { return s != "" && '0' <= s[0] && s[0] <= '9' }

// flavourRE splits a distribution kernel release into ABI and flavour:
// "6.1.0-56-amd64", "6.1.0-56-cloud-amd64", "5.15.0-91-generic".
var flavourRE = regexp.MustCompile(`^\d+\.\d+(?:\.\d+)?-\d+(?:\.\d+)?-([a-z][a-z0-9-]*)$`)

func flavour(release string) string {
	if m := flavourRE.FindStringSubmatch(release); m != nil {
		return m[1]
	}
	return ""
}

// newestKernel returns the newest of kernels if it is newer than running
// (of the same flavour when running has one), else "".
func newestKernel(kernels []string, running string) string {
	want := flavour(running)
	best := running
	for _, k := range kernels {
		if want != "" && flavour(k) != want {
			continue
		}
		if c, err := debversion.Compare(k, best); err == nil && c > 0 {
			best = k
		}
	}
	if best == running {
		return ""
	}
	return best
}
