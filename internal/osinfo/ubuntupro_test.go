package osinfo

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestParseProStatusGolden: the status files in testdata/ubuntu-pro are
// written from the format's public documentation (see its README), not
// captured from real machines.
func TestParseProStatusGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/ubuntu-pro/*.json")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, ".golden.json") {
			continue
		}
		n++
		t.Run(filepath.Base(f), func(t *testing.T) {
			st, err := ParseProStatus(mustRead(t, f))
			got := struct {
				Status *ProStatus `json:"status"`
				Error  string     `json:"error,omitempty"`
			}{}
			if err != nil {
				got.Error = err.Error()
			} else {
				got.Status = &st
			}
			checkGolden(t, strings.TrimSuffix(f, ".json")+".golden.json", got)
		})
	}
	if n < 5 {
		t.Errorf("%d status files, want at least 5", n)
	}
}

// TestUbuntuPro: no client or no status file is "not attached"; a status
// file is read from under the root; an unreadable one is an error.
func TestUbuntuPro(t *testing.T) {
	tests := []struct {
		name     string
		file     string // testdata file to place; "" for none
		attached bool
		wantErr  bool
	}{
		{name: "no client", attached: false},
		{name: "attached", file: "attached-free-22.04.json", attached: true},
		{name: "detached", file: "detached-22.04.json", attached: false},
		{name: "corrupt", file: "not-status.json", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			if tt.file != "" {
				writeFile(t, filepath.Join(root, ProStatusPath), string(mustRead(t, filepath.Join("testdata/ubuntu-pro", tt.file))))
			}
			st, err := UbuntuPro(root)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if st.Attached != tt.attached {
				t.Errorf("attached = %v, want %v", st.Attached, tt.attached)
			}
		})
	}
	t.Run("a directory where the file should be", func(t *testing.T) {
		root := t.TempDir()
		if err := os.MkdirAll(filepath.Join(root, ProStatusPath), 0o755); err != nil {
			t.Fatal(err)
		}
		if _, err := UbuntuPro(root); err == nil {
			t.Error("no error")
		}
	})
}

// FuzzParseProStatus: whatever the input, a success says attached exactly
// as the document's own "attached" field does, and lists enabled services
// sorted without repeats.
func FuzzParseProStatus(f *testing.F) {
	for _, name := range []string{"attached-free-22.04.json", "detached-22.04.json", "not-status.json"} {
		b, err := os.ReadFile(filepath.Join("testdata/ubuntu-pro", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"attached": true, "attached": false}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := ParseProStatus(data)
		if err != nil {
			return
		}
		var doc struct{ Attached bool }
		if err := json.Unmarshal(data, &doc); err != nil || doc.Attached != st.Attached {
			t.Fatalf("attached %v, the document says %v (%v)", st.Attached, doc.Attached, err)
		}
		for i := 1; i < len(st.Enabled); i++ {
			if st.Enabled[i-1] >= st.Enabled[i] {
				t.Fatalf("enabled not sorted and unique: %v", st.Enabled)
			}
		}
	})
}
