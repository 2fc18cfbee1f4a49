package osinfo

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestParseOSReleaseGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/os-release/*")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, ".golden.json") || strings.HasSuffix(f, ".md") {
			continue
		}
		n++
		t.Run(filepath.Base(f), func(t *testing.T) {
			vars := ParseOSRelease(mustRead(t, f))
			got := struct {
				Vars map[string]string `json:"vars"`
				OS   patchbay.OS       `json:"os"`
			}{vars, OSFromRelease(vars)}
			checkGolden(t, f+".golden.json", got)
		})
	}
	if n < 7 {
		t.Errorf("%d os-release samples, want at least 7", n)
	}
}

func TestParseOSRelease(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want map[string]string
	}{
		{"plain", "ID=debian\n", map[string]string{"ID": "debian"}},
		{"double quotes with escapes", `A="x \"y\" \$z \\ \` + "`w`" + ` \n"`, map[string]string{"A": "x \"y\" $z \\ `w` \\n"}},
		{"single quotes are literal", `A='a \" $b'`, map[string]string{"A": `a \" $b`}},
		{"concatenation", `A="a"'b'c\ d`, map[string]string{"A": "abc d"}},
		{"empty value", "A=\nB=\"\"", map[string]string{"A": "", "B": ""}},
		{"later wins", "A=1\nA=2", map[string]string{"A": "2"}},
		{"comments and blank lines", "# c\n\n  # d\nA=1\n", map[string]string{"A": "1"}},
		{"CRLF", "A=\"1\"\r\nB=2\r\n", map[string]string{"A": "1", "B": "2"}},
		{"unterminated quote skipped", "A=\"1\nB='2\nC=3", map[string]string{"C": "3"}},
		{"trailing backslash skipped", `A=1\`, map[string]string{}},
		{"invalid names skipped", "1A=1\nA B=2\n-C=3\n=4\nnot a line\nD_1=5", map[string]string{"D_1": "5"}},
		{"equals in value", "A=b=c", map[string]string{"A": "b=c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, ParseOSRelease([]byte(tt.in))); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestOSFromRelease(t *testing.T) {
	tests := []struct {
		name string
		vars map[string]string
		want patchbay.OS
	}{
		{"defaults of os-release(5)", map[string]string{}, patchbay.OS{ID: "linux", Name: "Linux", PrettyName: "Linux"}},
		{"Ubuntu codename fallback", map[string]string{"ID": "ubuntu", "UBUNTU_CODENAME": "focal", "NAME": "Ubuntu", "PRETTY_NAME": "Ubuntu 20.04"},
			patchbay.OS{ID: "ubuntu", Codename: "focal", Name: "Ubuntu", PrettyName: "Ubuntu 20.04"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, OSFromRelease(tt.vars)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzParseOSRelease checks that every variable parsed has a valid name
// and a one-line value, and that writing the variables back with double
// quotes and parsing again gives the same variables.
func FuzzParseOSRelease(f *testing.F) {
	for _, name := range []string{"debian-12", "quoting", "almalinux-9"} {
		data, err := os.ReadFile(filepath.Join("testdata/os-release", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		vars := ParseOSRelease(data)
		var b strings.Builder
		for k, v := range vars {
			if !validVarName(k) {
				t.Fatalf("invalid name %q", k)
			}
			if strings.ContainsAny(v, "\n") {
				t.Fatalf("%s: value spans lines: %q", k, v)
			}
			r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `$`, `\$`, "`", "\\`")
			fmt.Fprintf(&b, "%s=\"%s\"\n", k, r.Replace(v))
		}
		// Values are trimmed of blanks around quotes only; leading/trailing
		// blanks inside the value survive the round trip.
		again := ParseOSRelease([]byte(b.String()))
		if diff := cmp.Diff(vars, again); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s\nwritten:\n%s", diff, b.String())
		}
		_ = OSFromRelease(vars)
	})
}

// fakeSystem writes a root filesystem and a proc directory in temp dirs.
type fakeSystem struct {
	root, proc string
}

func newFakeSystem(t *testing.T, rootFiles, procFiles map[string]string) fakeSystem {
	t.Helper()
	s := fakeSystem{root: t.TempDir(), proc: t.TempDir()}
	for p, c := range rootFiles {
		writeFile(t, filepath.Join(s.root, p), c)
	}
	for p, c := range procFiles {
		writeFile(t, filepath.Join(s.proc, p), c)
	}
	return s
}

func standardProc() map[string]string {
	return map[string]string{
		"sys/kernel/osrelease":      "6.1.0-56-amd64\n",
		"sys/kernel/random/boot_id": "3f1b2c4d-0000-4a5b-8c6d-0123456789ab\n",
		"sys/kernel/hostname":       "from-proc\n",
		"uptime":                    "12345.67 23456.78\n",
	}
}

func standardRoot() map[string]string {
	return map[string]string{
		"etc/os-release": "ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nNAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n",
		"etc/machine-id": "0123456789abcdef0123456789abcdef\n",
		"etc/hostname":   "web-01\n",
	}
}

func fixedAddrs() ([]net.Addr, error) {
	cidr := func(s string) net.Addr {
		ip, n, err := net.ParseCIDR(s)
		if err != nil {
			panic(err)
		}
		n.IP = ip
		return n
	}
	return []net.Addr{
		cidr("127.0.0.1/8"), cidr("::1/128"), cidr("10.0.0.5/24"), cidr("fe80::1/64"),
		cidr("169.254.78.3/16"), cidr("2001:db8::5/64"), cidr("10.0.0.5/24"), &net.IPAddr{IP: net.ParseIP("192.0.2.7")},
	}, nil
}

func TestCollect(t *testing.T) {
	sys := newFakeSystem(t, standardRoot(), standardProc())
	opts := Options{
		ProcDir: sys.proc,
		Machine: func() (string, error) { return "x86_64", nil },
		Addrs:   fixedAddrs,
	}
	got, err := Collect(context.Background(), sys.root, opts)
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}
	want := Facts{
		OS:            patchbay.OS{ID: "debian", VersionID: "12", Codename: "bookworm", Name: "Debian GNU/Linux", PrettyName: "Debian GNU/Linux 12 (bookworm)"},
		MachineID:     "0123456789abcdef0123456789abcdef",
		Hostname:      "web-01", // another root: its /etc/hostname
		Kernel:        "6.1.0-56-amd64",
		Arch:          "x86_64",
		BootID:        "3f1b2c4d-0000-4a5b-8c6d-0123456789ab",
		UptimeSeconds: 12345,
		IPAddresses:   []string{"10.0.0.5", "169.254.78.3", "192.0.2.7", "2001:db8::5"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestCollectFallbacks(t *testing.T) {
	outside := t.TempDir()
	writeFile(t, filepath.Join(outside, "os-release"), "ID=outside\n")
	tests := []struct {
		name    string
		files   map[string]string // changes to standardRoot; "" deletes
		symlink [2]string         // path in root, target
		check   func(t *testing.T, f Facts)
	}{
		{
			name:  "os-release only in /usr/lib",
			files: map[string]string{"etc/os-release": "", "usr/lib/os-release": "ID=almalinux\n"},
			check: func(t *testing.T, f Facts) {
				if f.OS.ID != "almalinux" {
					t.Errorf("OS.ID = %q", f.OS.ID)
				}
			},
		},
		{
			name:    "relative symlink followed",
			files:   map[string]string{"etc/os-release": "", "usr/lib/os-release": "ID=debian\n"},
			symlink: [2]string{"etc/os-release", "../usr/lib/os-release"},
			check: func(t *testing.T, f Facts) {
				if f.OS.ID != "debian" {
					t.Errorf("OS.ID = %q", f.OS.ID)
				}
			},
		},
		{
			name:    "absolute symlink out of the root not followed",
			files:   map[string]string{"etc/os-release": "", "usr/lib/os-release": "ID=inside\n"},
			symlink: [2]string{"etc/os-release", filepath.Join(outside, "os-release")},
			check: func(t *testing.T, f Facts) {
				if f.OS.ID != "inside" {
					t.Errorf("OS.ID = %q, want inside", f.OS.ID)
				}
			},
		},
		{
			name:  "machine id from D-Bus",
			files: map[string]string{"etc/machine-id": "", "var/lib/dbus/machine-id": "fedcba9876543210fedcba9876543210\n"},
			check: func(t *testing.T, f Facts) {
				if f.MachineID != "fedcba9876543210fedcba9876543210" {
					t.Errorf("MachineID = %q", f.MachineID)
				}
			},
		},
		{
			name:  "uninitialized machine id falls back",
			files: map[string]string{"etc/machine-id": "uninitialized\n", "var/lib/dbus/machine-id": "fedcba9876543210fedcba9876543210\n"},
			check: func(t *testing.T, f Facts) {
				if f.MachineID != "fedcba9876543210fedcba9876543210" {
					t.Errorf("MachineID = %q", f.MachineID)
				}
			},
		},
		{
			name:  "hostname file with comment",
			files: map[string]string{"etc/hostname": "# set by installer\n\ndb-02\n"},
			check: func(t *testing.T, f Facts) {
				if f.Hostname != "db-02" {
					t.Errorf("Hostname = %q", f.Hostname)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := standardRoot()
			for p, c := range tt.files {
				files[p] = c
			}
			for p, c := range files {
				if c == "" {
					delete(files, p)
				}
			}
			sys := newFakeSystem(t, files, standardProc())
			if tt.symlink[0] != "" {
				if err := os.Symlink(tt.symlink[1], filepath.Join(sys.root, tt.symlink[0])); err != nil {
					t.Fatal(err)
				}
			}
			f, err := Collect(context.Background(), sys.root, Options{ProcDir: sys.proc, Machine: func() (string, error) { return "aarch64", nil }, Addrs: fixedAddrs})
			if err != nil {
				t.Fatalf("Collect: %v", err)
			}
			tt.check(t, f)
		})
	}
}

func TestCollectErrors(t *testing.T) {
	tests := []struct {
		name      string
		rootFiles map[string]string // changes; "" deletes
		procFiles map[string]string
		opts      Options
		wantErr   string
	}{
		{name: "no os-release", rootFiles: map[string]string{"etc/os-release": ""}, wantErr: "os-release"},
		{name: "no machine id", rootFiles: map[string]string{"etc/machine-id": ""}, wantErr: "machine id"},
		{name: "invalid machine id", rootFiles: map[string]string{"etc/machine-id": "not-hex\n"}, wantErr: "machine id"},
		{name: "invalid fallback machine id", rootFiles: map[string]string{"etc/machine-id": ""}, opts: Options{MachineID: "ABC"}, wantErr: "machine id"},
		{name: "empty hostname", rootFiles: map[string]string{"etc/hostname": "\n"}, wantErr: "hostname"},
		{name: "no kernel release", procFiles: map[string]string{"sys/kernel/osrelease": ""}, wantErr: "kernel release"},
		{name: "no boot id", procFiles: map[string]string{"sys/kernel/random/boot_id": ""}, wantErr: "boot id"},
		{name: "bad uptime", procFiles: map[string]string{"uptime": "NaN 1\n"}, wantErr: "uptime"},
		{name: "negative uptime", procFiles: map[string]string{"uptime": "-5 1\n"}, wantErr: "uptime"},
		{name: "machine fails", opts: Options{Machine: func() (string, error) { return "", errors.New("boom") }}, wantErr: "machine architecture"},
		{name: "addresses fail", opts: Options{Addrs: func() ([]net.Addr, error) { return nil, errors.New("boom") }}, wantErr: "interface addresses"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, proc := standardRoot(), standardProc()
			for p, c := range tt.rootFiles {
				root[p] = c
				if c == "" {
					delete(root, p)
				}
			}
			for p, c := range tt.procFiles {
				proc[p] = c
				if c == "" {
					delete(proc, p)
				}
			}
			sys := newFakeSystem(t, root, proc)
			opts := tt.opts
			opts.ProcDir = sys.proc
			if opts.Machine == nil {
				opts.Machine = func() (string, error) { return "x86_64", nil }
			}
			if opts.Addrs == nil {
				opts.Addrs = fixedAddrs
			}
			_, err := Collect(context.Background(), sys.root, opts)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want one about %q", err, tt.wantErr)
			}
		})
	}
}

// TestCollectMachineIDFallback: an image with an empty machine-id reports
// the one it is given; one with its own id keeps it.
func TestCollectMachineIDFallback(t *testing.T) {
	const given = "fedcba9876543210fedcba9876543210"
	for _, tt := range []struct{ file, want string }{
		{"", given},
		{"0123456789abcdef0123456789abcdef\n", "0123456789abcdef0123456789abcdef"},
	} {
		root := standardRoot()
		delete(root, "etc/machine-id")
		if tt.file != "" {
			root["etc/machine-id"] = tt.file
		}
		sys := newFakeSystem(t, root, standardProc())
		f, err := Collect(context.Background(), sys.root, Options{ProcDir: sys.proc, MachineID: given,
			Machine: func() (string, error) { return "x86_64", nil }, Addrs: fixedAddrs})
		if err != nil {
			t.Fatal(err)
		}
		if f.MachineID != tt.want {
			t.Errorf("machine-id file %q: got %s, want %s", tt.file, f.MachineID, tt.want)
		}
	}
}

// TestCollectThisMachine checks the defaults against the running system.
func TestCollectThisMachine(t *testing.T) {
	if _, err := os.Stat("/etc/machine-id"); err != nil {
		skipOrFail(t, "no /etc/machine-id on this machine: %v", err)
	}
	f, err := Collect(context.Background(), "/", Options{})
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}
	host, _ := os.Hostname()
	release := readOrFail(t, "/proc/sys/kernel/osrelease")
	bootID := readOrFail(t, "/proc/sys/kernel/random/boot_id")
	machineID := readOrFail(t, "/etc/machine-id")
	if f.Hostname != host || f.Kernel != release || f.BootID != bootID || f.MachineID != machineID {
		t.Errorf("got %+v; want hostname %q, kernel %q, boot id %q, machine id %q", f, host, release, bootID, machineID)
	}
	if f.OS.ID == "linux" || f.OS.PrettyName == "Linux" {
		t.Errorf("OS %+v: os-release not read", f.OS)
	}
	if f.UptimeSeconds <= 0 || f.Arch == "" {
		t.Errorf("uptime %d, arch %q", f.UptimeSeconds, f.Arch)
	}
	for _, ip := range f.IPAddresses {
		if p := net.ParseIP(ip); p == nil || p.IsLoopback() {
			t.Errorf("address %q", ip)
		}
	}
	t.Logf("%+v", f)
}

func readOrFail(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestDetectPackageManager(t *testing.T) {
	tests := []struct {
		name  string
		files []string
		osrel string
		want  string
	}{
		{name: "nothing", want: ""},
		{name: "debian", files: []string{"var/lib/dpkg/status"}, want: "apt"},
		{name: "rhel 7", files: []string{"usr/bin/yum"}, want: "yum"},
		{name: "rhel 9: yum is dnf", files: []string{"usr/bin/yum", "usr/bin/dnf"}, want: "dnf"},
		{name: "alpine", files: []string{"lib/apk/db/installed"}, want: "apk"},
		{name: "debian with dnf installed", files: []string{"var/lib/dpkg/status", "usr/bin/dnf"}, osrel: "ID=debian\n", want: "apt"},
		{name: "lab rpm host: debian chroot with dnf and a faked os-release", files: []string{"var/lib/dpkg/status", "usr/bin/dnf"},
			osrel: "ID=\"almalinux\"\nID_LIKE=\"rhel centos fedora\"\n", want: "dnf"},
		{name: "ubuntu via ID_LIKE", files: []string{"var/lib/dpkg/status", "usr/bin/dnf"}, osrel: "ID=mint\nID_LIKE=\"ubuntu debian\"\n", want: "apt"},
		{name: "undecided: dpkg first", files: []string{"var/lib/dpkg/status", "lib/apk/db/installed"}, want: "apt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for _, f := range tt.files {
				writeFile(t, filepath.Join(root, f), "")
			}
			if tt.osrel != "" {
				writeFile(t, filepath.Join(root, "etc/os-release"), tt.osrel)
			}
			if got := DetectPackageManager(root); got != tt.want {
				t.Errorf("DetectPackageManager = %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := os.Stat("/var/lib/dpkg/status"); err == nil {
		if got := DetectPackageManager("/"); got != "apt" {
			t.Errorf("DetectPackageManager(/) on this Debian machine = %q, want apt", got)
		}
	}
}

func TestIPAddressesNeverNil(t *testing.T) {
	// An empty list, not null, in the inventory JSON.
	if got := ipAddresses(nil); got == nil || len(got) != 0 {
		t.Errorf("ipAddresses(nil) = %#v", got)
	}
	got := ipAddresses([]net.Addr{&net.IPNet{IP: net.ParseIP("0.0.0.0")}, &net.IPNet{IP: net.ParseIP("fe80::2")}})
	if !slices.Equal(got, []string{}) {
		t.Errorf("got %v", got)
	}
}

func checkGolden(t *testing.T, path string, got any) {
	t.Helper()
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	if *update {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), string(b)); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", path, diff)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("PATCHBAY_CI") == "1" {
		t.Fatalf("PATCHBAY_CI=1: "+format, args...)
	}
	t.Skipf("SKIPPED, proves nothing here: "+format, args...)
}
