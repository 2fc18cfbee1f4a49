package lab

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// newUUID is a random (version 4) UUID, as the kernel writes boot ids.
func newUUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// newMachineID is 32 random hex digits, as /etc/machine-id holds.
func newMachineID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// children lists the pids of pid's direct children.
func children(pid int) []int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return nil
	}
	var out []int
	for _, f := range strings.Fields(string(data)) {
		if c, err := strconv.Atoi(f); err == nil {
			out = append(out, c)
		}
	}
	return out
}

// procStart is the start time of a process (field 22 of /proc/PID/stat),
// which tells a process from a later one that got the same pid.
func procStart(pid int) (uint64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; fields after it do not.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// alive reports whether pid is the process that started at start.
func alive(pid int, start uint64) bool {
	got, err := procStart(pid)
	return err == nil && got == start
}

// nsProc is a process of a host's PID namespace.
type nsProc struct {
	pid   int // in the root namespace
	nsPID int // inside the host
	comm  string
}

// nsProcs lists the processes in the PID namespace of pid1 (found by the
// namespace link, so also those that left its process tree).
func nsProcs(pid1 int) ([]nsProc, error) {
	want, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid1))
	if err != nil {
		return nil, fmt.Errorf("host pid namespace: %w", err)
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []nsProc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid)); err != nil || ns != want {
			continue
		}
		p := nsProc{pid: pid}
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		p.comm = strings.TrimSpace(string(comm))
		p.nsPID = nsPIDOf(pid)
		out = append(out, p)
	}
	return out, nil
}

// nsPIDOf is the pid of a process inside its own (innermost) PID
// namespace, 0 if unknown.
func nsPIDOf(pid int) int {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "NSpid:"); ok {
			if f := strings.Fields(v); len(f) > 0 {
				n, _ := strconv.Atoi(f[len(f)-1])
				return n
			}
		}
	}
	return 0
}
