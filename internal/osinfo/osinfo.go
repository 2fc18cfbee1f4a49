// Package osinfo collects the facts that identify a host and its
// operating system: os-release, machine id, host name, running kernel,
// architecture, boot id, uptime and addresses. Every source is injectable
// through Options, so tests and the lab (whose hosts share the real
// machine's kernel) can drive them.
package osinfo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/patchbay/patchbay"
)

// Facts are what Collect finds out about a host.
type Facts struct {
	OS            patchbay.OS
	MachineID     string
	Hostname      string
	Kernel        string // release of the running kernel, as `uname -r`
	Arch          string // machine architecture as `uname -m`: "x86_64", "aarch64"
	BootID        string
	UptimeSeconds int64
	IPAddresses   []string // sorted, without loopback and IPv6 link-local addresses
}

// Options are the sources of the facts; zero values mean the running
// system's.
type Options struct {
	// ProcDir is where the kernel's proc filesystem is: kernel release,
	// boot id, uptime. Default "/proc".
	ProcDir string
	// Hostname returns the host name when the root is "/". Default:
	// PROCDIR/sys/kernel/hostname, else os.Hostname. For another root,
	// ROOT/etc/hostname is read instead.
	Hostname func() (string, error)
	// Machine returns the machine architecture. Default: uname(2).
	Machine func() (string, error)
	// MachineID is the machine id to report when the root has none: an
	// image whose machine-id is empty so that every clone makes its own
	// at first boot. Empty: a root without one is an error.
	MachineID string
	// Addrs lists the addresses of the interfaces that are up and not
	// loopback. Default: from net.Interfaces.
	Addrs func() ([]net.Addr, error)
}

// Collect gathers the facts of the system whose root filesystem is at root
// ("/" for the running system). The OS, machine id and host name come from
// the root filesystem; kernel, architecture, boot id, uptime and addresses
// describe the running kernel and network, whatever the root. A fact that
// cannot be read is an error.
func Collect(ctx context.Context, root string, opts Options) (Facts, error) {
	if root == "" {
		root = "/"
	}
	root = filepath.Clean(root)
	opts = opts.withDefaults()
	fsys, err := os.OpenRoot(root)
	if err != nil {
		return Facts{}, fmt.Errorf("open root %s: %w", root, err)
	}
	defer fsys.Close()

	var f Facts
	if f.OS, err = readOS(fsys); err != nil {
		return Facts{}, err
	}
	if f.MachineID, err = readMachineID(fsys); err != nil {
		if opts.MachineID == "" {
			return Facts{}, err
		}
		if !validMachineID(opts.MachineID) {
			return Facts{}, fmt.Errorf("machine id %q: want 32 lower-case hexadecimal characters", opts.MachineID)
		}
		f.MachineID = opts.MachineID
	}
	if f.Hostname, err = hostname(fsys, root, opts); err != nil {
		return Facts{}, err
	}
	if f.Kernel, err = readLine(filepath.Join(opts.ProcDir, "sys/kernel/osrelease")); err != nil {
		return Facts{}, fmt.Errorf("kernel release: %w", err)
	}
	if f.BootID, err = readLine(filepath.Join(opts.ProcDir, "sys/kernel/random/boot_id")); err != nil {
		return Facts{}, fmt.Errorf("boot id: %w", err)
	}
	if f.UptimeSeconds, err = readUptime(filepath.Join(opts.ProcDir, "uptime")); err != nil {
		return Facts{}, err
	}
	if f.Arch, err = opts.Machine(); err != nil {
		return Facts{}, fmt.Errorf("machine architecture: %w", err)
	}
	addrs, err := opts.Addrs()
	if err != nil {
		return Facts{}, fmt.Errorf("interface addresses: %w", err)
	}
	f.IPAddresses = ipAddresses(addrs)
	return f, nil
}

func (o Options) withDefaults() Options {
	if o.ProcDir == "" {
		o.ProcDir = "/proc"
	}
	if o.Hostname == nil {
		proc := o.ProcDir
		o.Hostname = func() (string, error) {
			if name, err := readLine(filepath.Join(proc, "sys/kernel/hostname")); err == nil {
				return name, nil
			}
			return os.Hostname()
		}
	}
	if o.Machine == nil {
		o.Machine = unameMachine
	}
	if o.Addrs == nil {
		o.Addrs = interfaceAddrs
	}
	return o
}

// readOS reads /etc/os-release, or /usr/lib/os-release when the first is
// missing (or, in another root, an absolute symlink that would lead out
// of it).
func readOS(fsys *os.Root) (patchbay.OS, error) {
	var firstErr error
	for _, p := range []string{"etc/os-release", "usr/lib/os-release"} {
		data, err := fsys.ReadFile(p)
		if err == nil {
			return OSFromRelease(ParseOSRelease(data)), nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return patchbay.OS{}, fmt.Errorf("read os-release: %w", firstErr)
}

// readMachineID reads /etc/machine-id, or D-Bus's copy. An empty file or
// "uninitialized" (an image before its first boot) is no machine id.
func readMachineID(fsys *os.Root) (string, error) {
	for _, p := range []string{"etc/machine-id", "var/lib/dbus/machine-id"} {
		data, err := fsys.ReadFile(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return "", fmt.Errorf("read machine id: %w", err)
		}
		id := strings.TrimSpace(string(data))
		if validMachineID(id) {
			return id, nil
		}
	}
	return "", fmt.Errorf("no machine id in /etc/machine-id or /var/lib/dbus/machine-id (run systemd-machine-id-setup or dbus-uuidgen --ensure)")
}

// validMachineID: 32 lower-case hexadecimal characters (machine-id(5)).
func validMachineID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !('0' <= s[i] && s[i] <= '9' || 'a' <= s[i] && s[i] <= 'f') {
			return false
		}
	}
	return true
}

