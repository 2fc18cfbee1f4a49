package rollout

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/patchbay/patchbay"
)

// Rollout is a checked rollout with its window parsed, ready for Plan.
type Rollout struct {
	patchbay.Rollout
	window *Window // nil: always open
}

// Compile checks r and parses its window.
func Compile(r patchbay.Rollout) (Rollout, error) {
	if err := r.Validate(); err != nil {
		return Rollout{}, err
	}
	c := Rollout{Rollout: r}
	if r.Window != nil {
		w, err := ParseWindow(*r.Window)
		if err != nil {
			return Rollout{}, err
		}
		c.window = w
	}
	return c, nil
}

// Window returns the parsed maintenance window, nil when there is none.
func (r Rollout) Window() *Window { return r.window }

// Decision is what the scheduler wants done at one tick. The caller
// applies it in one transaction: it records State (and PauseCause) when
// they differ from the rollout's, marks TimedOut hosts failed, marks Start
// hosts running (attempts+1, started now) and hands their jobs out.
type Decision struct {
	State      patchbay.RolloutState
	PauseCause patchbay.PauseCause // when State is paused
	// Reason says in a sentence why the rollout is where it is or why
	// nothing starts ("maintenance window closed", "baking ring canary
	// until …", "failure budget exceeded: 3 hosts failed, 2 allowed").
	Reason string
	// Ring is the index of the ring being worked on (or baking); it is
	// len(Rings) once every ring is done. When it grows the rollout moved
	// to the next ring.
	Ring int
	// Start lists the hosts to start now, by hostname then id.
	Start []int64
	// TimedOut lists running hosts that passed the rollout's host timeout:
	// record them as failed. They already count as failed in this decision.
	TimedOut []int64
	// RebootTimedOut lists running hosts that reported rebooting longer
	// ago than the rollout's reboot timeout and never came back: record
	// them as failed. They count as failed in this decision too.
	RebootTimedOut []int64
	// Missed lists pending hosts of the current ring that are away (they
	// missed StaleAfterIntervals check-ins) when the ring would start
	// them: record them missed (they catch up when they return, see
	// Rollout.NoCatchUp). They take no slot and do not hold the ring.
	Missed []int64
	// NextWakeup is when to call Plan again at the latest if no host
	// reports before: the window opens or closes, a ring's bake time ends,
	// a running host times out. Zero when only a host's report (or an
	// operator) can change anything. Call Plan again after every report.
	NextWakeup time.Time
}

// ringStats are the counts of one ring at a tick.
type ringStats struct {
	pending, running, done, failed int
	away                           int       // pending hosts that are away
	lastSucceeded                  time.Time // latest FinishedAt of a succeeded host
}

