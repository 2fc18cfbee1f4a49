package rollout

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/patchbay/patchbay"
)

// now is a Tuesday, 10:00 in London (summer time).
var testNow = time.Date(2026, 6, 2, 9, 0, 0, 0, time.UTC)

type hostOpt func(*patchbay.HostRun)

// finished sets FinishedAt to ago before testNow.
func finished(ago time.Duration) hostOpt {
	return func(h *patchbay.HostRun) { h.FinishedAt = testNow.Add(-ago) }
}

func started(ago time.Duration) hostOpt {
	return func(h *patchbay.HostRun) { h.StartedAt = testNow.Add(-ago) }
}

// waiting puts a running host in the waiting-lease phase since ago.
func waiting(ago time.Duration) hostOpt {
	return func(h *patchbay.HostRun) { h.Phase, h.PhaseSince = patchbay.PhaseWaitingLease, testNow.Add(-ago) }
}

func gate(name string) hostOpt { return func(h *patchbay.HostRun) { h.FailedGate = name } }

func failures(n int) hostOpt { return func(h *patchbay.HostRun) { h.Failures = n } }

// seen sets the host's last check-in to ago before testNow, with a 60 s
// interval: away after 3 minutes.
func seen(ago time.Duration) hostOpt {
	return func(h *patchbay.HostRun) { h.HostLastSeen, h.HostInterval = testNow.Add(-ago), 60 }
}

// host returns host id in a ring and a state; failed hosts have one failure.
func host(id int64, ring int, st patchbay.HostRunState, opts ...hostOpt) patchbay.HostRun {
	h := patchbay.HostRun{HostID: id, Hostname: fmt.Sprintf("h%03d", id), Ring: ring, State: st}
	if st == patchbay.HostFailed {
		h.Failures = 1
	}
	if st != patchbay.HostPending {
		h.Attempts = 1
		h.StartedAt = testNow.Add(-3 * time.Hour)
	}
	if st.Done() || st == patchbay.HostFailed {
		h.FinishedAt = testNow.Add(-2 * time.Hour)
	}
	for _, o := range opts {
		o(&h)
	}
	return h
}

// ring builds n hosts of one ring and state, ids from first.
func ring(first int64, n, ring int, st patchbay.HostRunState, opts ...hostOpt) []patchbay.HostRun {
	var hs []patchbay.HostRun
	for i := range n {
		hs = append(hs, host(first+int64(i), ring, st, opts...))
	}
	return hs
}

