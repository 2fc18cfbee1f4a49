package osinfo

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// ProStatusPath is where the Ubuntu Pro client keeps the machine's status
// (what `pro status --format json` prints), relative to the root.
const ProStatusPath = "var/lib/ubuntu-advantage/status.json"

// maxProStatus bounds the status file read.
const maxProStatus = 4 << 20

// ProStatus is what the agent reads of an Ubuntu Pro status file.
type ProStatus struct {
	Attached bool `json:"attached"`
	// Enabled lists the services whose status is "enabled" (esm-infra,
	// esm-apps, livepatch ...), sorted.
	Enabled []string `json:"enabled"`
}

// ParseProStatus reads the Ubuntu Pro client's status JSON. A document
// without a boolean "attached" is not one, and an error.
func ParseProStatus(data []byte) (ProStatus, error) {
	var doc struct {
		Attached *bool `json:"attached"`
		Services []struct {
			Name   string `json:"name"`
			Status string `json:"status"`
		} `json:"services"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return ProStatus{}, fmt.Errorf("ubuntu pro status: %w", err)
	}
	if doc.Attached == nil {
		return ProStatus{}, errors.New(`ubuntu pro status: no "attached" field`)
	}
	st := ProStatus{Attached: *doc.Attached, Enabled: []string{}}
	for _, s := range doc.Services {
		if s.Status == "enabled" && s.Name != "" {
			st.Enabled = append(st.Enabled, s.Name)
		}
	}
	slices.Sort(st.Enabled)
	st.Enabled = slices.Compact(st.Enabled)
	return st, nil
}

// UbuntuPro reads the Pro status of the system at root: not attached when
// the client or its status file is absent (it is written by `pro attach`
// and refreshed by the client's timer), an error when the file is there
// but unreadable.
func UbuntuPro(root string) (ProStatus, error) {
	if root == "" {
		root = "/"
	}
	fsys, err := os.OpenRoot(filepath.Clean(root))
	if err != nil {
		return ProStatus{}, fmt.Errorf("open root %s: %w", root, err)
	}
	defer fsys.Close()
	f, err := fsys.Open(ProStatusPath)
	if errors.Is(err, fs.ErrNotExist) {
		return ProStatus{Enabled: []string{}}, nil
	}
	if err != nil {
		return ProStatus{}, fmt.Errorf("ubuntu pro status: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxProStatus+1))
	if err != nil {
		return ProStatus{}, fmt.Errorf("ubuntu pro status: %w", err)
	}
	if len(data) > maxProStatus {
		return ProStatus{}, fmt.Errorf("ubuntu pro status: %s is larger than %d bytes", ProStatusPath, maxProStatus)
	}
	return ParseProStatus(data)
}
