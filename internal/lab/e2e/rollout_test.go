package e2e

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/client"
	"github.com/patchbay/patchbay/internal/e2e/e2etest"
	"github.com/patchbay/patchbay/internal/lab"
	"github.com/patchbay/patchbay/internal/lab/labtest"
	"github.com/patchbay/patchbay/internal/pki"
)

// TestRolloutRealApt: a security rollout (canary ring of 1, then the rest)
// runs on real agents with real apt. The agents check in an hour apart, so
// the jobs can only reach them through the long poll, and the server can
// only learn the new versions from the check-in the agent makes right
// after a job. Every host ends at exactly the planned versions, as
// dpkg-query inside the host says, and the server sees no security update
// left.
func TestRolloutRealApt(t *testing.T) {
	labtest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	const hosts = 3

	f := startServer(t)
	tok := e2etest.Decode[patchbay.CreateTokenResponse](t, f.CLI(t, "tokens", "create", "--uses", fmt.Sprint(hosts), "-o", "json"))
	_, port, _ := net.SplitHostPort(f.Addr)
	f.lab = labtest.New(t, lab.Options{
		Hosts:       hosts,
		AgentBinary: binary,
		AgentArgs: []string{"agent", "--server", "https://" + net.JoinHostPort(lab.RepoIP, port), "--token", tok.Token,
			"--state-dir", "/var/lib/patchbay-agent", "--interval", "1h"},
		Expose: []string{f.Addr},
	})
	t.Cleanup(func() {
		if t.Failed() {
			for _, h := range f.lab.Hosts() {
				logTail(t, h)
			}
		}
	})
	tlsCfg, err := pki.PoolConfig(f.CAPEM)
	if err != nil {
		t.Fatal(err)
	}
	c := client.New(f.URL, f.Admin, tlsCfg)
	e2etest.WaitFor(t, "every host with its security updates", 90*time.Second, func() (bool, string) {
		hs, err := c.ListHosts(ctx, client.HostQuery{})
		if err != nil {
			return false, err.Error()
		}
		n := 0
		for _, h := range hs {
			if h.SecurityUpdatesCount > 0 {
				n++
			}
		}
		return n == hosts, hostSummary(hs)
	})

	d, err := c.CreateRollout(ctx, patchbay.Rollout{Name: "lab-security", Policy: patchbay.PolicySecurity,
		Rings: []patchbay.Ring{
			{Name: "canary", Count: 1, MaxConcurrency: 1},
			{Name: "rest", Percent: 100, MaxConcurrency: 2},
		}})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Hosts) != hosts {
		t.Fatalf("plan has %d hosts: %+v", len(d.Hosts), d.Hosts)
	}
	plan := map[string][]patchbay.PackageVersion{}
	for _, h := range d.Hosts {
		if len(h.Patches) == 0 {
			t.Fatalf("%s: empty patch set", h.Hostname)
		}
		plan[h.Hostname] = h.Patches
	}
	for _, a := range []string{"approve", "start"} {
		if _, err := c.RolloutAction(ctx, d.Rollout.ID, a); err != nil {
			t.Fatalf("%s: %v", a, err)
		}
	}
	start := time.Now()
	e2etest.WaitFor(t, "the rollout to end", 5*time.Minute, func() (bool, string) {
		if d, err = c.Rollout(ctx, d.Rollout.ID); err != nil {
			return false, err.Error()
		}
		var states []string
		for _, h := range d.Hosts {
			states = append(states, h.Hostname+"="+string(h.State)+" "+h.Reason)
		}
		s := d.Rollout.State
		return s == patchbay.RolloutCompleted || s == patchbay.RolloutHalted || s == patchbay.RolloutAborted,
			string(s) + ": " + strings.Join(states, ", ")
	})
	t.Logf("FIGURE security rollout on %d lab hosts (canary 1, then 2 at a time) with real apt: %s", hosts, time.Since(start).Round(time.Millisecond))
	if d.Rollout.State != patchbay.RolloutCompleted {
		t.Fatalf("rollout %s: %+v", d.Rollout.State, d.Hosts)
	}

	for _, lh := range f.lab.Hosts() {
		pkgs, ok := plan[lh.Name()]
		if !ok {
			t.Errorf("%s is not in the plan", lh.Name())
			continue
		}
		for _, p := range pkgs {
			name := p.Name
			if p.Arch != "" {
				name += ":" + p.Arch
			}
			got := strings.TrimSpace(mustExec(ctx, t, lh, "dpkg-query", "-W", "-f", "${Version}", name))
			if got != p.Version {
				t.Errorf("%s: %s at %q, planned %s", lh.Name(), name, got, p.Version)
			}
		}
	}
	// The server learnt the new versions from the check-in each agent
	// made right after its job, not from a scheduled one an hour away.
	e2etest.WaitFor(t, "no security update left on the server", 30*time.Second, func() (bool, string) {
		hs, err := c.ListHosts(ctx, client.HostQuery{})
		if err != nil {
			return false, err.Error()
		}
		for _, h := range hs {
			if h.SecurityUpdatesCount != 0 {
				return false, hostSummary(hs)
			}
		}
		return true, ""
	})
}