func join(parts ...[]patchbay.HostRun) []patchbay.HostRun {
	var out []patchbay.HostRun
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// threeRings: canary (1 at a time, 1h bake, gate "http"), wave1 (2 at a
// time, 30m bake), wave2 (3 at a time); budget 1 host; no window.
func threeRings() patchbay.Rollout {
	return patchbay.Rollout{
		ID: 7, Name: "june", State: patchbay.RolloutRunning,
		Rings: []patchbay.Ring{
			{Name: "canary", Selector: patchbay.Selector{"role": "template"}, MaxConcurrency: 1, BakeTime: time.Hour, HealthGates: []string{"http"}, Canary: true},
			{Name: "wave1", Count: 4, MaxConcurrency: 2, BakeTime: 30 * time.Minute},
			{Name: "wave2", Percent: 100, MaxConcurrency: 3},
		},
		Budget: patchbay.FailureBudget{Count: 1},
	}
}

// saturdays is open from Saturday 22:00 to Sunday 06:00, London time.
var saturdays = &patchbay.Window{Cron: "0 22 * * 6", Duration: 8 * time.Hour, TimeZone: "Europe/London"}

func TestPlan(t *testing.T) {
	with := func(f func(*patchbay.Rollout)) patchbay.Rollout { r := threeRings(); f(&r); return r }
	state := func(s patchbay.RolloutState) patchbay.Rollout {
		return with(func(r *patchbay.Rollout) { r.State = s })
	}
	windowed := func(s patchbay.RolloutState, cause patchbay.PauseCause) patchbay.Rollout {
		return with(func(r *patchbay.Rollout) { r.State, r.PauseCause, r.Window = s, cause, saturdays })
	}
	satNight := time.Date(2026, 6, 6, 23, 0, 0, 0, time.UTC) // Sunday 00:00 BST: open
	satClose := time.Date(2026, 6, 7, 5, 0, 0, 0, time.UTC)  // Sunday 06:00 BST: the window ends
	nextSat := time.Date(2026, 6, 13, 21, 0, 0, 0, time.UTC) // Saturday 22:00 BST after
	satOpens := time.Date(2026, 6, 6, 21, 0, 0, 0, time.UTC) // Saturday 22:00 BST
	running, pending := patchbay.HostRunning, patchbay.HostPending
	succeeded, failed := patchbay.HostSucceeded, patchbay.HostFailed

	for _, tc := range []struct {
		name   string
		r      patchbay.Rollout
		hosts  []patchbay.HostRun
		now    time.Time // testNow when zero
		want   Decision
		reason string // the reason contains this
	}{
		// States that schedule nothing.
		{name: "draft", r: state(patchbay.RolloutDraft), hosts: ring(1, 3, 0, pending),
			want: Decision{State: patchbay.RolloutDraft}, reason: "is draft"},
		{name: "approved", r: state(patchbay.RolloutApproved), hosts: ring(1, 3, 0, pending),
			want: Decision{State: patchbay.RolloutApproved}},
		{name: "aborted", r: state(patchbay.RolloutAborted), hosts: ring(1, 3, 0, pending),
			want: Decision{State: patchbay.RolloutAborted}},
		{name: "halted", r: state(patchbay.RolloutHalted), hosts: ring(1, 3, 0, pending),
			want: Decision{State: patchbay.RolloutHalted}},
		{name: "completed", r: state(patchbay.RolloutCompleted), hosts: ring(1, 3, 0, succeeded),
			want: Decision{State: patchbay.RolloutCompleted}},
		{name: "paused by an operator", r: with(func(r *patchbay.Rollout) { r.State, r.PauseCause = patchbay.RolloutPaused, patchbay.PauseOperator }),
			hosts: ring(1, 3, 0, pending),
			want:  Decision{State: patchbay.RolloutPaused, PauseCause: patchbay.PauseOperator}, reason: "operator"},

		// Rings and concurrency.
		{name: "canary starts one host, by hostname", r: threeRings(),
			hosts: join(ring(5, 4, 1, pending), []patchbay.HostRun{host(3, 0, pending), host(2, 0, pending)}),
			want:  Decision{State: patchbay.RolloutRunning, Start: []int64{2}}},
		{name: "equal hostnames start by id", r: threeRings(),
			hosts: []patchbay.HostRun{{HostID: 9, Hostname: "a", State: pending}, {HostID: 4, Hostname: "a", State: pending}},
			want:  Decision{State: patchbay.RolloutRunning, Start: []int64{4}}},
		{name: "canary at its concurrency", r: threeRings(),
			hosts: join(ring(1, 1, 0, running), ring(2, 1, 0, pending), ring(5, 4, 1, pending)),
			want:  Decision{State: patchbay.RolloutRunning}},
		{name: "free slots are filled", r: threeRings(),
			hosts: join(ring(1, 1, 0, succeeded), ring(2, 4, 1, succeeded), ring(10, 1, 2, running), ring(11, 5, 2, pending)),
			want:  Decision{State: patchbay.RolloutRunning, Ring: 2, Start: []int64{11, 12}}},
		{name: "next ring after the bake time", r: threeRings(),
			hosts: join(ring(1, 1, 0, succeeded, finished(61*time.Minute)), ring(5, 4, 1, pending)),
			want:  Decision{State: patchbay.RolloutRunning, Ring: 1, Start: []int64{5, 6}}},
		{name: "bake time not over", r: threeRings(),
			hosts: join(ring(1, 1, 0, succeeded, finished(20*time.Minute)), ring(5, 4, 1, pending)),
			want:  Decision{State: patchbay.RolloutRunning, NextWakeup: testNow.Add(40 * time.Minute)}, reason: "baking ring canary"},
		{name: "bake counts from the ring's last host", r: threeRings(),
			hosts: join(ring(1, 1, 0, succeeded, finished(50*time.Minute)), ring(2, 1, 0, succeeded, finished(2*time.Hour)), ring(5, 4, 1, pending)),
			want:  Decision{State: patchbay.RolloutRunning, NextWakeup: testNow.Add(10 * time.Minute)}},
		{name: "a ring of held and skipped hosts needs no bake", r: threeRings(),
			hosts: join(ring(1, 1, 0, patchbay.HostHeld, finished(time.Minute)), ring(2, 1, 0, patchbay.HostSkipped, finished(time.Minute)), ring(5, 4, 1, pending)),
			want:  Decision{State: patchbay.RolloutRunning, Ring: 1, Start: []int64{5, 6}}},
		{name: "an empty ring is passed", r: threeRings(),
			hosts: ring(5, 4, 1, pending),
			want:  Decision{State: patchbay.RolloutRunning, Ring: 1, Start: []int64{5, 6}}},
		{name: "a running host holds its ring", r: threeRings(),
			hosts: join(ring(1, 1, 0, succeeded), ring(2, 3, 1, succeeded), ring(5, 1, 1, running), ring(10, 4, 2, pending)),
			want:  Decision{State: patchbay.RolloutRunning, Ring: 1}},
		{name: "no bake after the last ring", r: with(func(r *patchbay.Rollout) { r.Rings[2].BakeTime = time.Hour }),
			hosts: join(ring(1, 1, 0, succeeded), ring(2, 4, 1, succeeded), ring(10, 4, 2, succeeded, finished(time.Second))),
			want:  Decision{State: patchbay.RolloutCompleted, Ring: 3}},
		{name: "completes while paused when nothing is left", r: with(func(r *patchbay.Rollout) { r.State, r.PauseCause = patchbay.RolloutPaused, patchbay.PauseOperator }),
			hosts: join(ring(1, 1, 0, succeeded), ring(2, 1, 1, patchbay.HostSkipped), ring(3, 1, 2, patchbay.HostHeld)),
			want:  Decision{State: patchbay.RolloutCompleted, Ring: 3}},

		// Failure budget.
		{name: "a failure within budget does not stop the ring", r: threeRings(),
			hosts: join(ring(1, 1, 0, succeeded), ring(2, 1, 1, failed), ring(3, 3, 1, pending)),
			want:  Decision{State: patchbay.RolloutRunning, Ring: 1, Start: []int64{3, 4}}},
		{name: "a failed host blocks the next ring", r: threeRings(),
			hosts: join(ring(1, 1, 0, succeeded), ring(2, 1, 1, failed), ring(3, 3, 1, succeeded), ring(10, 4, 2, pending)),
			want:  Decision{State: patchbay.RolloutRunning, Ring: 1}, reason: "1 failed hosts must be retried or skipped"},
		{name: "budget exceeded halts", r: threeRings(),
			hosts: join(ring(1, 1, 0, succeeded), ring(2, 2, 1, failed), ring(4, 1, 1, running), ring(5, 1, 1, pending)),
			want:  Decision{State: patchbay.RolloutHalted}, reason: "2 of 5 hosts failed, 1 allowed"},
		{name: "budget counts across rings", r: threeRings(),
			// ring 1's failure was skipped by an operator; one more in ring 2 is one too many
			hosts: join(ring(1, 1, 0, succeeded), ring(2, 1, 1, patchbay.HostSkipped, failures(1)), ring(3, 3, 1, succeeded), ring(10, 1, 2, failed), ring(11, 3, 2, pending)),
			want:  Decision{State: patchbay.RolloutHalted}},
		{name: "a retried host still counts", r: threeRings(),
			hosts: join(ring(1, 1, 0, succeeded), ring(2, 1, 1, succeeded, failures(1)), ring(3, 1, 1, failed), ring(4, 2, 1, pending)),
			want:  Decision{State: patchbay.RolloutHalted}},
		{name: "budget zero halts at the first failure", r: with(func(r *patchbay.Rollout) { r.Budget = patchbay.FailureBudget{} }),
			hosts: join(ring(1, 1, 0, succeeded), ring(2, 1, 1, failed), ring(3, 3, 1, pending)),
			want:  Decision{State: patchbay.RolloutHalted}},
		{name: "percent budget at its limit", r: with(func(r *patchbay.Rollout) { r.Budget = patchbay.FailureBudget{Percent: 10} }),
			hosts: join(ring(1, 1, 0, succeeded), ring(2, 2, 2, failed), ring(4, 17, 2, pending)), // 10% of 20 = 2
			want:  Decision{State: patchbay.RolloutRunning, Ring: 2, Start: []int64{4, 5, 6}}},
		{name: "percent budget exceeded", r: with(func(r *patchbay.Rollout) { r.Budget = patchbay.FailureBudget{Percent: 10} }),
			hosts: join(ring(1, 1, 0, succeeded), ring(2, 3, 2, failed), ring(5, 16, 2, pending)),
			want:  Decision{State: patchbay.RolloutHalted}, reason: "3 of 20 hosts failed, 2 allowed (10%)"},
		{name: "percent budget rounds down", r: with(func(r *patchbay.Rollout) { r.Budget = patchbay.FailureBudget{Percent: 10} }),
			hosts: join(ring(1, 1, 0, succeeded), ring(2, 2, 2, failed), ring(4, 16, 2, pending)), // 10% of 19 = 1.9 → 1
			want:  Decision{State: patchbay.RolloutHalted}},

		// Health gates.
		{name: "a failed gate on the canary halts whatever the budget", r: with(func(r *patchbay.Rollout) { r.Budget.Count = 5 }),
			hosts: join(ring(1, 1, 0, failed, gate("http")), ring(5, 4, 1, pending)),
			want:  Decision{State: patchbay.RolloutHalted}, reason: `health gate "http" failed on h001 in canary ring canary`},
		{name: "a failed gate elsewhere is a failure within budget", r: threeRings(),
			hosts: join(ring(1, 1, 0, succeeded), ring(2, 1, 1, failed, gate("http")), ring(3, 3, 1, pending)),
			want:  Decision{State: patchbay.RolloutRunning, Ring: 1, Start: []int64{3, 4}}},

		// Away hosts miss their turn.
		{name: "an away host is missed, not started, and takes no slot", r: threeRings(),
			hosts: join(ring(1, 1, 0, succeeded), ring(5, 1, 1, pending, seen(4*time.Minute)), ring(6, 3, 1, pending, seen(time.Minute))),
			want:  Decision{State: patchbay.RolloutRunning, Ring: 1, Start: []int64{6, 7}, Missed: []int64{5}}, reason: "1 away hosts missed their turn"},
		{name: "a host seen just within 3 intervals is started", r: threeRings(),
			hosts: join(ring(1, 1, 0, succeeded), ring(5, 1, 1, pending, seen(3*time.Minute))),
			want:  Decision{State: patchbay.RolloutRunning, Ring: 1, Start: []int64{5}}},
		{name: "a ring of away hosts is missed whole", r: threeRings(),
			hosts: join(ring(1, 1, 0, succeeded), ring(5, 2, 1, pending, seen(time.Hour)), ring(10, 2, 2, pending)),
			want:  Decision{State: patchbay.RolloutRunning, Ring: 1, Missed: []int64{5, 6}}, reason: "every host that is not away is done"},
		{name: "missed hosts are done for their ring", r: threeRings(),
			hosts: join(ring(1, 1, 0, succeeded), ring(5, 2, 1, patchbay.HostMissed), ring(10, 2, 2, pending)),
			want:  Decision{State: patchbay.RolloutRunning, Ring: 2, Start: []int64{10, 11}}},
		{name: "missed hosts neither fail the rollout nor hold its end", r: threeRings(),
			hosts: join(ring(1, 1, 0, patchbay.HostMissed), ring(5, 2, 1, patchbay.HostMissed), ring(10, 2, 2, succeeded, finished(time.Second))),
			want:  Decision{State: patchbay.RolloutCompleted, Ring: 3}},
		{name: "away hosts of a later ring wait for it", r: threeRings(),
			hosts: join(ring(1, 1, 0, pending), ring(5, 2, 1, pending, seen(time.Hour))),
			want:  Decision{State: patchbay.RolloutRunning, Start: []int64{1}}},
		{name: "no host is missed while the window is closed", r: windowed(patchbay.RolloutRunning, ""),
			hosts: ring(1, 2, 0, pending, seen(time.Hour)),
			want:  Decision{State: patchbay.RolloutPaused, PauseCause: patchbay.PauseWindow, NextWakeup: satOpens}},
		{name: "an image is never away", r: threeRings(),
			hosts: []patchbay.HostRun{host(1, 0, pending, seen(time.Hour), func(h *patchbay.HostRun) { h.HostImage = true })},
			want:  Decision{State: patchbay.RolloutRunning, Start: []int64{1}}},

		// A catch-up in a completed rollout still times out.
		{name: "completed rollout: a running catch-up host times out", r: with(func(r *patchbay.Rollout) { r.State, r.HostTimeout = patchbay.RolloutCompleted, time.Hour }),
			hosts: join(ring(1, 1, 0, succeeded), ring(2, 1, 1, running, started(2*time.Hour)), ring(3, 1, 1, running, started(time.Minute))),
			want:  Decision{State: patchbay.RolloutCompleted, TimedOut: []int64{2}, NextWakeup: testNow.Add(59 * time.Minute)}, reason: "is completed"},

		// Timeouts.
		{name: "a host past the timeout fails", r: with(func(r *patchbay.Rollout) { r.HostTimeout = time.Hour; r.Budget.Count = 2 }),
			hosts: join(ring(1, 1, 0, succeeded), ring(2, 1, 1, running, started(time.Hour)), ring(3, 1, 1, running, started(10*time.Minute)), ring(4, 2, 1, pending)),
			want:  Decision{State: patchbay.RolloutRunning, Ring: 1, TimedOut: []int64{2}, Start: []int64{4}, NextWakeup: testNow.Add(50 * time.Minute)}},
		{name: "a host waiting for a lease and checking in has no host timeout", r: with(func(r *patchbay.Rollout) { r.HostTimeout = time.Hour; r.Budget.Count = 2 }),
			hosts: join(ring(1, 1, 0, succeeded), ring(2, 1, 1, running, started(5*time.Hour), waiting(4*time.Hour), seen(30*time.Second))),
			want:  Decision{State: patchbay.RolloutRunning, Ring: 1, NextWakeup: testNow.Add(150 * time.Second)}},
		{name: "a host waiting for a lease times out once it is away", r: with(func(r *patchbay.Rollout) { r.HostTimeout = time.Hour; r.Budget.Count = 2 }),
			hosts: join(ring(1, 1, 0, succeeded), ring(2, 1, 1, running, started(10*time.Minute), waiting(5*time.Minute), seen(3*time.Minute))),
			want:  Decision{State: patchbay.RolloutRunning, Ring: 1, TimedOut: []int64{2}}},
		{name: "a host waiting for a lease in a completed rollout wakes the scheduler when it would be away", r: with(func(r *patchbay.Rollout) { r.State, r.HostTimeout = patchbay.RolloutCompleted, time.Hour }),
			hosts: join(ring(1, 1, 0, succeeded), ring(2, 1, 1, running, started(2*time.Hour), waiting(time.Hour), seen(time.Minute))),
			want:  Decision{State: patchbay.RolloutCompleted, NextWakeup: testNow.Add(2 * time.Minute)}, reason: "is completed"},
		{name: "the time a host waited for a lease does not count against its timeout", r: with(func(r *patchbay.Rollout) { r.HostTimeout = time.Hour; r.Budget.Count = 2 }),
			hosts: join(ring(1, 1, 0, succeeded),
				ring(2, 1, 1, running, started(90*time.Minute), func(h *patchbay.HostRun) { h.LeaseWait = 40 * time.Minute }),
				ring(3, 1, 1, running, started(90*time.Minute), func(h *patchbay.HostRun) { h.LeaseWait = 20 * time.Minute })),
			want: Decision{State: patchbay.RolloutRunning, Ring: 1, TimedOut: []int64{3}, NextWakeup: testNow.Add(10 * time.Minute)}},
		{name: "a timeout can exhaust the budget", r: with(func(r *patchbay.Rollout) { r.HostTimeout = time.Hour; r.Budget.Count = 0 }),
			hosts: join(ring(1, 1, 0, running, started(2*time.Hour)), ring(4, 2, 1, pending)),
			want:  Decision{State: patchbay.RolloutHalted, TimedOut: []int64{1}}},

		// Windows.
		{name: "closed window pauses a running rollout", r: windowed(patchbay.RolloutRunning, ""),
			hosts: ring(1, 2, 0, pending),
			want:  Decision{State: patchbay.RolloutPaused, PauseCause: patchbay.PauseWindow, NextWakeup: satOpens}, reason: "window closed; it opens at 2026-06-06T22:00:00+01:00"},
		{name: "open window starts hosts and wakes at its end", r: windowed(patchbay.RolloutRunning, ""), now: satNight,
			hosts: ring(1, 2, 0, pending),
			want:  Decision{State: patchbay.RolloutRunning, Start: []int64{1}, NextWakeup: satClose}},
		{name: "window closing mid-ring pauses, running hosts go on", r: windowed(patchbay.RolloutRunning, ""), now: satClose,
			hosts: join(ring(1, 1, 0, succeeded), ring(2, 2, 1, running), ring(4, 2, 1, pending)),
			want:  Decision{State: patchbay.RolloutPaused, PauseCause: patchbay.PauseWindow, Ring: 1, NextWakeup: nextSat}},
		{name: "paused by the window, still closed", r: windowed(patchbay.RolloutPaused, patchbay.PauseWindow), now: satClose.Add(time.Hour),
			hosts: join(ring(1, 1, 0, succeeded), ring(4, 2, 1, pending)),
			want:  Decision{State: patchbay.RolloutPaused, PauseCause: patchbay.PauseWindow, Ring: 1, NextWakeup: nextSat}},
		{name: "window reopens: resume", r: windowed(patchbay.RolloutPaused, patchbay.PauseWindow), now: nextSat,
			hosts: join(ring(1, 1, 0, succeeded, finished(24*time.Hour)), ring(4, 2, 1, pending)),
			want:  Decision{State: patchbay.RolloutRunning, Ring: 1, Start: []int64{4, 5}, NextWakeup: nextSat.Add(8 * time.Hour)}},
		{name: "an operator's pause is not resumed by the window", r: windowed(patchbay.RolloutPaused, patchbay.PauseOperator), now: satNight,
			hosts: ring(1, 2, 0, pending),
			want:  Decision{State: patchbay.RolloutPaused, PauseCause: patchbay.PauseOperator}},
		{name: "baking across a closed window pauses", r: windowed(patchbay.RolloutRunning, ""), now: satClose,
			hosts: join(ring(1, 1, 0, succeeded, func(h *patchbay.HostRun) { h.FinishedAt = satClose.Add(-10 * time.Minute) }), ring(4, 2, 1, pending)),
			want:  Decision{State: patchbay.RolloutPaused, PauseCause: patchbay.PauseWindow, NextWakeup: nextSat}},
		{name: "bake ends before the window does", r: windowed(patchbay.RolloutRunning, ""), now: satNight,
			hosts: join(ring(1, 1, 0, succeeded, func(h *patchbay.HostRun) { h.FinishedAt = satNight.Add(-10 * time.Minute) }), ring(4, 2, 1, pending)),
			want:  Decision{State: patchbay.RolloutRunning, NextWakeup: satNight.Add(50 * time.Minute)}},

		// Inconsistent input.
		{name: "a host in a ring that does not exist", r: threeRings(),
			hosts: []patchbay.HostRun{host(1, 3, pending)},
			want:  Decision{State: patchbay.RolloutHalted}, reason: "ring 4, but the rollout has 3 rings"},
		{name: "an unknown host state", r: threeRings(),
			hosts: []patchbay.HostRun{host(1, 0, "exploded")},
			want:  Decision{State: patchbay.RolloutHalted}, reason: `unknown state "exploded"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Compile(tc.r)
			if err != nil {
				t.Fatal(err)
			}
			now := tc.now
			if now.IsZero() {
				now = testNow
			}
			got := Plan(r, tc.hosts, now)
			if diff := cmp.Diff(tc.want, got, cmpopts.IgnoreFields(Decision{}, "Reason"), cmpopts.EquateEmpty(), cmpopts.EquateApproxTime(0)); diff != "" {
				t.Errorf("Plan (-want +got):\n%s\nreason: %s", diff, got.Reason)
			}
			if w := NextWakeup(r, tc.hosts, now); !w.Equal(tc.want.NextWakeup) {
				t.Errorf("NextWakeup = %s; want %s", w, tc.want.NextWakeup)
			}
			if !strings.Contains(got.Reason, tc.reason) {
				t.Errorf("reason %q; want it to contain %q", got.Reason, tc.reason)
			}
		})
	}
}

func TestTransition(t *testing.T) {
	const (
		draft, approved, running, paused = patchbay.RolloutDraft, patchbay.RolloutApproved, patchbay.RolloutRunning, patchbay.RolloutPaused
		completed, halted, aborted       = patchbay.RolloutCompleted, patchbay.RolloutHalted, patchbay.RolloutAborted
	)
	allowed := map[[2]patchbay.RolloutState]bool{
		{draft, approved}: true, {draft, aborted}: true,
		{approved, running}: true, {approved, aborted}: true,
		{running, paused}: true, {running, completed}: true, {running, halted}: true, {running, aborted}: true,
		{paused, running}: true, {paused, completed}: true, {paused, halted}: true, {paused, aborted}: true,
	}
	for _, from := range patchbay.RolloutStates {
		for _, to := range patchbay.RolloutStates {
			t.Run(fmt.Sprintf("%s to %s", from, to), func(t *testing.T) {
				err := patchbay.Transition(from, to)
				if allowed[[2]patchbay.RolloutState{from, to}] {
					if err != nil {
						t.Errorf("Transition: %v", err)
					}
					return
				}
				if patchbay.ErrorCode(err) != patchbay.ECONFLICT {
					t.Fatalf("Transition = %v; want %s", err, patchbay.ECONFLICT)
				}
				msg := patchbay.ErrorMessage(err)
				if !strings.Contains(msg, string(from)) || !strings.Contains(msg, string(to)) {
					t.Errorf("message %q does not name both states", msg)
				}
			})
		}
	}
	for _, tc := range []struct{ from, to patchbay.RolloutState }{{"", running}, {running, "done"}} {
		if err := patchbay.Transition(tc.from, tc.to); patchbay.ErrorCode(err) != patchbay.EINVALID {
			t.Errorf("Transition(%q, %q) = %v; want %s", tc.from, tc.to, err, patchbay.EINVALID)
		}
	}
	for _, s := range patchbay.RolloutStates {
		if s.Final() != (len(s.Next()) == 0) {
			t.Errorf("%s: Final() = %v but Next() = %v", s, s.Final(), s.Next())
		}
	}
}

func TestCompileErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    func(*patchbay.Rollout)
		msg  string
	}{
		{"no name", func(r *patchbay.Rollout) { r.Name = "" }, "needs a name"},
		{"paused without a cause", func(r *patchbay.Rollout) { r.State = patchbay.RolloutPaused }, "pause cause"},
		{"budget with both", func(r *patchbay.Rollout) { r.Budget = patchbay.FailureBudget{Count: 1, Percent: 5} }, "not both"},
		{"negative bake", func(r *patchbay.Rollout) { r.Rings[1].BakeTime = -time.Second }, `ring 2: ring "wave1": bake time -1s is negative`},
		{"percentage over 100", func(r *patchbay.Rollout) { r.Rings[2].Percent = 101 }, "not between 1 and 100"},
		{"empty gate name", func(r *patchbay.Rollout) { r.Rings[0].HealthGates = []string{""} }, "health gate has no name"},
		{"bad window", func(r *patchbay.Rollout) {
			r.Window = &patchbay.Window{Cron: "0 22 * *", Duration: time.Hour, TimeZone: "UTC"}
		}, "cron expression"},
		{"bad selector", func(r *patchbay.Rollout) { r.Rings[0].Selector = patchbay.Selector{"role": ""} }, "want key=value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := threeRings()
			tc.f(&r)
			_, err := Compile(r)
			if patchbay.ErrorCode(err) != patchbay.EINVALID || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("Compile: %v; want an %s error saying %q", err, patchbay.EINVALID, tc.msg)
			}
		})
	}
}

func TestParseSelector(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want patchbay.Selector
		err  bool
	}{
		{"", patchbay.Selector{}, false},
		{"role=template", patchbay.Selector{"role": "template"}, false},
		{" env=prod , site=a ", patchbay.Selector{"env": "prod", "site": "a"}, false},
		{"role", nil, true},
		{"=x", nil, true},
		{"a=1,a=2", nil, true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := patchbay.ParseSelector(tc.in)
			if (err != nil) != tc.err {
				t.Fatalf("ParseSelector(%q) error %v; want error %v", tc.in, err, tc.err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if err == nil {
				again, _ := patchbay.ParseSelector(got.String())
				if diff := cmp.Diff(got, again); diff != "" {
					t.Errorf("String() %q does not parse back (-want +got):\n%s", got.String(), diff)
				}
			}
		})
	}
	h := patchbay.Host{Labels: map[string]string{"site": "a", "role": "label-not-asset"}}
	h.Assets.Environment, h.Assets.Role = "prod", "template"
	for s, want := range map[string]bool{"env=prod,role=template": true, "environment=prod,site=a": true, "site=b": false, "rack=1": false, "role=label-not-asset": false} {
		if got := sel(t, s).Matches(h); got != want {
			t.Errorf("%s matches = %v; want %v", s, got, want)
		}
	}
}
