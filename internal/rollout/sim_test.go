package rollout

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/patchbay/patchbay"
)

// The simulation drives Plan the way the server will: apply each decision,
// let running hosts finish with random outcomes, let an operator retry,
// skip, pause and resume, move the clock, and check the scheduler's
// promises at every tick.

// nightly is open 22:00-01:00 London time; simOpen is its oracle, written
// without the window code.
var nightly = &patchbay.Window{Cron: "0 22 * * *", Duration: 3 * time.Hour, TimeZone: "Europe/London"}

func simOpen(t testing.TB, now time.Time) bool {
	loc, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	h := now.In(loc).Hour()
	return h == 22 || h == 23 || h == 0
}

type simulation struct {
	t       testing.TB
	rng     *rand.Rand
	r       Rollout
	hosts   []patchbay.HostRun
	now     time.Time
	started map[int64]bool // hosts ever started
	pFail   float64
	chaos   bool // operator pauses, gate failures
}

func newSimulation(t testing.TB, seed uint64) *simulation {
	rng := rand.New(rand.NewPCG(seed, seed*0x9e3779b97f4a7c15))
	s := &simulation{t: t, rng: rng, started: map[int64]bool{}, now: testNow}
	n := 1 + rng.IntN(80)
	fleet := make([]patchbay.Host, n)
	for i := range fleet {
		fleet[i] = patchbay.Host{ID: int64(i + 1), Hostname: fmt.Sprintf("h%03d", rng.IntN(1000))}
		if rng.IntN(10) == 0 {
			fleet[i].Assets.Role = "template"
		}
	}
	def := patchbay.Rollout{Name: "sim", State: patchbay.RolloutRunning}
	def.Rings = append(def.Rings, patchbay.Ring{
		Name: "canary", Selector: patchbay.Selector{"role": "template"}, Canary: rng.IntN(2) == 0,
		MaxConcurrency: 1 + rng.IntN(2), BakeTime: time.Duration(rng.IntN(3)) * time.Hour,
	})
	for i := range rng.IntN(3) {
		g := patchbay.Ring{Name: fmt.Sprintf("wave%d", i+1), MaxConcurrency: 1 + rng.IntN(5), BakeTime: time.Duration(rng.IntN(120)) * time.Minute}
		if rng.IntN(2) == 0 {
			g.Count = 1 + rng.IntN(10)
		} else {
			g.Percent = 1 + rng.IntN(60)
		}
		def.Rings = append(def.Rings, g)
	}
	def.Rings = append(def.Rings, patchbay.Ring{Name: "rest", Percent: 100, MaxConcurrency: 1 + rng.IntN(8)})
	if rng.IntN(2) == 0 {
		def.Budget.Count = rng.IntN(4)
	} else {
		def.Budget.Percent = rng.IntN(30)
	}
	if rng.IntN(2) == 0 {
		def.Window = nightly
	}
	if rng.IntN(3) == 0 {
		def.HostTimeout = time.Duration(1+rng.IntN(4)) * time.Hour
	}
	r, err := Compile(def)
	if err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	s.r = r
	rings, err := AssignRings(def, fleet)
	if err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	for _, h := range fleet {
		hr := patchbay.HostRun{HostID: h.ID, Hostname: h.Hostname, Ring: rings[h.ID], State: patchbay.HostPending}
		switch rng.IntN(12) {
		case 0:
			hr.State = patchbay.HostHeld
		case 1:
			hr.State = patchbay.HostSkipped
		}
		s.hosts = append(s.hosts, hr)
	}
	s.pFail = []float64{0, 0, 0.05, 0.2, 0.5}[rng.IntN(5)]
	s.chaos = rng.IntN(3) == 0
	return s
}

func (s *simulation) count(f func(h *patchbay.HostRun) bool) int {
	n := 0
	for i := range s.hosts {
		if f(&s.hosts[i]) {
			n++
		}
	}
	return n
}

func (s *simulation) byID(id int64) *patchbay.HostRun {
	for i := range s.hosts {
		if s.hosts[i].HostID == id {
			return &s.hosts[i]
		}
	}
	s.t.Fatalf("Plan returned unknown host %d", id)
	return nil
}