// Plan decides what to do with rollout r whose hosts are in hosts, at now.
// It is a pure function: the same arguments give the same decision.
//
// The rules, in the order they apply:
//
//   - Only running and paused rollouts are scheduled; others get their own
//     state back and nothing to start, but their running hosts (a
//     catch-up of a completed rollout, hosts in flight when it halted)
//     still time out.
//   - Inconsistent input (a host in a ring that does not exist, an unknown
//     host state) halts the rollout: the scheduler stops rather than guess.
//   - A running host older than the rollout's HostTimeout is timed out and
//     counts as failed; so is one that reported rebooting longer ago than
//     the rollout's reboot timeout (it never came back with a new boot id).
//     Time spent waiting for a disruption lease does not count; a host
//     waiting for one times out only once it is away (stopped checking in).
//   - Failure budget: once more hosts have failed than the budget allows
//     (counted over the whole rollout, every ring, a host once), the
//     rollout halts: nothing new starts, hosts in flight finish (as AWS
//     max-errors does).
//   - A failed health gate on a host of a canary ring halts it too, before
//     any later ring starts, whatever the budget.
//   - Rings run in order. A ring is done when each of its hosts succeeded,
//     was skipped or is held; a failed host blocks it until an operator
//     retries (back to pending) or skips it. The next ring starts once the
//     ring is done and its bake time has passed since its last host
//     succeeded (no bake when none succeeded: nothing changed). There is no
//     bake after the last ring.
//   - When every ring is done and nothing runs, the rollout completes (even
//     while paused).
//   - Maintenance window: nothing starts while it is closed. A running
//     rollout whose window is closed pauses (cause window), and hosts in
//     flight finish; a rollout paused by its window resumes when the window
//     opens again. A rollout paused by an operator stays paused.
//   - Away hosts: when the current ring may start hosts (window open, not
//     baking), its pending hosts that are away (HostRun.Away) missed
//     their turn: they are marked missed rather than started, take no
//     slot, and count as done for the ring.
//   - Starts: pending hosts of the current ring that are not away, by
//     hostname then id, while fewer hosts run than the ring's max
//     concurrency.
func Plan(r Rollout, hosts []patchbay.HostRun, now time.Time) Decision {
	d := Decision{State: r.State, PauseCause: r.PauseCause}
	if r.State != patchbay.RolloutRunning && r.State != patchbay.RolloutPaused {
		d.Reason = fmt.Sprintf("the rollout is %s", r.State)
		for i := range hosts {
			h := &hosts[i]
			if h.State != patchbay.HostRunning {
				continue
			}
			switch passed, next := deadlines(r, h, now); passed {
			case deadlineReboot:
				d.RebootTimedOut = append(d.RebootTimedOut, h.HostID)
			case deadlineHost, deadlineLease:
				d.TimedOut = append(d.TimedOut, h.HostID)
			default:
				d.NextWakeup = earliest(d.NextWakeup, next)
			}
		}
		return d
	}
	halt := func(format string, args ...any) Decision {
		d.State, d.PauseCause, d.Start, d.NextWakeup = patchbay.RolloutHalted, "", nil, time.Time{}
		d.Reason = fmt.Sprintf(format, args...)
		return d
	}

	rings := make([]ringStats, len(r.Rings))
	var (
		failed, running int
		timeoutAt       time.Time // earliest timeout among running hosts
		gateFailure     *patchbay.HostRun
	)
	for i := range hosts {
		h := &hosts[i]
		if h.Ring < 0 || h.Ring >= len(r.Rings) {
			return halt("host %s is in ring %d, but the rollout has %d rings", h.Hostname, h.Ring+1, len(r.Rings))
		}
		st := h.State
		if st == patchbay.HostRunning {
			switch passed, next := deadlines(r, h, now); passed {
			case deadlineReboot:
				d.RebootTimedOut = append(d.RebootTimedOut, h.HostID)
				st = patchbay.HostFailed
			case deadlineHost, deadlineLease:
				d.TimedOut = append(d.TimedOut, h.HostID)
				st = patchbay.HostFailed
			default:
				timeoutAt = earliest(timeoutAt, next)
			}
		}
		g := &rings[h.Ring]
		switch st {
		case patchbay.HostPending:
			g.pending++
			if h.Away(now) {
				g.away++
			}
		case patchbay.HostRunning:
			g.running++
			running++
		case patchbay.HostSucceeded:
			g.done++
			if h.FinishedAt.After(g.lastSucceeded) {
				g.lastSucceeded = h.FinishedAt
			}
		case patchbay.HostSkipped, patchbay.HostHeld, patchbay.HostMissed:
			g.done++
		case patchbay.HostFailed:
			g.failed++
			if h.FailedGate != "" && r.Rings[h.Ring].Canary && gateFailure == nil {
				gateFailure = h
			}
		default:
			return halt("host %s is in the unknown state %q", h.Hostname, h.State)
		}
		if h.Failures > 0 || st == patchbay.HostFailed {
			failed++
		}
	}

	if allowed := r.Budget.Allowed(len(hosts)); failed > allowed {
		return halt("failure budget exceeded: %d of %d hosts failed, %d allowed (%s)", failed, len(hosts), allowed, r.Budget)
	}
	if gateFailure != nil {
		return halt("health gate %q failed on %s in canary ring %s", gateFailure.FailedGate, gateFailure.Hostname, r.Rings[gateFailure.Ring].Name)
	}

	// The current ring: the first one not done, or done but still baking
	// while a later ring has work.
	cur, bakeEnd := 0, time.Time{}
	for ; cur < len(rings); cur++ {
		g := rings[cur]
		if g.pending+g.running+g.failed > 0 {
			break
		}
		if end := g.lastSucceeded.Add(r.Rings[cur].BakeTime); !g.lastSucceeded.IsZero() && now.Before(end) && laterWork(rings[cur+1:]) {
			bakeEnd = end
			break
		}
	}
	d.Ring = cur
	if cur == len(rings) {
		d.State, d.PauseCause = patchbay.RolloutCompleted, ""
		d.Reason = "every ring is done"
		return d
	}
	d.NextWakeup = timeoutAt

	// The window decides whether anything may start.
	open, closesAt := true, time.Time{}
	if r.window != nil {
		open, closesAt = r.window.Open(now)
	}
	switch {
	case r.State == patchbay.RolloutPaused && r.PauseCause != patchbay.PauseWindow:
		d.Reason = "paused by an operator"
		return d
	case !open:
		d.State, d.PauseCause = patchbay.RolloutPaused, patchbay.PauseWindow
		opens, _ := r.window.Next(now)
		d.Reason = "maintenance window closed"
		if !opens.IsZero() {
			d.Reason += "; it opens at " + opens.In(r.window.loc).Format(time.RFC3339)
		}
		d.NextWakeup = earliest(d.NextWakeup, opens)
		return d
	case r.State == patchbay.RolloutPaused:
		d.State, d.PauseCause = patchbay.RolloutRunning, ""
	}
	d.NextWakeup = earliest(d.NextWakeup, closesAt)

	ring := r.Rings[cur]
	if !bakeEnd.IsZero() {
		d.Reason = fmt.Sprintf("baking ring %s until %s", ring.Name, bakeEnd.Format(time.RFC3339))
		d.NextWakeup = earliest(d.NextWakeup, bakeEnd)
		return d
	}
	slots := ring.MaxConcurrency - running
	g := rings[cur]
	if g.away > 0 {
		d.Missed = awayHosts(hosts, cur, now)
		g.pending -= g.away
	}
	switch {
	case g.pending == 0 && g.running == 0 && g.failed == 0:
		d.Reason = fmt.Sprintf("ring %s: every host that is not away is done", ring.Name)
	case g.pending == 0 && g.running == 0:
		d.Reason = fmt.Sprintf("ring %s waits: %d failed hosts must be retried or skipped", ring.Name, g.failed)
	case slots <= 0 || g.pending == 0:
		d.Reason = fmt.Sprintf("ring %s: %d hosts running", ring.Name, running)
	default:
		d.Start = pick(hosts, cur, min(slots, g.pending), now)
		d.Reason = fmt.Sprintf("ring %s: starting %d hosts", ring.Name, len(d.Start))
	}
	if len(d.Missed) > 0 {
		d.Reason += fmt.Sprintf("; %d away hosts missed their turn", len(d.Missed))
	}
	return d
}

