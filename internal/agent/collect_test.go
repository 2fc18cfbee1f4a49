package agent

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/osinfo"
)

// TestCollectUbuntuPro: an Ubuntu host reports ubuntu_pro from the Pro
// client's status file (a fixture written from the format's documentation,
// see internal/osinfo/testdata/ubuntu-pro); no file or a Debian host
// reports none, and a corrupt file is logged and reported as not attached.
func TestCollectUbuntuPro(t *testing.T) {
	tests := []struct {
		name, osID, status string
		want               bool
	}{
		{name: "attached", osID: "ubuntu", status: "attached-free-22.04.json", want: true},
		{name: "detached", osID: "ubuntu", status: "detached-22.04.json"},
		{name: "no Pro client", osID: "ubuntu"},
		{name: "corrupt status file", osID: "ubuntu", status: "not-status.json"},
		{name: "a Debian host is never attached", osID: "debian", status: "attached-free-22.04.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, proc := t.TempDir(), t.TempDir()
			files := map[string]string{
				filepath.Join(root, "etc/os-release"):            "ID=" + tt.osID + "\nVERSION_ID=\"22.04\"\n",
				filepath.Join(root, "etc/machine-id"):            "0123456789abcdef0123456789abcdef\n",
				filepath.Join(root, "etc/hostname"):              "jammy\n",
				filepath.Join(proc, "sys/kernel/osrelease"):      "5.15.0-1-generic\n",
				filepath.Join(proc, "sys/kernel/random/boot_id"): "2f7c3c1e-1d0e-4bd2-9a51-0f6a8a4c2b11\n",
				filepath.Join(proc, "uptime"):                    "100.5 200.1\n",
			}
			if tt.status != "" {
				b, err := os.ReadFile(filepath.Join("../osinfo/testdata/ubuntu-pro", tt.status))
				if err != nil {
					t.Fatal(err)
				}
				files[filepath.Join(root, osinfo.ProStatusPath)] = string(b)
			}
			for p, data := range files {
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			c := &HostCollector{Root: root, Manager: newFakePM(), Now: time.Now, Logger: slog.New(slog.DiscardHandler),
				Facts: osinfo.Options{ProcDir: proc, Machine: func() (string, error) { return "x86_64", nil },
					Addrs: func() ([]net.Addr, error) { return nil, nil }}}
			inv, err := c.Collect(context.Background(), false)
			if err != nil {
				t.Fatal(err)
			}
			if inv.UbuntuPro != tt.want {
				t.Errorf("ubuntu_pro = %v, want %v", inv.UbuntuPro, tt.want)
			}
		})
	}
}
