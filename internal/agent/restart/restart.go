// Package restart finds the processes that still run code the package
// manager replaced — they map a file that was deleted (the old library or
// binary), as needrestart and needs-restarting check — and restarts the
// systemd services they belong to.
package restart

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/pkgmgr"
)

// MaxFiles bounds the deleted files reported per process.
const MaxFiles = 10

// ignored are mappings of deleted files that are not replaced code:
// shared memory, memfd, temporary and runtime files.
var ignored = []string{"/dev/", "/memfd:", "/SYSV", "/tmp/", "/var/tmp/", "/run/", "/var/run/", "/proc/", "/[aio]", "/drm"}

// Ignored reports whether a deleted mapping of path is not replaced code.
func Ignored(path string) bool {
	return !strings.HasPrefix(path, "/") || slices.ContainsFunc(ignored, func(p string) bool { return strings.HasPrefix(path, p) })
}

// Options tune Scan.
type Options struct {
	ProcDir string // "" is /proc
	// Ignore overrides Ignored (tests).
	Ignore func(path string) bool
}

// Scan lists the processes of procDir that map deleted files, by pid.
// Processes that vanish or cannot be read while it looks are skipped.
func Scan(opts Options) ([]patchbay.StaleProcess, error) {
	proc := opts.ProcDir
	if proc == "" {
		proc = "/proc"
	}
	ignore := opts.Ignore
	if ignore == nil {
		ignore = Ignored
	}
	entries, err := os.ReadDir(proc)
	if err != nil {
		return nil, fmt.Errorf("stale processes: %w", err)
	}
	self := os.Getpid()
	var out []patchbay.StaleProcess
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		maps, err := os.ReadFile(filepath.Join(proc, e.Name(), "maps"))
		if err != nil {
			continue // gone, or a kernel thread we may not read
		}
		files := DeletedMappings(maps, ignore)
		if len(files) == 0 {
			continue
		}
		p := patchbay.StaleProcess{PID: pid, Files: files}
		if comm, err := os.ReadFile(filepath.Join(proc, e.Name(), "comm")); err == nil {
			p.Command = strings.TrimSpace(string(comm))
		}
		if cg, err := os.ReadFile(filepath.Join(proc, e.Name(), "cgroup")); err == nil {
			p.Unit = Unit(cg)
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b patchbay.StaleProcess) int { return a.PID - b.PID })
	return out, nil
}

// DeletedMappings parses the content of /proc/PID/maps and returns the
// deleted files it maps (marked " (deleted)"), each once, in order, at
// most MaxFiles, leaving out those ignore refuses.
func DeletedMappings(maps []byte, ignore func(string) bool) []string {
	var files []string
	sc := bufio.NewScanner(bytes.NewReader(maps))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		path, ok := strings.CutSuffix(line, " (deleted)")
		if !ok {
			continue
		}
		// address perms offset dev inode, then the path (which may hold
		// spaces): skip five fields.
		rest := path
		for range 5 {
			rest = strings.TrimLeft(rest, " ")
			i := strings.IndexByte(rest, ' ')
			if i < 0 {
				rest = ""
				break
			}
			rest = rest[i:]
		}
		rest = strings.TrimLeft(rest, " ")
		if rest == "" || ignore(rest) || slices.Contains(files, rest) {
			continue
		}
		files = append(files, rest)
		if len(files) == MaxFiles {
			break
		}
	}
	return files
}

// Unit returns the systemd unit of a process from its /proc/PID/cgroup:
// the last .service or .scope of its path (cgroup v2 "0::" line, or v1's
// name=systemd), "" when there is none.
func Unit(cgroup []byte) string {
	var path string
	for _, line := range strings.Split(string(cgroup), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" || parts[1] == "name=systemd" {
			path = parts[2]
		}
	}
	segs := strings.Split(path, "/")
	for i := len(segs) - 1; i >= 0; i-- {
		if strings.HasSuffix(segs[i], ".service") || strings.HasSuffix(segs[i], ".scope") {
			return segs[i]
		}
	}
	return ""
}

// Units are the distinct services of ps that a restart can fix: .service
// units, without except (the agent's own unit: it must not restart itself
// in the middle of a job).
func Units(ps []patchbay.StaleProcess, except string) []string {
	var units []string
	for _, p := range ps {
		if strings.HasSuffix(p.Unit, ".service") && p.Unit != except && !slices.Contains(units, p.Unit) {
			units = append(units, p.Unit)
		}
	}
	slices.Sort(units)
	return units
}

// Restart restarts units with systemctl, one at a time, and returns those
// restarted and the output; it stops at the first failure.
func Restart(ctx context.Context, r pkgmgr.Runner, units []string) ([]string, []byte, error) {
	var done []string
	var out []byte
	for _, u := range units {
		res, err := r.Run(ctx, pkgmgr.Cmd{Path: "systemctl", Args: []string{"restart", "--", u}})
		out = append(append(out, res.Stdout...), res.Stderr...)
		if err == nil && res.ExitCode != 0 {
			err = fmt.Errorf("systemctl restart %s exited with status %d", u, res.ExitCode)
		}
		if err != nil {
			return done, out, err
		}
		done = append(done, u)
	}
	return done, out, nil
}
