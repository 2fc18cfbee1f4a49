package lab

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// StateDir holds one JSON file per running lab: what it created, so that
// CleanStale and Down can remove it from another process. It is on /run,
// which, like the namespaces and mounts it describes, does not survive a
// reboot of the machine.
const StateDir = "/run/patchbay-lab"

// State is what a lab has created on the machine.
type State struct {
	Name       string      `json:"name"`
	OwnerPID   int         `json:"owner_pid"`
	OwnerStart uint64      `json:"owner_start"` // tells the owner from a later process with its pid
	Dir        string      `json:"dir"`
	Netns      []string    `json:"netns"`  // the server's first
	Mounts     []string    `json:"mounts"` // hosts' overlay mounts
	Hosts      []HostState `json:"hosts"`
	Created    time.Time   `json:"created"`
}

// HostState describes one host for a developer.
type HostState struct {
	Name  string `json:"name"`
	IP    string `json:"ip"`
	Netns string `json:"netns"`
	Root  string `json:"root"`
	Log   string `json:"log"`
}

// Alive reports whether the process that owns the lab still runs.
func (s State) Alive() bool { return alive(s.OwnerPID, s.OwnerStart) }

func statePath(name string) string { return filepath.Join(StateDir, name+".json") }

// state describes the lab now.
func (l *Lab) state() State {
	start, _ := procStart(os.Getpid())
	st := State{Name: l.name, OwnerPID: os.Getpid(), OwnerStart: start, Dir: l.dir, Netns: []string{l.srvNS}, Created: l.created}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, h := range l.hosts {
		st.Netns = append(st.Netns, h.netns)
		st.Mounts = append(st.Mounts, h.root)
		st.Hosts = append(st.Hosts, HostState{Name: h.name, IP: h.ip, Netns: h.netns, Root: h.root, Log: h.LogPath()})
	}
	return st
}

// saveState writes the lab's state file.
func (l *Lab) saveState() error {
	l.stateMu.Lock()
	defer l.stateMu.Unlock()
	data, err := json.MarshalIndent(l.state(), "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(StateDir, 0o755); err != nil {
		return fmt.Errorf("save lab state: %w", err)
	}
	if err := writeAtomic(statePath(l.name), append(data, '\n')); err != nil {
		return fmt.Errorf("save lab state: %w", err)
	}
	return nil
}

// List reads the state of every lab on the machine, live or stale.
func List() ([]State, error) {
	files, err := filepath.Glob(filepath.Join(StateDir, "*.json"))
	if err != nil {
		return nil, err
	}
	var out []State
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var st State
		if err := json.Unmarshal(data, &st); err != nil || st.Name+".json" != filepath.Base(f) {
			continue
		}
		out = append(out, st)
	}
	return out, nil
}