// Which deadline of a running host passed.
const (
	deadlineReboot = "reboot" // it reported rebooting and never came back
	deadlineHost   = "host"   // the rollout's host timeout
	deadlineLease  = "lease"  // it stopped checking in while waiting for a disruption lease
)

// deadlines checks a running host against its reboot timeout (when it
// reported rebooting) and the rollout's host timeout, less the time it
// waited for a disruption lease: it returns the one that passed, or ""
// and the earliest deadline still ahead (zero: none). A host waiting for
// a lease has no deadline but fails once it is away.
func deadlines(r Rollout, h *patchbay.HostRun, now time.Time) (passed string, next time.Time) {
	if h.Phase == patchbay.PhaseRebooting {
		deadline := h.PhaseSince.Add(r.RebootWait())
		if !now.Before(deadline) {
			return deadlineReboot, time.Time{}
		}
		next = deadline
	}
	if h.Phase == patchbay.PhaseWaitingLease && !h.HostImage && !h.HostLastSeen.IsZero() {
		// Queued behind a disruption budget: the host timeout stands
		// still while the host keeps checking in; one that stops (its
		// agent died in the queue) times out once it is away.
		away := patchbay.AwayAt(h.HostLastSeen, h.HostInterval)
		if !now.Before(away) {
			return deadlineLease, time.Time{}
		}
		return "", earliest(next, away)
	}
	if r.HostTimeout > 0 {
		deadline := h.StartedAt.Add(r.HostTimeout + h.LeaseWait)
		if !now.Before(deadline) {
			return deadlineHost, time.Time{}
		}
		next = earliest(next, deadline)
	}
	return "", next
}

// awayHosts returns the ids of the pending hosts of ring that are away at
// now, in input order.
func awayHosts(hosts []patchbay.HostRun, ring int, now time.Time) []int64 {
	var ids []int64
	for i := range hosts {
		if h := &hosts[i]; h.Ring == ring && h.State == patchbay.HostPending && h.Away(now) {
			ids = append(ids, h.HostID)
		}
	}
	return ids
}

// laterWork reports whether any of rings has a host that is not done.
func laterWork(rings []ringStats) bool {
	for _, g := range rings {
		if g.pending+g.running+g.failed > 0 {
			return true
		}
	}
	return false
}

// pick returns the ids of the first n pending hosts of ring that are not
// away at now, by hostname then id, keeping only n candidates at a time (a
// tick on 10,000 hosts does not sort them all).
func pick(hosts []patchbay.HostRun, ring, n int, now time.Time) []int64 {
	less := func(a, b *patchbay.HostRun) int {
		return cmp.Or(strings.Compare(a.Hostname, b.Hostname), cmp.Compare(a.HostID, b.HostID))
	}
	best := make([]*patchbay.HostRun, 0, n)
	for i := range hosts {
		h := &hosts[i]
		if h.Ring != ring || h.State != patchbay.HostPending || h.Away(now) {
			continue
		}
		if len(best) == n && less(h, best[n-1]) >= 0 {
			continue
		}
		at, _ := slices.BinarySearchFunc(best, h, less)
		if len(best) < n {
			best = slices.Insert(best, at, h)
		} else {
			copy(best[at+1:], best[at:n-1])
			best[at] = h
		}
	}
	ids := make([]int64, len(best))
	for i, h := range best {
		ids[i] = h.HostID
	}
	return ids
}

// earliest returns the earlier of two times, ignoring zero ones.
func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	}
	return b
}

// NextWakeup is when the caller should call Plan again at the latest if no
// host reports and no operator acts before: Plan(r, hosts, now).NextWakeup.
func NextWakeup(r Rollout, hosts []patchbay.HostRun, now time.Time) time.Time {
	return Plan(r, hosts, now).NextWakeup
}
