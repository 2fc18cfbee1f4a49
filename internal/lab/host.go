package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/patchbay/patchbay/internal/pkgmgr"
)

// AgentPath is where the agent binary given in Options.AgentBinary appears,
// read-only, in every host.
const AgentPath = "/usr/local/bin/patchbay"

// RebootCommand is the in-host command that reboots a host: configure the
// agent's reboot command to it.
const RebootCommand = "/usr/local/sbin/reboot"

// Host is one Debian machine of the lab: an overlay of the base image with
// its own network namespace, and per boot its own PID, mount and UTS
// namespaces with /lab/init as PID 1.
type Host struct {
	lab       *Lab
	name      string
	ip        string
	netns     string
	peer      string // veth end on the bridge
	dir       string // upper, work, root, main.log
	root      string // the overlay mount
	machineID string

	mu      sync.Mutex
	boot    *boot // nil while down
	argv    []string
	env     []string
	bootID  string
	boots   int
	booted  chan struct{} // closed and replaced at every boot
	stopped bool          // Stop or Close was asked: no reboot from the shim
}

// boot is one running boot of a host.
type boot struct {
	cmd  *exec.Cmd
	pid1 int // /lab/init, in the root PID namespace
	id   string
	done chan struct{}
	code int // exit code, once done
}

// Name is the host's name and hostname.
func (h *Host) Name() string { return h.name }

// IP is the host's address on the lab bridge.
func (h *Host) IP() string { return h.ip }

// MachineID is the content of the host's /etc/machine-id.
func (h *Host) MachineID() string { return h.machineID }

// Root is the host's root directory as the machine sees it (the overlay
// mount). Read from it if needed; write through WriteFile, which cannot be
// led outside by a symlink.
func (h *Host) Root() string { return h.root }

// LogPath is the file the host's main process writes its output to, across
// boots, with a line from the lab at every boot.
func (h *Host) LogPath() string { return filepath.Join(h.dir, "main.log") }

// BootID is the boot id of the current (or last) boot; "" before the first.
func (h *Host) BootID() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.bootID
}

// Boots counts the boots so far.
func (h *Host) Boots() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.boots
}

// Running reports whether the host is booted.
func (h *Host) Running() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.boot != nil
}

// WaitBoot waits until the host has booted at least n times and is up: a
// test that made a host reboot itself waits for boot Boots()+1.
func (h *Host) WaitBoot(ctx context.Context, n int) error {
	for {
		h.mu.Lock()
		ok := h.boots >= n && h.boot != nil
		ch := h.booted
		h.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("host %s: wait for boot %d: %w", h.name, n, ctx.Err())
		case <-ch:
		}
	}
}

// Start boots the host with argv as its main process (nil: none, the host
// idles) and env added to PATH, LANG=C and LC_ALL=C. It returns once the
// main process runs. The host keeps argv and env for reboots.
func (h *Host) Start(ctx context.Context, argv, env []string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.boot != nil {
		return fmt.Errorf("start %s: already running", h.name)
	}
	h.argv, h.env, h.stopped = argv, env, false
	return h.startLocked(ctx)
}