// run drives the rollout to a final state and returns it.
func (s *simulation) run() patchbay.RolloutState {
	t := s.t
	allowed := s.r.Budget.Allowed(len(s.hosts))
	maxConc := 0
	for _, g := range s.r.Rings {
		maxConc = max(maxConc, g.MaxConcurrency)
	}
	for step := range 20000 {
		d := Plan(s.r, s.hosts, s.now)
		ctx := fmt.Sprintf("step %d at %s (%s): %+v", step, s.now.Format(time.RFC3339), s.r.State, d)

		// The decision itself.
		if d.State != s.r.State {
			if err := patchbay.Transition(s.r.State, d.State); err != nil {
				t.Fatalf("%s: illegal transition: %v", ctx, err)
			}
		}
		if !d.NextWakeup.IsZero() && !d.NextWakeup.After(s.now) {
			t.Fatalf("%s: wake-up %s is not after now", ctx, d.NextWakeup)
		}
		if d.State == patchbay.RolloutCompleted {
			if n := s.count(func(h *patchbay.HostRun) bool { return !h.State.Done() }); n > 0 {
				t.Fatalf("%s: completed with %d hosts not done", ctx, n)
			}
		}
		for _, id := range d.TimedOut {
			h := s.byID(id)
			if h.State != patchbay.HostRunning || s.now.Sub(h.StartedAt) < s.r.HostTimeout {
				t.Fatalf("%s: host %d timed out after %s", ctx, id, s.now.Sub(h.StartedAt))
			}
			h.State, h.Failures, h.FinishedAt = patchbay.HostFailed, h.Failures+1, s.now
		}
		if len(d.Start) > 0 {
			s.checkStart(ctx, d)
		}
		s.r.State, s.r.PauseCause = d.State, d.PauseCause
		for _, id := range d.Start {
			h := s.byID(id)
			h.State, h.Attempts, h.StartedAt, h.FinishedAt, h.FailedGate = patchbay.HostRunning, h.Attempts+1, s.now, time.Time{}, ""
			s.started[id] = true
		}

		// The promise of the failure budget: hosts started ≤ succeeded +
		// budget + concurrency, however the outcomes fall.
		succeeded := s.count(func(h *patchbay.HostRun) bool { return h.State == patchbay.HostSucceeded })
		if len(s.started) > succeeded+allowed+maxConc {
			t.Fatalf("%s: %d hosts started > %d succeeded + %d budget + %d concurrency", ctx, len(s.started), succeeded, allowed, maxConc)
		}
		running := s.count(func(h *patchbay.HostRun) bool { return h.State == patchbay.HostRunning })
		if s.r.State.Final() && running == 0 {
			return s.r.State
		}

		s.world(running)
		wait := time.Duration(1+s.rng.IntN(90)) * time.Minute
		if w := d.NextWakeup; !w.IsZero() && w.Before(s.now.Add(wait)) && s.rng.IntN(2) == 0 {
			wait = w.Sub(s.now)
		}
		s.now = s.now.Add(wait)
	}
	t.Fatalf("no final state after 20000 ticks: %s", s.r.State)
	return ""
}

