package deb

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRebootRequired(t *testing.T) {
	kernelPkg := func(name, version, state string) string {
		return fmt.Sprintf("Package: %s\nStatus: %s\nArchitecture: amd64\nVersion: %s\n\n", name, state, version)
	}
	tests := []struct {
		name    string
		files   map[string]string // path under root -> content
		running string
		want    []string
	}{
		{name: "nothing", running: "6.1.0-56-amd64"},
		{
			name:  "marker file",
			files: map[string]string{"run/reboot-required": "*** System restart required ***\n"},
			want:  []string{"reboot-required file"},
		},
		{
			name: "marker file with packages, duplicates dropped",
			files: map[string]string{
				"run/reboot-required":      "*** System restart required ***\n",
				"run/reboot-required.pkgs": "linux-base\nlibc6\nlinux-base\n",
			},
			want: []string{"reboot-required file (linux-base, libc6)"},
		},
		{
			name:    "newer kernel package",
			running: "6.1.0-9-amd64",
			files: map[string]string{"var/lib/dpkg/status": kernelPkg("linux-image-6.1.0-9-amd64", "6.1.27-1", "install ok installed") +
				kernelPkg("linux-image-6.1.0-10-amd64", "6.1.38-1", "install ok installed") +
				kernelPkg("linux-image-amd64", "6.1.38-1", "install ok installed")},
			want: []string{"newer kernel installed: 6.1.0-10-amd64 (running 6.1.0-9-amd64)"},
		},
		{
			name:    "running the newest",
			running: "6.1.0-10-amd64",
			files: map[string]string{"var/lib/dpkg/status": kernelPkg("linux-image-6.1.0-9-amd64", "6.1.27-1", "install ok installed") +
				kernelPkg("linux-image-6.1.0-10-amd64", "6.1.38-1", "install ok installed")},
		},
		{
			name:    "removed kernel (config-files) does not count",
			running: "6.1.0-9-amd64",
			files:   map[string]string{"var/lib/dpkg/status": kernelPkg("linux-image-6.1.0-10-amd64", "6.1.38-1", "deinstall ok config-files")},
		},
		{
			name:    "other flavour does not count",
			running: "6.1.0-10-amd64",
			files:   map[string]string{"var/lib/dpkg/status": kernelPkg("linux-image-6.1.0-11-cloud-amd64", "6.1.40-1", "install ok installed")},
		},
		{
			name:    "Ubuntu unsigned kernel",
			running: "5.15.0-91-generic",
			files:   map[string]string{"var/lib/dpkg/status": kernelPkg("linux-image-unsigned-5.15.0-101-generic", "5.15.0-101.111", "install ok installed")},
			want:    []string{"newer kernel installed: 5.15.0-101-generic (running 5.15.0-91-generic)"},
		},
		{
			name:    "kernel only in /boot",
			running: "6.1.0-9-amd64",
			files:   map[string]string{"boot/vmlinuz-6.1.0-12-amd64": "", "boot/vmlinuz-6.1.0-9-amd64": ""},
			want:    []string{"newer kernel installed: 6.1.0-12-amd64 (running 6.1.0-9-amd64)"},
		},
		{
			name:    "lab: real kernel newer than the image's",
			running: "6.18.44-fc-v782",
			files:   map[string]string{"var/lib/dpkg/status": kernelPkg("linux-image-6.1.0-56-amd64", "6.1.140-1", "install ok installed")},
		},
		{
			name:    "running kernel unknown: no kernel check",
			running: "",
			files:   map[string]string{"boot/vmlinuz-6.1.0-12-amd64": ""},
		},
		{
			name:    "both causes",
			running: "6.1.0-9-amd64",
			files:   map[string]string{"run/reboot-required": "", "boot/vmlinuz-6.1.0-12-amd64": ""},
			want:    []string{"reboot-required file", "newer kernel installed: 6.1.0-12-amd64 (running 6.1.0-9-amd64)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for p, c := range tt.files {
				writeFile(t, filepath.Join(root, p), c)
			}
			m := New(root, nil, WithRunningKernel(func() (string, error) { return tt.running, nil }))
			got, reasons, err := m.RebootRequired(context.Background())
			if err != nil {
				t.Fatalf("RebootRequired: %v", err)
			}
			if got != (len(tt.want) > 0) {
				t.Errorf("RebootRequired = %v, want %v", got, len(tt.want) > 0)
			}
			if diff := cmp.Diff(tt.want, reasons); diff != "" {
				t.Errorf("reasons (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRebootRequiredStaysInRoot checks that a /var/run symlink to /run in
// another root is not followed out of the tree to the host's /run.
func TestRebootRequiredStaysInRoot(t *testing.T) {
	outside := t.TempDir()
	writeFile(t, filepath.Join(outside, "reboot-required"), "")
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "var"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "var/run")); err != nil {
		t.Fatal(err)
	}
	got, reasons, err := New(root, nil).RebootRequired(context.Background())
	if err != nil || got {
		t.Errorf("RebootRequired = %v, %v, %v; want false (the marker is outside the root)", got, reasons, err)
	}
	// A real /var/run directory in the tree is read.
	root2 := t.TempDir()
	writeFile(t, filepath.Join(root2, "var/run/reboot-required"), "")
	if got, _, err := New(root2, nil).RebootRequired(context.Background()); err != nil || !got {
		t.Errorf("with ROOT/var/run/reboot-required: %v, %v; want true", got, err)
	}
}

func TestRebootRequiredErrors(t *testing.T) {
	root := t.TempDir()
	m := New(root, nil, WithRunningKernel(func() (string, error) { return "", errors.New("no uname") }))
	if _, _, err := m.RebootRequired(context.Background()); err == nil {
		t.Errorf("failing kernel source: no error")
	}
	writeFile(t, filepath.Join(root, "var/lib/dpkg/status"), "garbage\n")
	m = New(root, nil, WithRunningKernel(func() (string, error) { return "6.1.0-9-amd64", nil }))
	if _, _, err := m.RebootRequired(context.Background()); err == nil {
		t.Errorf("broken dpkg status: no error")
	}
}

func TestDefaultRunningKernel(t *testing.T) {
	if New("/srv/image", nil).runningKernel != nil {
		t.Errorf("another root has a running kernel by default; it must be unknown")
	}
	rel, err := New("/", nil).runningKernel()
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		skipOrFail(t, "no /proc/sys/kernel/osrelease: %v", err)
	}
	if rel+"\n" != string(want) {
		t.Errorf("running kernel %q, /proc says %q", rel, want)
	}
}