func (h *Host) startLocked(ctx context.Context) error {
	if h.lab.closing() {
		return fmt.Errorf("start %s: lab closed", h.name)
	}
	id := newUUID()
	logf, err := os.OpenFile(h.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("start %s: %w", h.name, err)
	}
	defer logf.Close()
	fmt.Fprintf(logf, "=== lab: %s boot %d boot_id=%s at %s argv=%q\n", h.name, h.boots+1, id, time.Now().UTC().Format(time.RFC3339Nano), h.argv)
	argv := append([]string{"nsenter", "--net=" + netnsPath(h.netns)}, h.bootArgv(id, append([]string{"/lab/init"}, h.argv...))...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append([]string{"PATH=" + toolPath, "LANG=C", "LC_ALL=C", "HOME=/root"}, h.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Pdeathsig: if the test process dies, unshare dies, and with it
	// (--kill-child) the whole host.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", h.name, err)
	}
	b := &boot{cmd: cmd, id: id, done: make(chan struct{})}
	h.lab.wg.Add(1)
	go h.supervise(b)
	if err := h.waitReady(ctx, b); err != nil {
		killGroup(cmd.Process.Pid)
		<-b.done
		return fmt.Errorf("start %s: %w (log %s: %s)", h.name, err, h.LogPath(), tail(readTail(h.LogPath()), 1500))
	}
	h.boot, h.bootID = b, id
	h.boots++
	close(h.booted)
	h.booted = make(chan struct{})
	h.lab.log.Debug("lab: host booted", "host", h.name, "boot_id", id, "pid1", b.pid1)
	return nil
}

// bootArgv is the unshare command that boots the host's root in fresh
// PID, mount and UTS namespaces and runs command in it.
func (h *Host) bootArgv(bootID string, command []string) []string {
	return append([]string{"unshare", "--pid", "--fork", "--kill-child", "--mount", "--uts", "--propagation", "private", "--",
		"/bin/sh", "-c", bootScript, "sh", h.root, "", "", "", h.name, bootID, h.lab.opts.AgentBinary, "--"}, command...)
}

// waitReady waits until /lab/init of boot b runs the main process.
func (h *Host) waitReady(ctx context.Context, b *boot) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		if b.pid1 == 0 {
			if c := children(b.cmd.Process.Pid); len(c) > 0 {
				b.pid1 = c[0]
			}
		}
		if b.pid1 != 0 {
			// Through PID 1's root: the host's /run, once it chrooted.
			got, err := os.ReadFile(fmt.Sprintf("/proc/%d/root/run/lab/ready", b.pid1))
			if err == nil && strings.TrimSpace(string(got)) == b.id {
				return nil
			}
		}
		select {
		case <-b.done:
			return fmt.Errorf("boot ended with code %d", b.code)
		case <-ctx.Done():
			return fmt.Errorf("boot: %w", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// supervise waits for the end of a boot; a boot that ends with
// rebootExitCode (the in-host reboot shim) is followed by a new one.
func (h *Host) supervise(b *boot) {
	defer h.lab.wg.Done()
	err := b.cmd.Wait()
	b.code = exitCode(b.cmd, err)
	// The host stops being current before done is closed, so whoever
	// waited on done (Stop) sees Running() == false.
	h.mu.Lock()
	current := h.boot == b
	if current {
		h.boot = nil
	}
	reboot := current && b.code == rebootExitCode && !h.stopped
	h.mu.Unlock()
	close(b.done)
	if !current {
		return
	}
	level := slog.LevelInfo
	if h.lab.closing() {
		level = slog.LevelDebug
	}
	h.lab.log.Log(context.Background(), level, "lab: host down", "host", h.name, "boot_id", b.id, "code", b.code, "reboot", reboot)
	if !reboot {
		return
	}
	select {
	case <-h.lab.ctx.Done():
		return
	case <-time.After(h.lab.opts.RebootDelay):
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.boot != nil || h.stopped {
		return
	}
	if err := h.startLocked(h.lab.ctx); err != nil && !h.lab.closing() {
		h.lab.log.Error("lab: host reboot", "host", h.name, "err", err)
	}
}

// exitCode is the code of a finished command, 128+signal when killed.
func exitCode(cmd *exec.Cmd, err error) int {
	if cmd.ProcessState == nil {
		return -1
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return cmd.ProcessState.ExitCode()
}

// Stop shuts the host down: TERM to its PID 1, which forwards it to the
// main process, and after the lab's stop timeout (or when ctx ends) KILL.
// The PID namespace dies with PID 1, and with it /run and every mount of
// the boot. Stopping a host that is down does nothing.
func (h *Host) Stop(ctx context.Context) error {
	h.mu.Lock()
	h.stopped = true
	b := h.boot
	h.mu.Unlock()
	if b == nil {
		return nil
	}
	syscall.Kill(b.pid1, syscall.SIGTERM)
	timer := time.NewTimer(h.lab.opts.StopTimeout)
	defer timer.Stop()
	select {
	case <-b.done:
		return nil
	case <-timer.C:
	case <-ctx.Done():
	}
	h.lab.log.Warn("lab: host did not stop on TERM, killing it", "host", h.name)
	return h.kill(b)
}

// kill ends a boot at once.
func (h *Host) kill(b *boot) error {
	if err := killGroup(b.cmd.Process.Pid); err != nil {
		return fmt.Errorf("kill %s: %w", h.name, err)
	}
	select {
	case <-b.done:
		return nil
	case <-time.After(30 * time.Second):
		return fmt.Errorf("kill %s: boot did not end", h.name)
	}
}

// Reboot stops the host (TERM, then KILL), waits delay, and boots it again
// with a new boot id, a fresh /run and the same main process.
func (h *Host) Reboot(ctx context.Context, delay time.Duration) error {
	if err := h.Stop(ctx); err != nil {
		return fmt.Errorf("reboot %s: %w", h.name, err)
	}
	select {
	case <-ctx.Done():
		return fmt.Errorf("reboot %s: %w", h.name, ctx.Err())
	case <-time.After(delay):
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.boot != nil {
		return nil // booted meanwhile
	}
	h.stopped = false
	return h.startLocked(ctx)
}

// Exec runs argv inside the host (see Run) with the default timeout.
func (h *Host) Exec(ctx context.Context, argv ...string) (pkgmgr.Result, error) {
	if len(argv) == 0 {
		return pkgmgr.Result{ExitCode: -1}, errors.New("exec: empty command")
	}
	return h.Run(ctx, pkgmgr.Cmd{Path: argv[0], Args: argv[1:]})
}

// Run executes c inside the host, so a Host is a pkgmgr.Runner. In a
// running host the command joins its namespaces and root (it sees the
// host's processes and /run); in a host that is down it runs in a one-off
// boot of its own. As with the agent's runner, a non-zero exit is no
// error: only a command that could not run, or ran out of time, is.
func (h *Host) Run(ctx context.Context, c pkgmgr.Cmd) (pkgmgr.Result, error) {
	return h.run(ctx, c, nil)
}

// WriteFile writes data to path inside the host, as root, through the
// host's own view of its file system.
func (h *Host) WriteFile(ctx context.Context, path string, data []byte, mode os.FileMode) error {
	res, err := h.run(ctx, pkgmgr.Cmd{Path: "/bin/sh", Args: []string{"-c", `cat >"$1" && chmod "$2" "$1"`, "sh", path, strconv.FormatUint(uint64(mode.Perm()), 8)}}, data)
	if err == nil && res.ExitCode != 0 {
		err = fmt.Errorf("exit %d: %s", res.ExitCode, tail(string(res.Stderr), 500))
	}
	if err != nil {
		return fmt.Errorf("write %s in %s: %w", path, h.name, err)
	}
	return nil
}

func (h *Host) run(ctx context.Context, c pkgmgr.Cmd, stdin []byte) (pkgmgr.Result, error) {
	res := pkgmgr.Result{ExitCode: -1}
	if c.Path == "" {
		return res, errors.New("run in host: empty command")
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = pkgmgr.DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	inner := append([]string{c.Path}, c.Args...)
	if c.Dir != "" {
		inner = append([]string{"/bin/sh", "-c", `cd "$1" || exit 127; shift; exec "$@"`, "sh", c.Dir}, inner...)
	}
	h.mu.Lock()
	b := h.boot
	bootID := h.bootID
	h.mu.Unlock()
	var argv []string
	if b != nil {
		argv = append([]string{"nsenter", "--target", strconv.Itoa(b.pid1), "--mount", "--uts", "--net", "--pid", "--root", "--wd", "--"}, inner...)
	} else {
		if bootID == "" {
			bootID = newUUID()
		}
		argv = append([]string{"nsenter", "--net=" + netnsPath(h.netns)},
			h.bootArgv(bootID, append([]string{"/bin/sh", "-c", `"$@"; exit $?`, "sh"}, inner...))...)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append([]string{"PATH=" + toolPath, "LANG=C", "LC_ALL=C", "HOME=/root"}, c.Env...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return killGroup(cmd.Process.Pid) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	res = pkgmgr.Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), ExitCode: exitCode(cmd, err)}
	name := filepath.Base(c.Path)
	if err != nil && ctx.Err() != nil {
		return res, fmt.Errorf("run %s in %s: %w", name, h.name, ctx.Err())
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		return res, fmt.Errorf("run %s in %s: %w", name, h.name, err)
	}
	return res, nil
}

// CutNetwork takes the host's eth0 down: it reaches nothing, and its
// connections hang or fail as on a cut cable.
func (h *Host) CutNetwork(ctx context.Context) error {
	if err := ip(ctx, "-n", h.netns, "link", "set", hostIface, "down"); err != nil {
		return fmt.Errorf("cut network of %s: %w", h.name, err)
	}
	return nil
}

// RestoreNetwork brings the host's eth0 back up.
func (h *Host) RestoreNetwork(ctx context.Context) error {
	if err := ip(ctx, "-n", h.netns, "link", "set", hostIface, "up"); err != nil {
		return fmt.Errorf("restore network of %s: %w", h.name, err)
	}
	return nil
}

// KillMain sends SIGKILL to the host's main process (the agent). /lab/init
// starts it again a second later, as systemd would restart a failed
// service.
func (h *Host) KillMain(ctx context.Context) error {
	b, err := h.running()
	if err != nil {
		return fmt.Errorf("kill main of %s: %w", h.name, err)
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/root/run/lab/main.pid", b.pid1))
	if err != nil {
		return fmt.Errorf("kill main of %s: %w", h.name, err)
	}
	nsPID, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return fmt.Errorf("kill main of %s: bad main.pid: %w", h.name, err)
	}
	return h.killWhere(fmt.Sprintf("main process %d", nsPID), b, func(p nsProc) bool { return p.nsPID == nsPID })
}

// KillProcess sends SIGKILL to every process of the host named name (as
// /proc/PID/comm shows it, at most 15 characters), e.g. "dpkg" in the
// middle of an install. It fails when there is none.
func (h *Host) KillProcess(ctx context.Context, name string) error {
	b, err := h.running()
	if err != nil {
		return fmt.Errorf("kill %s in %s: %w", name, h.name, err)
	}
	if len(name) > 15 {
		name = name[:15]
	}
	return h.killWhere(name, b, func(p nsProc) bool { return p.comm == name && p.nsPID != 1 })
}

func (h *Host) killWhere(what string, b *boot, match func(nsProc) bool) error {
	procs, err := nsProcs(b.pid1)
	if err != nil {
		return fmt.Errorf("kill %s in %s: %w", what, h.name, err)
	}
	n := 0
	for _, p := range procs {
		if match(p) {
			if err := syscall.Kill(p.pid, syscall.SIGKILL); err == nil {
				n++
			}
		}
	}
	if n == 0 {
		return fmt.Errorf("kill %s in %s: no such process", what, h.name)
	}
	return nil
}

func (h *Host) running() (*boot, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.boot == nil {
		return nil, errors.New("host is down")
	}
	return h.boot, nil
}

// readTail is the end of a file, for error messages.
func readTail(path string) string {
	data, _ := os.ReadFile(path)
	return string(data)
}