// checkStart checks a decision that starts hosts against the rules,
// recomputed here from the host list.
func (s *simulation) checkStart(ctx string, d Decision) {
	t := s.t
	if d.State != patchbay.RolloutRunning {
		t.Fatalf("%s: starts hosts while %s", ctx, d.State)
	}
	if s.r.State != patchbay.RolloutRunning && !(s.r.State == patchbay.RolloutPaused && s.r.PauseCause == patchbay.PauseWindow) {
		t.Fatalf("%s: starts hosts of a %s rollout", ctx, s.r.State)
	}
	if s.r.Window() != nil && !simOpen(t, s.now) {
		t.Fatalf("%s: starts hosts outside the window", ctx)
	}
	failed := s.count(func(h *patchbay.HostRun) bool { return h.Failures > 0 || h.State == patchbay.HostFailed })
	if failed > s.r.Budget.Allowed(len(s.hosts)) {
		t.Fatalf("%s: starts hosts with %d failed", ctx, failed)
	}
	running := s.count(func(h *patchbay.HostRun) bool { return h.State == patchbay.HostRunning })
	if running+len(d.Start) > s.r.Rings[d.Ring].MaxConcurrency {
		t.Fatalf("%s: %d running + %d started > max concurrency %d", ctx, running, len(d.Start), s.r.Rings[d.Ring].MaxConcurrency)
	}
	for _, id := range d.Start {
		if h := s.byID(id); h.State != patchbay.HostPending || h.Ring != d.Ring {
			t.Fatalf("%s: starts host %d in state %s, ring %d", ctx, id, h.State, h.Ring)
		}
	}
	for i := range d.Ring {
		var last time.Time
		for _, h := range s.hosts {
			if h.Ring != i {
				continue
			}
			if !h.State.Done() {
				t.Fatalf("%s: ring %d starts while host %d of ring %d is %s", ctx, d.Ring, h.HostID, i, h.State)
			}
			if h.State == patchbay.HostSucceeded && h.FinishedAt.After(last) {
				last = h.FinishedAt
			}
		}
		if !last.IsZero() && s.now.Before(last.Add(s.r.Rings[i].BakeTime)) {
			t.Fatalf("%s: ring %d starts before ring %d baked (last host %s, bake %s)", ctx, d.Ring, i, last, s.r.Rings[i].BakeTime)
		}
	}
}

// world lets running hosts finish and the operator act.
func (s *simulation) world(running int) {
	for i := range s.hosts {
		h := &s.hosts[i]
		switch {
		case h.State == patchbay.HostRunning && s.rng.IntN(2) == 0:
			if s.rng.IntN(10) == 0 && s.r.HostTimeout > 0 {
				continue // a lost agent: only the timeout ends it
			}
			h.FinishedAt = s.now
			if s.rng.Float64() < s.pFail {
				h.State, h.Failures = patchbay.HostFailed, h.Failures+1
				if s.chaos && s.rng.IntN(3) == 0 {
					h.FailedGate = "http"
				}
			} else {
				h.State = patchbay.HostSucceeded
			}
		case h.State == patchbay.HostFailed && !s.r.State.Final() && s.rng.IntN(5) == 0:
			if s.rng.IntN(2) == 0 {
				h.State = patchbay.HostPending // retry
			} else {
				h.State = patchbay.HostSkipped
			}
		}
	}
	if !s.chaos {
		return
	}
	switch {
	case s.r.State == patchbay.RolloutRunning && s.rng.IntN(30) == 0:
		s.r.State, s.r.PauseCause = patchbay.RolloutPaused, patchbay.PauseOperator
	case s.r.State == patchbay.RolloutPaused && s.r.PauseCause == patchbay.PauseOperator && s.rng.IntN(4) == 0:
		s.r.State, s.r.PauseCause = patchbay.RolloutRunning, ""
	case !s.r.State.Final() && s.rng.IntN(500) == 0:
		s.r.State, s.r.PauseCause = patchbay.RolloutAborted, ""
	}
}

func TestPlanSimulation(t *testing.T) {
	finals := map[patchbay.RolloutState]int{}
	for seed := range uint64(400) {
		s := newSimulation(t, seed)
		final := s.run()
		finals[final]++
		// Without failures, lost agents or operators, every rollout completes.
		if s.pFail == 0 && !s.chaos && s.r.HostTimeout == 0 && final != patchbay.RolloutCompleted {
			t.Errorf("seed %d: a rollout without failures ended %s", seed, final)
		}
	}
	// The simulation must reach each ending, or it proves little.
	for _, st := range []patchbay.RolloutState{patchbay.RolloutCompleted, patchbay.RolloutHalted, patchbay.RolloutAborted} {
		if finals[st] == 0 {
			t.Errorf("no simulated rollout ended %s: %v", st, finals)
		}
	}
	t.Logf("endings: %v", finals)
}

func FuzzPlanSimulation(f *testing.F) {
	for _, seed := range []uint64{1, 2, 3, 42, 1 << 40} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, seed uint64) {
		newSimulation(t, seed).run()
	})
}
