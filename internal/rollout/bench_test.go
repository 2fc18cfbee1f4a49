package rollout

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/patchbay/patchbay"
)

// benchRollout is a rollout of n hosts in the middle of its second ring:
// the canary and half of wave1 done, a full batch running, the rest
// pending, in random order (the store's order is not relied on).
func benchRollout(b *testing.B, n int, window *patchbay.Window) (Rollout, []patchbay.HostRun, time.Time) {
	r, err := Compile(patchbay.Rollout{
		Name: "bench", State: patchbay.RolloutRunning, Window: window, HostTimeout: 2 * time.Hour,
		Rings: []patchbay.Ring{
			{Name: "canary", Selector: patchbay.Selector{"role": "template"}, MaxConcurrency: 1, BakeTime: time.Hour, Canary: true},
			{Name: "wave1", Percent: 10, MaxConcurrency: 50, BakeTime: time.Hour},
			{Name: "rest", Percent: 100, MaxConcurrency: 200},
		},
		Budget: patchbay.FailureBudget{Percent: 5},
	})
	if err != nil {
		b.Fatal(err)
	}
	now := testNow
	if window != nil {
		now, _ = r.Window().Next(testNow) // open, so the tick starts hosts
	}
	fleet := make([]patchbay.Host, n)
	for i := range fleet {
		fleet[i] = patchbay.Host{ID: int64(i + 1), Hostname: fmt.Sprintf("host-%05d.example.net", i)}
		if i < 10 {
			fleet[i].Assets.Role = "template"
		}
	}
	rings, err := AssignRings(r.Rollout, fleet)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	hosts := make([]patchbay.HostRun, 0, n)
	wave1 := 0
	for _, i := range rng.Perm(n) {
		h := fleet[i]
		hr := patchbay.HostRun{HostID: h.ID, Hostname: h.Hostname, Ring: rings[h.ID], State: patchbay.HostPending}
		switch hr.Ring {
		case 0:
			hr.State, hr.FinishedAt = patchbay.HostSucceeded, now.Add(-3*time.Hour)
		case 1:
			switch wave1++; {
			case wave1 <= 450:
				hr.State, hr.FinishedAt = patchbay.HostSucceeded, now.Add(-time.Minute)
			case wave1 <= 490:
				hr.State, hr.StartedAt = patchbay.HostRunning, now.Add(-10*time.Minute)
			}
		}
		hosts = append(hosts, hr)
	}
	return r, hosts, now
}

// BenchmarkPlan is the scheduler's cost per tick for a rollout of 10,000
// hosts (issue 5's figure), with and without a maintenance window.
func BenchmarkPlan(b *testing.B) {
	for _, bc := range []struct {
		name   string
		window *patchbay.Window
	}{
		{"10000 hosts", nil},
		{"10000 hosts with window", &patchbay.Window{Cron: "0 22 8-14 * 2", Duration: 8 * time.Hour, TimeZone: "Europe/London", DayOffset: 4}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r, hosts, now := benchRollout(b, 10000, bc.window)
			d := Plan(r, hosts, now)
			if len(d.Start) != 10 {
				b.Fatalf("Plan starts %d hosts; want 10: %+v", len(d.Start), d)
			}
			b.ReportAllocs()
			for b.Loop() {
				Plan(r, hosts, now)
			}
		})
	}
}

func BenchmarkWindowOpen(b *testing.B) {
	x, err := ParseWindow(patchbay.Window{Cron: "0 22 8-14 * 2", Duration: 8 * time.Hour, TimeZone: "Europe/London", DayOffset: 4})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		x.Open(testNow)
	}
}

func BenchmarkAssignRings(b *testing.B) {
	r, _, _ := benchRollout(b, 1, nil)
	fleet := make([]patchbay.Host, 10000)
	for i := range fleet {
		fleet[i] = patchbay.Host{ID: int64(i + 1), Hostname: fmt.Sprintf("host-%05d.example.net", (i*7919)%10000)}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := AssignRings(r.Rollout, fleet); err != nil {
			b.Fatal(err)
		}
	}
}