// CleanStale removes what labs of dead processes left behind: from their
// state files, and by name (the Prefix) in `ip netns list`, in the mount
// table and in DefaultWorkDir, for any lab whose owner is not running.
// Labs of live processes (another test package running now) are left
// alone.
func CleanStale(ctx context.Context, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	states, err := List()
	if err != nil {
		return err
	}
	live := map[string]bool{}
	var errs []error
	for _, st := range states {
		if st.Alive() {
			live[st.Name] = true
			continue
		}
		log.Warn("lab: removing stale lab", "lab", st.Name, "owner_pid", st.OwnerPID)
		if err := teardown(ctx, log, st); err != nil {
			errs = append(errs, err)
		}
	}
	if err := cleanByName(ctx, log, func(name string) bool { return !live[name] }); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Down tears down the lab called name from any process: its owner (a
// `lab up` in another terminal) is asked to close it with SIGTERM first,
// then whatever is left is removed.
func Down(ctx context.Context, log *slog.Logger, name string) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	data, err := os.ReadFile(statePath(name))
	if err == nil {
		var st State
		if err := json.Unmarshal(data, &st); err != nil {
			return fmt.Errorf("down %s: %w", name, err)
		}
		if st.Alive() && st.OwnerPID != os.Getpid() {
			syscall.Kill(st.OwnerPID, syscall.SIGTERM)
			for i := 0; i < 100 && st.Alive(); i++ {
				if _, err := os.Stat(statePath(name)); errors.Is(err, fs.ErrNotExist) {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
		if err := teardown(ctx, log, st); err != nil {
			return fmt.Errorf("down %s: %w", name, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("down %s: %w", name, err)
	}
	return cleanByName(ctx, log, func(n string) bool { return n == name })
}

// teardown removes what st records: processes in its namespaces, mounts
// (and any other mount under its directory), the namespaces, the
// directory and the state file.
func teardown(ctx context.Context, log *slog.Logger, st State) error {
	var errs []error
	// Every host process runs in its host's network namespace.
	for _, ns := range st.Netns {
		killNetnsProcs(ctx, ns)
	}
	for _, ns := range st.Netns {
		waitNetnsEmpty(ctx, ns, 10*time.Second)
	}
	mounts := append([]string(nil), st.Mounts...)
	if st.Dir != "" {
		mounts = append(mounts, mountsUnder(st.Dir)...)
	}
	if err := unmountAll(mounts); err != nil {
		errs = append(errs, err)
	}
	// Hosts' namespaces before the server's: their veths go with them.
	for i := len(st.Netns) - 1; i >= 0; i-- {
		if err := deleteNetns(ctx, st.Netns[i]); err != nil {
			errs = append(errs, err)
		}
	}
	if st.Dir != "" {
		if err := removeDir(st.Dir); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		if err := os.Remove(statePath(st.Name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("tear down lab %s: %w", st.Name, err)
	}
	return nil
}

// cleanByName removes namespaces, mounts and DefaultWorkDir directories
// named for a lab that stale says is stale, when no state file tells of
// them (the state was lost, or the crash came before it was written).
func cleanByName(ctx context.Context, log *slog.Logger, stale func(name string) bool) error {
	var errs []error
	out, err := runArgs(ctx, "ip", "netns", "list")
	if err != nil {
		return err
	}
	var nss []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], Prefix) {
			continue
		}
		if lab, _, _ := strings.Cut(strings.TrimPrefix(f[0], Prefix), "-"); stale(lab) {
			nss = append(nss, f[0])
		}
	}
	// Hosts before servers, for the same reason as in teardown.
	sort.Slice(nss, func(i, j int) bool { return !strings.HasSuffix(nss[i], "-srv") && strings.HasSuffix(nss[j], "-srv") })
	for _, ns := range nss {
		killNetnsProcs(ctx, ns)
	}
	for _, ns := range nss {
		waitNetnsEmpty(ctx, ns, 10*time.Second)
	}
	var mounts []string
	for _, m := range readMounts() {
		if lab := labOfPath(m); lab != "" && stale(lab) {
			mounts = append(mounts, m)
		}
	}
	if err := unmountAll(mounts); err != nil {
		errs = append(errs, err)
	}
	for _, ns := range nss {
		log.Warn("lab: removing stale netns", "netns", ns)
		if err := deleteNetns(ctx, ns); err != nil {
			errs = append(errs, err)
		}
	}
	dirs, _ := filepath.Glob(filepath.Join(DefaultWorkDir, Prefix+"*"))
	for _, d := range dirs {
		if lab := strings.TrimPrefix(filepath.Base(d), Prefix); stale(lab) {
			log.Warn("lab: removing stale lab dir", "dir", d)
			if err := removeDir(d); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// labOfPath is the lab name of a path with a "pblab-NAME" component, or "".
func labOfPath(p string) string {
	for _, c := range strings.Split(p, "/") {
		if name, ok := strings.CutPrefix(c, Prefix); ok && labNameRE.MatchString(name) {
			return name
		}
	}
	return ""
}

// killNetnsProcs sends SIGKILL to every process in the namespace.
func killNetnsProcs(ctx context.Context, ns string) {
	for _, pid := range netnsPids(ctx, ns) {
		unix.Kill(pid, unix.SIGKILL)
	}
}

func netnsPids(ctx context.Context, ns string) []int {
	if _, err := os.Stat(netnsPath(ns)); err != nil {
		return nil
	}
	out, err := runArgs(ctx, "ip", "netns", "pids", ns)
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 && pid != os.Getpid() {
			pids = append(pids, pid)
		}
	}
	return pids
}

func waitNetnsEmpty(ctx context.Context, ns string, max time.Duration) {
	deadline := time.Now().Add(max)
	for len(netnsPids(ctx, ns)) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
}

// readMounts lists the mount points of the root mount namespace.
func readMounts() []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 {
			out = append(out, unescapeMount(fields[4]))
		}
	}
	return out
}

// unescapeMount undoes the octal escapes (\040) of mountinfo paths.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// mountsUnder lists mount points at or below dir.
func mountsUnder(dir string) []string {
	dir = filepath.Clean(dir)
	var out []string
	for _, m := range readMounts() {
		if m == dir || strings.HasPrefix(m, dir+"/") {
			out = append(out, m)
		}
	}
	return out
}

// unmountAll unmounts each path that is mounted, deepest first, lazily if
// it stays busy.
func unmountAll(paths []string) error {
	mounted := map[string]bool{}
	for _, m := range readMounts() {
		mounted[m] = true
	}
	sort.Slice(paths, func(i, j int) bool { return len(paths[i]) > len(paths[j]) })
	var errs []error
	for _, p := range paths {
		for mounted[p] {
			err := unix.Unmount(p, 0)
			for i := 0; errors.Is(err, unix.EBUSY) && i < 20; i++ {
				time.Sleep(50 * time.Millisecond)
				err = unix.Unmount(p, 0)
			}
			if errors.Is(err, unix.EBUSY) {
				err = unix.Unmount(p, unix.MNT_DETACH)
			}
			if err != nil && !errors.Is(err, unix.EINVAL) {
				errs = append(errs, fmt.Errorf("unmount %s: %w", p, err))
				break
			}
			// Stacked mounts: check again.
			mounted = map[string]bool{}
			for _, m := range readMounts() {
				mounted[m] = true
			}
			if err != nil {
				break
			}
		}
	}
	return errors.Join(errs...)
}

// removeDir removes a lab directory, refusing while anything is mounted
// below it (removing through a mount would delete what it shows).
func removeDir(dir string) error {
	if m := mountsUnder(dir); len(m) > 0 {
		return fmt.Errorf("remove %s: still mounted: %s", dir, strings.Join(m, " "))
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	return nil
}
