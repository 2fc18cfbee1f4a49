package chroot

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay/internal/pkgmgr"
)

func TestArgvRoundTrip(t *testing.T) {
	r := Runner{Root: "/srv/images/web/", Helper: []string{"/usr/bin/patchbay", "agent-chroot-exec"}}
	tests := []struct {
		name    string
		cmd     pkgmgr.Cmd
		want    []string
		dir     string
		wantErr bool
	}{
		{"plain", pkgmgr.Cmd{Path: "apt-get", Args: []string{"-q", "update"}},
			[]string{"/usr/bin/patchbay", "agent-chroot-exec", "/srv/images/web", "/", "--", "apt-get", "-q", "update"}, "/", false},
		{"dir", pkgmgr.Cmd{Path: "dpkg-query", Args: []string{"-W", "--", "-x"}, Dir: "/tmp"},
			[]string{"/usr/bin/patchbay", "agent-chroot-exec", "/srv/images/web", "/tmp", "--", "dpkg-query", "-W", "--", "-x"}, "/tmp", false},
		{"relative dir", pkgmgr.Cmd{Path: "apt-get", Dir: "tmp"}, nil, "", true},
		{"empty path", pkgmgr.Cmd{}, nil, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := r.argv(tt.cmd)
			if (err != nil) != tt.wantErr {
				t.Fatalf("argv: %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("argv (-want +got):\n%s", diff)
			}
			root, dir, argv, err := ParseArgs(got[2:])
			if err != nil {
				t.Fatal(err)
			}
			if root != "/srv/images/web" || dir != tt.dir || !cmp.Equal(argv, append([]string{tt.cmd.Path}, tt.cmd.Args...)) {
				t.Fatalf("ParseArgs: %q %q %q", root, dir, argv)
			}
		})
	}
}

func TestRootMustNotBeSlash(t *testing.T) {
	for _, root := range []string{"/", "", "images/web", "//"} {
		if _, err := (Runner{Root: root, Helper: []string{"x"}}).argv(pkgmgr.Cmd{Path: "true"}); err == nil {
			t.Errorf("root %q accepted", root)
		}
		if _, _, _, err := ParseArgs([]string{root, "/", "--", "true"}); err == nil {
			t.Errorf("ParseArgs accepted root %q", root)
		}
	}
	for _, args := range [][]string{nil, {"/img", "/", "true"}, {"/img", "/", "--"}, {"/img", "/", "x", "true"}, {"/img", "/", "--", ""}} {
		if _, _, _, err := ParseArgs(args); err == nil {
			t.Errorf("ParseArgs accepted %q", args)
		}
	}
}

func TestNoServices(t *testing.T) {
	tests := []struct {
		name     string
		own      string // the image's own policy-rc.d ("" none)
		leftover bool   // a killed run left ours and the saved one
	}{
		{"none", "", false},
		{"image has one", "#!/bin/sh\nexit 0\n", false},
		{"killed run", "#!/bin/sh\nexit 0\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			p := filepath.Join(root, PolicyRCD)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if tt.own != "" {
				dst := p
				if tt.leftover {
					dst = p + savedSuffix
					if err := os.WriteFile(p, []byte(denyAll), 0o755); err != nil {
						t.Fatal(err)
					}
				}
				if err := os.WriteFile(dst, []byte(tt.own), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			restore, err := NoServices(root)
			if err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(p)
			if err != nil || string(data) != denyAll {
				t.Fatalf("policy-rc.d during: %q %v", data, err)
			}
			if fi, _ := os.Stat(p); fi.Mode().Perm()&0o111 == 0 {
				t.Errorf("policy-rc.d not executable: %v", fi.Mode())
			}
			if err := restore(); err != nil {
				t.Fatal(err)
			}
			data, err = os.ReadFile(p)
			switch {
			case tt.own == "" && !os.IsNotExist(err):
				t.Errorf("policy-rc.d left: %q %v", data, err)
			case tt.own != "" && string(data) != tt.own:
				t.Errorf("policy-rc.d after: %q %v, want the image's own", data, err)
			}
			if _, err := os.Lstat(p + savedSuffix); !os.IsNotExist(err) {
				t.Errorf("saved copy left: %v", err)
			}
		})
	}
}

// TestNoServicesStaysInRoot: a policy-rc.d that is a symbolic link out of
// the image is not followed.
func TestNoServicesStaysInRoot(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	target := filepath.Join(outside, "victim")
	if err := os.MkdirAll(filepath.Join(root, "usr"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "usr/sbin")); err != nil {
		t.Fatal(err)
	}
	if restore, err := NoServices(root); err == nil {
		restore()
		t.Fatal("wrote through a symbolic link out of the image")
	}
	if _, err := os.Stat(target); !os.IsNotExist(err) {
		t.Fatalf("file outside the image: %v", err)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Fatalf("files written outside the image: %v", entries)
	}
}
