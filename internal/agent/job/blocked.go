package job

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/patchbay/patchbay"
)

// blockedFile keeps the versions the server blocked, one "name=version" a
// line, in the job directory (not *.json: it is not a job), so an agent
// that restarts without reaching the server still refuses them.
const blockedFile = "blocked-versions.txt"

// SetBlocked records the versions the server says are blocked fleet-wide
// (each heartbeat and job poll says); an install job with one of them is
// refused before anything runs, however the job arrived.
func (e *Executor) SetBlocked(list []patchbay.PackageVersion) error {
	norm := make([]patchbay.PackageVersion, 0, len(list))
	for _, p := range list {
		norm = append(norm, patchbay.PackageVersion{Name: p.Name, Version: p.Version})
	}
	slices.SortFunc(norm, func(a, b patchbay.PackageVersion) int {
		return strings.Compare(a.Name+"="+a.Version, b.Name+"="+b.Version)
	})
	e.blockedMu.Lock()
	defer e.blockedMu.Unlock()
	if slices.Equal(norm, e.blocked) {
		return nil
	}
	var b bytes.Buffer
	for _, p := range norm {
		fmt.Fprintf(&b, "%s=%s\n", p.Name, p.Version)
	}
	if err := writeAtomic(e.cfg.Dir, blockedFile, b.Bytes()); err != nil {
		return fmt.Errorf("save blocked versions: %w", err)
	}
	e.blocked = norm
	return nil
}

func (e *Executor) loadBlocked() error {
	data, err := os.ReadFile(filepath.Join(e.cfg.Dir, blockedFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read blocked versions: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		name, version, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if ok && name != "" && version != "" {
			e.blocked = append(e.blocked, patchbay.PackageVersion{Name: name, Version: version})
		}
	}
	return sc.Err()
}

// isBlocked returns the first of pkgs that is blocked (any architecture).
func (e *Executor) isBlocked(pkgs []patchbay.PackageVersion) (patchbay.PackageVersion, bool) {
	e.blockedMu.Lock()
	defer e.blockedMu.Unlock()
	for _, p := range pkgs {
		for _, b := range e.blocked {
			if p.Name == b.Name && p.Version == b.Version {
				return p, true
			}
		}
	}
	return patchbay.PackageVersion{}, false
}
