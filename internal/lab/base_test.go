package lab_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/lab"
	"github.com/patchbay/patchbay/internal/lab/labtest"
)

// TestBaseImage builds the base image (or reuses the cached one) and checks
// the recipe: bookworm, apt pointed at the lab only, no mirror lists left.
func TestBaseImage(t *testing.T) {
	labtest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	cache := lab.CacheDir("")
	b, st, err := lab.EnsureBase(ctx, labtest.Logger(t), cache)
	if err != nil {
		t.Fatalf("ensure base: %v", err)
	}
	t.Logf("base %s: built=%v extracted=%v in %s", b.Key, st.Built, st.Extracted, st.Duration.Round(time.Millisecond))
	b2, st2, err := lab.EnsureBase(ctx, labtest.Logger(t), cache)
	if err != nil {
		t.Fatalf("ensure base again: %v", err)
	}
	if b2 != b || st2.Built || st2.Extracted {
		t.Errorf("second EnsureBase = %+v %+v, want the cached %+v untouched", b2, st2, b)
	}
	t.Logf("cached base in %s", st2.Duration.Round(time.Millisecond))
	if fi, err := os.Stat(b.Tarball); err != nil || fi.Size() < 10<<20 {
		t.Errorf("tarball %s: %v (size %d), want a real image", b.Tarball, err, sizeOf(fi))
	}

	tests := []struct {
		path string
		want string // substring
	}{
		{"etc/debian_version", "12."},
		{"etc/os-release", `VERSION_CODENAME=bookworm`},
		{"etc/apt/sources.list", "http://" + lab.RepoIP + "/debian-security bookworm-security main"},
		{"etc/apt/apt.conf.d/90patchbay-lab", `Acquire::Languages "none";`},
		{"var/lib/dpkg/status", "Package: apt\n"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, err := os.ReadFile(filepath.Join(b.Rootfs, tt.path))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(got), tt.want) {
				t.Errorf("%s does not contain %q:\n%s", tt.path, tt.want, got)
			}
		})
	}
	src, _ := os.ReadFile(filepath.Join(b.Rootfs, "etc/apt/sources.list"))
	if strings.Contains(string(src), "deb.debian.org") {
		t.Errorf("sources.list names the mirror, hosts cannot reach it:\n%s", src)
	}
	lists, _ := filepath.Glob(filepath.Join(b.Rootfs, "var/lib/apt/lists/*_*"))
	if len(lists) != 0 {
		t.Errorf("image keeps mirror lists %v", lists)
	}
}

func sizeOf(fi os.FileInfo) int64 {
	if fi == nil {
		return 0
	}
	return fi.Size()
}
