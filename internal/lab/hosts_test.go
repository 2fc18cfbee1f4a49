package lab_test

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay/internal/lab"
	"github.com/patchbay/patchbay/internal/lab/labtest"
)

// TestHosts brings up five hosts and checks that each is its own machine
// (hostname, machine id, boot id, PID namespace, network) with a working
// dpkg, and that apt inside sees exactly the real pending Debian updates
// of the mirror step, from the lab repository alone, as security updates.
func TestHosts(t *testing.T) {
	start := time.Now()
	l := labtest.New(t, lab.Options{Hosts: 5})
	t.Logf("lab with 5 hosts up in %s", time.Since(start).Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	mir := l.Mirror()
	if len(mir.Security()) == 0 {
		t.Fatalf("mirror step found no pending security update: %+v", mir.Updates)
	}
	var wantUpgradable []string
	for _, u := range mir.Updates {
		if u.From != "" {
			wantUpgradable = append(wantUpgradable, u.Name+" "+u.To)
		}
	}
	sort.Strings(wantUpgradable)
	t.Logf("pending: %v", wantUpgradable)

	seen := map[string]map[string]string{"hostname": {}, "machine-id": {}, "boot_id": {}}
	for _, h := range l.Hosts() {
		t.Run(h.Name(), func(t *testing.T) {
			ids := lines(mustExec(ctx, t, h, "sh", "-c", "hostname; cat /etc/machine-id /proc/sys/kernel/random/boot_id"))
			want := []string{h.Name(), h.MachineID(), h.BootID()}
			if diff := cmp.Diff(want, ids); diff != "" {
				t.Errorf("hostname, machine-id, boot_id (-lab +host):\n%s", diff)
			}
			for i, kind := range []string{"hostname", "machine-id", "boot_id"} {
				if other, dup := seen[kind][ids[i]]; dup {
					t.Errorf("%s %s shared with %s", kind, ids[i], other)
				}
				seen[kind][ids[i]] = h.Name()
			}
			if got := mustExec(ctx, t, h, "cat", "/proc/1/cmdline"); !strings.Contains(got, "/lab/init") {
				t.Errorf("PID 1 is %q, want /lab/init", got)
			}
			if got := lines(mustExec(ctx, t, h, "ls", "/sys/class/net")); !cmp.Equal(got, []string{"eth0", "lo"}) {
				t.Errorf("interfaces %v, want eth0 lo", got)
			}

			pkgs := lines(mustExec(ctx, t, h, "dpkg-query", "-W", "-f", "${Package} ${Version}\n"))
			if len(pkgs) < 50 || !contains(pkgs, "dpkg ") {
				t.Errorf("dpkg-query -W lists %d packages, want a minbase system", len(pkgs))
			}

			mustExec(ctx, t, h, "apt-get", "update", "-q", "--error-on=any")
			var got []string
			for _, line := range lines(mustExec(ctx, t, h, "apt", "list", "--upgradable")) {
				// apt/oldstable-security 2.6.2 amd64 [upgradable from: 2.6.1]
				name, rest, ok := strings.Cut(line, "/")
				if !ok {
					continue
				}
				f := strings.Fields(rest)
				got = append(got, name+" "+f[1])
			}
			sort.Strings(got)
			if diff := cmp.Diff(wantUpgradable, got); diff != "" {
				t.Errorf("apt list --upgradable (-mirror step +host):\n%s", diff)
			}
			sim := mustExec(ctx, t, h, "apt-get", "-s", "dist-upgrade")
			for _, u := range mir.Security() {
				if !strings.Contains(sim, "Inst "+u.Name+" ") || !strings.Contains(sim, "("+u.To+" Debian-Security:12/oldstable-security") {
					t.Errorf("apt-get -s dist-upgrade does not install %s %s from Debian-Security:12/oldstable-security:\n%s", u.Name, u.To, sim)
				}
			}
		})
	}
}

// TestHostsUpgrade installs the real security updates in a host from the
// lab repository: the .debs the mirror step copied are served and valid.
func TestHostsUpgrade(t *testing.T) {
	l := labtest.New(t, lab.Options{Hosts: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	h := l.Hosts()[0]
	mustExec(ctx, t, h, "apt-get", "update", "-q", "--error-on=any")
	start := time.Now()
	mustExec(ctx, t, h, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "dist-upgrade", "-y", "-q")
	t.Logf("dist-upgrade of %d packages in %s", len(l.Mirror().Updates), time.Since(start).Round(time.Millisecond))
	for _, u := range l.Mirror().Updates {
		got := mustExec(ctx, t, h, "dpkg-query", "-W", "-f", "${Version}", u.Name)
		if got != u.To {
			t.Errorf("%s is %s after dist-upgrade, want %s", u.Name, got, u.To)
		}
	}
	if up := lines(mustExec(ctx, t, h, "apt", "list", "--upgradable")); len(up) > 1 {
		t.Errorf("still upgradable after dist-upgrade: %v", up)
	}
}

func contains(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}