func hostname(fsys *os.Root, root string, opts Options) (string, error) {
	var name string
	if root == "/" {
		n, err := opts.Hostname()
		if err != nil {
			return "", fmt.Errorf("hostname: %w", err)
		}
		name = n
	} else {
		data, err := fsys.ReadFile("etc/hostname")
		if err != nil {
			return "", fmt.Errorf("read hostname: %w", err)
		}
		for _, l := range strings.Split(string(data), "\n") {
			if l = strings.TrimSpace(l); l != "" && l[0] != '#' {
				name = l
				break
			}
		}
	}
	name = strings.TrimSpace(name)
	if name == "" {
		return "", fmt.Errorf("hostname: empty")
	}
	return name, nil
}

func readLine(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := string(bytes.TrimSpace(data))
	if s == "" {
		return "", fmt.Errorf("%s: empty", path)
	}
	return s, nil
}

// readUptime reads the first number of /proc/uptime ("12345.67 2345.89"):
// seconds since boot, truncated.
func readUptime(path string) (int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("uptime: %w", err)
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return 0, fmt.Errorf("uptime: %s is empty", path)
	}
	secs, err := strconv.ParseFloat(f[0], 64)
	if err != nil || !(secs >= 0 && secs < 1<<53) { // also refuses NaN
		return 0, fmt.Errorf("uptime: bad value %q in %s", f[0], path)
	}
	return int64(secs), nil
}

// ipAddresses returns the addresses of addrs as strings, sorted and
// without duplicates, leaving out loopback and IPv6 link-local (fe80::/10)
// ones, which say nothing about where to reach a host. IPv4 link-local
// addresses stay: the test lab gives its hosts 169.254.78.x.
func ipAddresses(addrs []net.Addr) []string {
	ips := []string{}
	for _, a := range addrs {
		var ip net.IP
		switch v := a.(type) {
		case *net.IPNet:
			ip = v.IP
		case *net.IPAddr:
			ip = v.IP
		default:
			ip = net.ParseIP(strings.SplitN(a.String(), "/", 2)[0])
		}
		if ip == nil || ip.IsLoopback() || ip.IsUnspecified() || ip.To4() == nil && ip.IsLinkLocalUnicast() {
			continue
		}
		if s := ip.String(); !slices.Contains(ips, s) {
			ips = append(ips, s)
		}
	}
	slices.Sort(ips)
	return ips
}

// interfaceAddrs lists the addresses of the interfaces that are up and
// not loopback.
func interfaceAddrs() ([]net.Addr, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	var all []net.Addr
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			return nil, fmt.Errorf("addresses of %s: %w", ifc.Name, err)
		}
		all = append(all, addrs...)
	}
	return all, nil
}

func unameMachine() (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", err
	}
	return unix.ByteSliceToString(u.Machine[:]), nil
}

// DetectPackageManager names the package manager of the system whose root
// filesystem is at root: "apt" (ROOT/var/lib/dpkg/status), "dnf"
// (ROOT/usr/bin/dnf), "yum" (ROOT/usr/bin/yum), "apk"
// (ROOT/lib/apk/db/installed), or "" for none of them. When several are
// present (a Debian system with dnf installed; RHEL 8+, where yum is dnf),
// the family of the OS in os-release decides, and dnf wins over yum.
func DetectPackageManager(root string) string {
	if root == "" {
		root = "/"
	}
	exists := func(p string) bool {
		_, err := os.Stat(filepath.Join(root, p))
		return err == nil
	}
	var found []string
	if exists("var/lib/dpkg/status") {
		found = append(found, "apt")
	}
	if exists("usr/bin/dnf") {
		found = append(found, "dnf")
	} else if exists("usr/bin/yum") {
		found = append(found, "yum")
	}
	if exists("lib/apk/db/installed") {
		found = append(found, "apk")
	}
	if len(found) <= 1 {
		return strings.Join(found, "")
	}
	var family string
	if fsys, err := os.OpenRoot(root); err == nil {
		if osr, err := readOS(fsys); err == nil {
			family = osFamily(osr)
		}
		fsys.Close()
	}
	for _, pm := range found {
		if family == "rpm" && (pm == "dnf" || pm == "yum") || family == pm {
			return pm
		}
	}
	return found[0]
}

// osFamily is the package manager family of an OS by its ID and ID_LIKE:
// "apt", "rpm", "apk" or "".
func osFamily(o patchbay.OS) string {
	for _, id := range append([]string{o.ID}, strings.Fields(o.IDLike)...) {
		switch id {
		case "debian", "ubuntu":
			return "apt"
		case "rhel", "fedora", "centos", "almalinux", "rocky", "ol", "amzn":
			return "rpm"
		case "alpine":
			return "apk"
		}
	}
	return ""
}
