package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestImageOptionsResolve(t *testing.T) {
	img := filepath.Join(t.TempDir(), "web-template")
	if err := os.MkdirAll(img, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name              string
		opts              imageOptions
		wantLabel, wantSD string
		wantErr           string
	}{
		{"defaults", imageOptions{root: img}, "web-template", "/var/lib/patchbay-agent/images/web-template", ""},
		{"label", imageOptions{root: img + "/", label: "tmpl-1"}, "tmpl-1", "/var/lib/patchbay-agent/images/tmpl-1", ""},
		{"state dir set", imageOptions{root: img, stateDir: "/srv/state", stateDirSet: true}, "web-template", "/srv/state", ""},
		{"state dir in the image", imageOptions{root: img, stateDir: img + "/var/lib/patchbay-agent", stateDirSet: true}, "", "", "inside the image"},
		{"state dir is the image", imageOptions{root: img, stateDir: img, stateDirSet: true}, "", "", "inside the image"},
		{"bad label", imageOptions{root: img, label: "a b"}, "", "", "image label"},
		{"no such root", imageOptions{root: img + "-missing"}, "", "", "not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.opts
			err := o.resolve()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one about %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.label != tt.wantLabel || o.stateDir != tt.wantSD || o.root != img {
				t.Errorf("got root %s label %s state %s", o.root, o.label, o.stateDir)
			}
		})
	}
}
