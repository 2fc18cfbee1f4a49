// Package e2e proves Patchbay's headline flows on the lab: a real
// `patchbay server` in the root network namespace and the real agent in
// five Debian hosts with real dpkg and apt. One lab is shared by the
// subtests; they run in order (the fault scenarios in parallel, each on its
// own host).
package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/e2e/e2etest"
	"github.com/patchbay/patchbay/internal/lab"
	"github.com/patchbay/patchbay/internal/lab/labtest"
	"github.com/patchbay/patchbay/internal/pki"
)

const (
	hostCount     = 5
	agentInterval = 2 * time.Second
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "patchbay-labe2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Static: the binary is bind-mounted into Debian hosts as the agent.
	if binary, err = e2etest.Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// fleet is the server, its CLI config and the lab whose agents report to it.
type fleet struct {
	*e2etest.Server // in the root namespace, on 127.0.0.1:PORT
	lab             *lab.Lab
	ids             map[string]int64 // lab host name -> server host id
}

func TestLab(t *testing.T) {
	labtest.Require(t)
	testStart := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	f := startServer(t)
	tok := e2etest.Decode[patchbay.CreateTokenResponse](t, f.CLI(t, "tokens", "create", "--uses", fmt.Sprint(hostCount), "--label", "env=lab", "--label", "fleet=lab-e2e", "-o", "json"))
	_, port, _ := net.SplitHostPort(f.Addr)

	upStart := time.Now()
	f.lab = labtest.New(t, lab.Options{
		Hosts:       hostCount,
		AgentBinary: binary,
		AgentArgs: []string{"agent", "--server", "https://" + net.JoinHostPort(lab.RepoIP, port), "--token", tok.Token,
			"--state-dir", "/var/lib/patchbay-agent", "--interval", agentInterval.String(), "--refresh-interval", "0"},
		Expose: []string{f.Addr},
	})
	labUp := time.Since(upStart)
	t.Cleanup(func() {
		if t.Failed() {
			for _, h := range f.lab.Hosts() {
				logTail(t, h)
			}
		}
	})

	// Every host enrols and reports an inventory.
	var hosts []patchbay.Host
	e2etest.WaitFor(t, "5 hosts with an inventory", 90*time.Second, func() (bool, string) {
		hosts = e2etest.Decode[[]patchbay.Host](t, f.CLI(t, "hosts", "list", "-o", "json"))
		n := 0
		for _, h := range hosts {
			if !h.LastInventory.IsZero() && h.PackagesCount > 0 {
				n++
			}
		}
		return n == hostCount, fmt.Sprintf("%d hosts, %d with an inventory: %s", len(hosts), n, hostSummary(hosts))
	})
	reported := time.Since(upStart)
	t.Logf("FIGURE lab up with %d agent hosts: %s; all %d inventories on the server after %s", hostCount, labUp.Round(time.Millisecond), hostCount, reported.Round(time.Millisecond))

	f.ids = map[string]int64{}
	for _, lh := range f.lab.Hosts() {
		for _, h := range hosts {
			if h.Hostname == lh.Name() {
				if h.MachineID != lh.MachineID() {
					t.Errorf("%s: machine id %s on the server, %s in the host", lh.Name(), h.MachineID, lh.MachineID())
				}
				if h.BootID != lh.BootID() {
					t.Errorf("%s: boot id %s on the server, %s in the host", lh.Name(), h.BootID, lh.BootID())
				}
				if h.Assets.Environment != "lab" || h.Labels["fleet"] != "lab-e2e" || h.OS.ID != "debian" || h.OS.VersionID != "12" || h.PackageManager != "apt" {
					t.Errorf("%s on the server: environment %q, labels %v, os %+v, package manager %q", lh.Name(), h.Assets.Environment, h.Labels, h.OS, h.PackageManager)
				}
				f.ids[lh.Name()] = h.ID
			}
		}
	}
	if len(f.ids) != hostCount || len(hosts) != hostCount {
		t.Fatalf("server hosts %s; matched %v of the lab's %d", hostSummary(hosts), f.ids, hostCount)
	}

	t.Run("InventoryEqualsDpkgAndApt", func(t *testing.T) {
		security := map[string]string{} // name -> candidate, from the mirror step's manifest
		for _, u := range f.lab.Mirror().Security() {
			security[u.Name] = u.To
		}
		if len(security) == 0 {
			t.Fatalf("the lab's mirror step found no bookworm-security update pending: %+v", f.lab.Mirror())
		}
		for _, h := range f.lab.Hosts() {
			f.checkPackages(ctx, t, h)
			ups := f.checkUpdates(ctx, t, h)
			got := map[string]string{}
			for _, u := range ups {
				if u.Security {
					got[u.Name] = u.CandidateVersion
				}
			}
			if diff := cmp.Diff(security, got); diff != "" {
				t.Errorf("%s: security updates on the server differ from bookworm-security's (-mirror +server):\n%s", h.Name(), diff)
			}
		}
	})

	withDemo := f.lab.Hosts()[:3]
	withoutDemo := f.lab.Hosts()[3:]
	t.Run("HandInstallIsHistory", func(t *testing.T) {
		if err := f.lab.Repo().Publish(ctx, lab.DemoApp("1.0-1")); err != nil {
			t.Fatal(err)
		}
		for _, h := range withDemo {
			aptGet(ctx, t, h, "update")
			aptGet(ctx, t, h, "install", "-y", "demo-app")
		}
		start := time.Now()
		for _, h := range withDemo {
			id := fmt.Sprint(f.ids[h.Name()])
			e2etest.WaitFor(t, h.Name()+": package_installed demo-app 1.0-1", 30*time.Second, func() (bool, string) {
				ev := e2etest.Decode[[]patchbay.Event](t, f.CLI(t, "hosts", "history", id, "--package", "demo-app", "-o", "json"))
				ok := len(ev) == 1 && ev[0].Kind == patchbay.EventPackageInstalled && ev[0].NewVersion == "1.0-1" && ev[0].Arch == "all" && ev[0].Cause == patchbay.CauseObserved
				return ok, fmt.Sprintf("%+v", ev)
			})
		}
		t.Logf("FIGURE hand installs of demo-app in the history of %d hosts %s after the last install", len(withDemo), time.Since(start).Round(time.Millisecond))
		for _, h := range withoutDemo {
			if ev := e2etest.Decode[[]patchbay.Event](t, f.CLI(t, "hosts", "history", fmt.Sprint(f.ids[h.Name()]), "--package", "demo-app", "-o", "json")); len(ev) != 0 {
				t.Errorf("%s never installed demo-app, yet its history has %+v", h.Name(), ev)
			}
		}
	})

	t.Run("PublishedUpdateReported", func(t *testing.T) {
		if err := f.lab.Repo().Publish(ctx, lab.DemoApp("1.0-2")); err != nil {
			t.Fatal(err)
		}
		published := time.Now()
		for _, h := range withDemo {
			id := fmt.Sprint(f.ids[h.Name()])
			e2etest.WaitFor(t, h.Name()+": demo-app 1.0-2 pending", 30*time.Second, func() (bool, string) {
				ups := e2etest.Decode[[]patchbay.Update](t, f.CLI(t, "hosts", "updates", id, "-o", "json"))
				for _, u := range ups {
					if u.Name == "demo-app" {
						ok := u.InstalledVersion == "1.0-1" && u.CandidateVersion == "1.0-2" && u.Arch == "all" && !u.Security
						return ok, fmt.Sprintf("%+v", u)
					}
				}
				return false, fmt.Sprintf("no demo-app in %d updates", len(ups))
			})
		}
		t.Logf("FIGURE demo-app 1.0-2 reported by %d hosts %s after Publish", len(withDemo), time.Since(published).Round(time.Millisecond))
		// Hosts without demo-app have checked in (and refreshed their
		// indexes) since, and report no such update.
		for _, h := range withoutDemo {
			id := fmt.Sprint(f.ids[h.Name()])
			e2etest.WaitFor(t, h.Name()+": a check-in after Publish", 30*time.Second, func() (bool, string) {
				hh := e2etest.Decode[patchbay.Host](t, f.CLI(t, "hosts", "show", id, "-o", "json"))
				return hh.LastSeen.After(published.Add(agentInterval)), "last seen " + hh.LastSeen.String()
			})
		}
		// The whole list still equals apt's on every host: the new update
		// where demo-app is installed, nothing new elsewhere.
		for _, h := range f.lab.Hosts() {
			f.checkPackages(ctx, t, h)
			ups := f.checkUpdates(ctx, t, h)
			has := slices.ContainsFunc(ups, func(u patchbay.Update) bool { return u.Name == "demo-app" })
			if want := slices.Contains(withDemo, h); has != want {
				t.Errorf("%s: demo-app update reported %v, want %v", h.Name(), has, want)
			}
		}
	})

	t.Run("Faults", func(t *testing.T) {
		t.Run("NetworkCut", func(t *testing.T) {
			t.Parallel()
			f.networkCut(ctx, t, f.lab.Hosts()[3])
		})
		t.Run("Reboot", func(t *testing.T) {
			t.Parallel()
			f.reboot(ctx, t, f.lab.Hosts()[1])
		})
		t.Run("KillAgent", func(t *testing.T) {
			t.Parallel()
			f.killAgent(ctx, t, f.lab.Hosts()[4])
		})
	})

	// After all that: still exactly the five hosts, all active, and the
	// token used once per host.
	hosts = e2etest.Decode[[]patchbay.Host](t, f.CLI(t, "hosts", "list", "-o", "json"))
	if len(hosts) != hostCount {
		t.Errorf("after the faults the server has %d hosts: %s", len(hosts), hostSummary(hosts))
	}
	for _, h := range hosts {
		if h.Status != patchbay.HostActive {
			t.Errorf("after the faults %s is %s (last seen %s)", h.Hostname, h.Status, h.LastSeen)
		}
	}
	t.Logf("FIGURE whole lab e2e test (server, lab, every scenario): %s", time.Since(testStart).Round(time.Millisecond))
}

// checkPackages compares the server's package list of h with dpkg-query
// inside h (packages in an installed state), waiting for the agent's next
// report when they differ.
func (f *fleet) checkPackages(ctx context.Context, t *testing.T, h *lab.Host) {
	t.Helper()
	id := fmt.Sprint(f.ids[h.Name()])
	var want []string
	e2etest.WaitFor(t, h.Name()+": server's packages equal dpkg-query's", 30*time.Second, func() (bool, string) {
		want = dpkgInstalled(ctx, t, h)
		var got []string
		for _, p := range e2etest.Decode[[]patchbay.Package](t, f.CLI(t, "hosts", "packages", id, "-o", "json")) {
			got = append(got, p.Name+" "+p.Version+" "+p.Arch)
		}
		slices.Sort(got)
		return slices.Equal(want, got), cmp.Diff(want, got)
	})
	if len(want) < 50 {
		t.Errorf("%s: only %d packages installed; is dpkg-query reading the host?", h.Name(), len(want))
	}
}

// checkUpdates compares the server's pending updates of h with
// `apt list --upgradable` inside h (the agent refreshes the indexes at every
// check-in), security included, and returns the server's list.
func (f *fleet) checkUpdates(ctx context.Context, t *testing.T, h *lab.Host) []patchbay.Update {
	t.Helper()
	id := fmt.Sprint(f.ids[h.Name()])
	var ups []patchbay.Update
	e2etest.WaitFor(t, h.Name()+": server's updates equal apt's", 30*time.Second, func() (bool, string) {
		want := aptUpgradable(ctx, t, h)
		ups = e2etest.Decode[[]patchbay.Update](t, f.CLI(t, "hosts", "updates", id, "-o", "json"))
		var got []string
		for _, u := range ups {
			got = append(got, fmt.Sprintf("%s %s %s security=%v", u.Name, u.Arch, u.CandidateVersion, u.Security))
		}
		slices.Sort(got)
		return len(want) > 0 && slices.Equal(want, got), cmp.Diff(want, got)
	})
	return ups
}

// networkCut cuts h's link until the server calls it stale, then restores
// it and waits until h reports again.
func (f *fleet) networkCut(ctx context.Context, t *testing.T, h *lab.Host) {
	id := fmt.Sprint(f.ids[h.Name()])
	if err := h.CutNetwork(ctx); err != nil {
		t.Fatal(err)
	}
	cut := time.Now()
	var stale patchbay.Host
	e2etest.WaitFor(t, h.Name()+" stale", 30*time.Second, func() (bool, string) {
		stale = e2etest.Decode[patchbay.Host](t, f.CLI(t, "hosts", "show", id, "-o", "json"))
		return stale.Status == patchbay.HostStale, fmt.Sprintf("%s, last seen %s", stale.Status, stale.LastSeen)
	})
	if listed := e2etest.Decode[[]patchbay.Host](t, f.CLI(t, "hosts", "list", "--stale", "-o", "json")); len(listed) != 1 || listed[0].Hostname != h.Name() {
		t.Errorf("hosts list --stale: %s, want only %s", hostSummary(listed), h.Name())
	}
	t.Logf("FIGURE %s stale %s after the cut", h.Name(), time.Since(cut).Round(time.Millisecond))
	if err := h.RestoreNetwork(ctx); err != nil {
		t.Fatal(err)
	}
	restored := time.Now()
	e2etest.WaitFor(t, h.Name()+" active again", 60*time.Second, func() (bool, string) {
		hh := e2etest.Decode[patchbay.Host](t, f.CLI(t, "hosts", "show", id, "-o", "json"))
		return hh.Status == patchbay.HostActive && hh.LastSeen.After(stale.LastSeen), fmt.Sprintf("%s, last seen %s", hh.Status, hh.LastSeen)
	})
	t.Logf("FIGURE %s active %s after the link came back", h.Name(), time.Since(restored).Round(time.Millisecond))
}

// reboot reboots h and waits for the one reboot event from the old boot
// id to the new.
func (f *fleet) reboot(ctx context.Context, t *testing.T, h *lab.Host) {
	id := fmt.Sprint(f.ids[h.Name()])
	oldBoot := h.BootID()
	if err := h.Reboot(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	newBoot := h.BootID()
	if newBoot == oldBoot || newBoot == "" {
		t.Fatalf("boot id %q after reboot, %q before", newBoot, oldBoot)
	}
	rebooted := time.Now()
	var reboots []patchbay.Event
	e2etest.WaitFor(t, h.Name()+": reboot event", 30*time.Second, func() (bool, string) {
		reboots = reboots[:0]
		for _, e := range e2etest.Decode[[]patchbay.Event](t, f.CLI(t, "hosts", "history", id, "-o", "json")) {
			if e.Kind == patchbay.EventReboot {
				reboots = append(reboots, e)
			}
		}
		hh := e2etest.Decode[patchbay.Host](t, f.CLI(t, "hosts", "show", id, "-o", "json"))
		return len(reboots) > 0 && hh.BootID == newBoot, fmt.Sprintf("boot id %s; reboot events %+v", hh.BootID, reboots)
	})
	t.Logf("FIGURE %s reboot event %s after the new boot", h.Name(), time.Since(rebooted).Round(time.Millisecond))
	// Let the agent send its new inventory too, then there must still be
	// exactly one reboot event.
	time.Sleep(2 * agentInterval)
	reboots = reboots[:0]
	for _, e := range e2etest.Decode[[]patchbay.Event](t, f.CLI(t, "hosts", "history", id, "-o", "json")) {
		if e.Kind == patchbay.EventReboot {
			reboots = append(reboots, e)
		}
	}
	if len(reboots) != 1 || reboots[0].OldVersion != oldBoot || reboots[0].NewVersion != newBoot {
		t.Errorf("%s rebooted once from %s to %s; reboot events: %+v", h.Name(), oldBoot, newBoot, reboots)
	}
}

// killAgent kills h's agent with SIGKILL: the host's init restarts it, and
// it carries on with its saved credential: same host, no new enrolment.
func (f *fleet) killAgent(ctx context.Context, t *testing.T, h *lab.Host) {
	id := fmt.Sprint(f.ids[h.Name()])
	enrolled := countEnrolled(t, h)
	if err := h.KillMain(ctx); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	// A check-in already on the wire may land just after the kill; one
	// well after it comes from the restarted agent.
	e2etest.WaitFor(t, h.Name()+": a check-in from the restarted agent", 30*time.Second, func() (bool, string) {
		hh := e2etest.Decode[patchbay.Host](t, f.CLI(t, "hosts", "show", id, "-o", "json"))
		return hh.LastSeen.After(killed.Add(500 * time.Millisecond)), "last seen " + hh.LastSeen.String()
	})
	t.Logf("FIGURE %s's agent checked in %s after kill -9", h.Name(), time.Since(killed).Round(time.Millisecond))
	if n := countEnrolled(t, h); n != enrolled {
		t.Errorf("%s's agent enrolled again after kill -9 (%d enrolments logged, %d before)", h.Name(), n, enrolled)
	}
	toks := e2etest.Decode[[]patchbay.EnrollToken](t, f.CLI(t, "tokens", "list", "-o", "json"))
	if len(toks) != 1 || toks[0].Uses != hostCount {
		t.Errorf("enrolment tokens after kill -9: %+v, want one used %d times", toks, hostCount)
	}
}

// countEnrolled counts the agent's "enrolled" log lines across boots.
func countEnrolled(t *testing.T, h *lab.Host) int {
	t.Helper()
	data, err := os.ReadFile(h.LogPath())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range strings.Split(string(data), "\n") {
		if strings.Contains(l, "msg=enrolled") {
			n++
		}
	}
	return n
}

// dpkgInstalled lists "name version arch" of every package dpkg has in an
// installed state in h (not config-files or not-installed), sorted.
func dpkgInstalled(ctx context.Context, t *testing.T, h *lab.Host) []string {
	t.Helper()
	out := mustExec(ctx, t, h, "dpkg-query", "-W", "-f", "${db:Status-Abbrev} ${Package} ${Version} ${Architecture}\n")
	var pkgs []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 4 || len(f[0]) < 2 {
			t.Fatalf("%s: dpkg-query line %q", h.Name(), sc.Text())
		}
		if f[0][1] == 'n' || f[0][1] == 'c' {
			continue
		}
		pkgs = append(pkgs, f[1]+" "+f[2]+" "+f[3])
	}
	slices.Sort(pkgs)
	return pkgs
}

// aptUpgradable lists "name arch candidate security=BOOL" of
// `apt list --upgradable` in h, sorted. An update is security when apt
// names a -security suite for it ("apt/oldstable-security 2.6.2 amd64
// [upgradable from: 2.6.1]").
func aptUpgradable(ctx context.Context, t *testing.T, h *lab.Host) []string {
	t.Helper()
	out := mustExec(ctx, t, h, "apt", "list", "--upgradable")
	var ups []string
	for _, l := range strings.Split(out, "\n") {
		name, rest, ok := strings.Cut(l, "/")
		if !ok {
			continue // "Listing..."
		}
		f := strings.Fields(rest)
		if len(f) < 3 || !strings.Contains(l, "[upgradable from:") {
			t.Fatalf("%s: apt list line %q", h.Name(), l)
		}
		security := false
		for _, suite := range strings.Split(f[0], ",") {
			security = security || strings.HasSuffix(suite, "-security")
		}
		ups = append(ups, fmt.Sprintf("%s %s %s security=%v", name, f[2], f[1], security))
	}
	slices.Sort(ups)
	return ups
}

// aptGet runs apt-get in h, retrying while the agent's own apt-get update
// holds a lock.
func aptGet(ctx context.Context, t *testing.T, h *lab.Host, args ...string) {
	t.Helper()
	argv := append([]string{"apt-get", "-q", "-o", "DPkg::Lock::Timeout=30"}, args...)
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := h.Exec(ctx, argv...)
		if err != nil {
			t.Fatalf("%s: %q: %v", h.Name(), argv, err)
		}
		if res.ExitCode == 0 {
			return
		}
		if !strings.Contains(string(res.Stderr), "Could not get lock") || time.Now().After(deadline) {
			t.Fatalf("%s: %q exited %d:\n%s\n%s", h.Name(), argv, res.ExitCode, res.Stdout, res.Stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// mustExec runs argv in h and returns its stdout; a failure to run or a
// non-zero exit fails the test.
func mustExec(ctx context.Context, t *testing.T, h *lab.Host, argv ...string) string {
	t.Helper()
	res, err := h.Exec(ctx, argv...)
	if err != nil {
		t.Fatalf("%s: %q: %v", h.Name(), argv, err)
	}
	if res.ExitCode != 0 {
		t.Fatalf("%s: %q exited %d:\n%s\n%s", h.Name(), argv, res.ExitCode, res.Stdout, res.Stderr)
	}
	return string(res.Stdout)
}

// waitFor polls cond every 250 ms until it holds, and fails the test with
// what cond saw last when timeout passes first.
func hostSummary(hosts []patchbay.Host) string {
	var b strings.Builder
	for _, h := range hosts {
		fmt.Fprintf(&b, "[%d %s %s pkgs=%d ups=%d seen=%s inv=%s] ", h.ID, h.Hostname, h.Status, h.PackagesCount, h.UpdatesCount,
			h.LastSeen.Format(time.TimeOnly), h.LastInventory.Format(time.TimeOnly))
	}
	return b.String()
}

// logTail prints the end of a host's agent log.
func logTail(t *testing.T, h *lab.Host) {
	data, err := os.ReadFile(h.LogPath())
	if err != nil {
		t.Logf("%s: agent log: %v", h.Name(), err)
		return
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	t.Logf("%s: agent log (last 30 lines):\n%s", h.Name(), strings.Join(lines[max(0, len(lines)-30):], "\n"))
}

// startServer runs `patchbay server` (with extra arguments) on a free
// loopback port with a certificate that also names the lab's address, and
// writes a CLI config.
func startServer(t *testing.T, extra ...string) *fleet {
	t.Helper()
	f := &fleet{Server: e2etest.StartServer(t, binary, append([]string{"--tls-san", lab.RepoIP}, extra...)...)}
	// The agents will reach it as https://169.254.77.1:PORT: the
	// certificate must name that address.
	tlsCfg, _ := pki.PoolConfig(f.CAPEM)
	tlsCfg.ServerName = lab.RepoIP
	conn, err := tls.Dial("tcp", f.Addr, tlsCfg)
	if err != nil {
		t.Fatalf("the server's certificate does not cover %s: %v", lab.RepoIP, err)
	}
	conn.Close()
	return f
}
