// Package rollout is the pure core of rollouts: which ring each host is
// in, when maintenance windows are open, and what the scheduler does at
// each tick. Nothing here reads a clock, a store or the network: the
// caller passes the rollout, its hosts and the time.
package rollout

import (
	"strings"
	"time"
	_ "time/tzdata" // windows must not depend on the server having tzdata installed

	"github.com/robfig/cron/v3"

	"github.com/patchbay/patchbay"
)

// searchYears bounds every search for an occurrence: the weekday of a date
// repeats every 28 years within a century, so a schedule that does not fire
// in 28 years (say "0 0 31 2 *") never fires.
const searchYears = 28

// maxMerge bounds how many overlapping occurrences are merged into one
// window when computing when it closes; see Window.Open.
const maxMerge = 256

// Window is a parsed patchbay.Window, ready to answer when it is open.
//
// Occurrences are computed on the zone's wall clock, then placed in time
// with the rules of RFC 5545 (iCalendar) for local times a DST change
// makes ambiguous or skips:
//   - a wall-clock time that happens twice (the fall-back hour) means its
//     first occurrence, so a window opens once, not twice;
//   - a wall-clock time that does not exist (the spring-forward gap) is read
//     with the offset from before the gap: 02:30 in New York on the
//     spring-forward day opens at 03:30 EDT, one hour after 01:30 EST. A
//     window is never silently dropped for a year's worth of that day.
//
// The day offset is added to the wall-clock date before that, so "the
// Saturday after the second Tuesday at 22:00" stays 22:00 across a DST
// change in the days between. The duration is elapsed time: a 4h window
// that spans the fall-back hour ends at a wall-clock time one hour earlier
// than on other days, and operators get the four hours they planned.
type Window struct {
	def   patchbay.Window
	sched *cron.SpecSchedule // in UTC, read as the zone's wall clock
	loc   *time.Location
}

// ParseWindow checks and parses w: the cron expression (five fields or a
// descriptor like @weekly, no seconds, no TZ= prefix, no @every), the
// time zone, the duration and the offset. A schedule that never fires is
// refused.
func ParseWindow(w patchbay.Window) (*Window, error) {
	if err := w.Validate(); err != nil {
		return nil, err
	}
	spec := strings.TrimSpace(w.Cron)
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		return nil, patchbay.Errorf(patchbay.EINVALID, "maintenance window: give the time zone in its own field, not in the cron expression %q", w.Cron)
	}
	if strings.HasPrefix(spec, "@every") {
		return nil, patchbay.Errorf(patchbay.EINVALID, "maintenance window: %q is an interval, not a time of day; use a cron expression", w.Cron)
	}
	parser := cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
	s, err := parser.Parse(spec)
	if err != nil {
		return nil, patchbay.Errorf(patchbay.EINVALID, "maintenance window: cron expression %q: %v (want minute hour day-of-month month day-of-week)", w.Cron, err)
	}
	sched, ok := s.(*cron.SpecSchedule)
	if !ok {
		return nil, patchbay.Errorf(patchbay.EINVALID, "maintenance window: %q is not a calendar schedule", w.Cron)
	}
	sched.Location = time.UTC
	loc, err := time.LoadLocation(w.TimeZone)
	if err != nil || w.TimeZone == "Local" {
		return nil, patchbay.Errorf(patchbay.EINVALID, "maintenance window: unknown time zone %q (want an IANA name such as Europe/London, or UTC)", w.TimeZone)
	}
	x := &Window{def: w, sched: sched, loc: loc}
	ref := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	if x.nextWall(ref, ref.AddDate(searchYears, 0, 0)).IsZero() {
		return nil, patchbay.Errorf(patchbay.EINVALID, "maintenance window: cron expression %q never fires (a day must match both its day-of-month and day-of-week)", w.Cron)
	}
	return x, nil
}

// Def returns the definition the window was parsed from.
func (x *Window) Def() patchbay.Window { return x.def }

// Open reports whether the window is open at now, and if so when it
// closes. Windows are half-open: open at opensAt, closed at closesAt.
// Occurrences that overlap or touch are one window; closesAt is the end of
// the merged run, or, for schedules that overlap themselves without end
// (say every minute for an hour), the end after maxMerge occurrences — the
// caller then finds the window still open and asks again.
func (x *Window) Open(now time.Time) (open bool, closesAt time.Time) {
	w, s, ok := x.latestStart(now)
	if !ok {
		return false, time.Time{}
	}
	end := x.merge(w, s.Add(x.def.Duration))
	if !now.Before(end) {
		return false, time.Time{}
	}
	return true, end.In(now.Location())
}

// Next returns the window that is open at now, or else the next one to
// open: opensAt ≤ now means it is open now. Both are zero when the
// schedule never fires again within searchYears.
func (x *Window) Next(now time.Time) (opensAt, closesAt time.Time) {
	if w, s, ok := x.latestStart(now); ok {
		if end := x.merge(w, s.Add(x.def.Duration)); now.Before(end) {
			return s.In(now.Location()), end.In(now.Location())
		}
	}
	// The first occurrence whose start is after now. A wall time a few
	// hours before now's can start after now when it falls in a DST gap.
	from := x.wall(now).AddDate(0, 0, -x.def.DayOffset).Add(-3 * time.Hour)
	limit := from.AddDate(searchYears, 0, 0)
	for w := x.nextWall(from, limit); !w.IsZero(); w = x.nextWall(w, limit) {
		if s := x.start(w); s.After(now) {
			return s.In(now.Location()), x.merge(w, s.Add(x.def.Duration)).In(now.Location())
		}
	}
	return time.Time{}, time.Time{}
}

// latestStart finds the occurrence that started last at or before now,
// among those that could still be open (started less than the duration
// plus a day ago). It widens its search backwards by doubling, so dense
// schedules cost a few steps and sparse ones about log2(duration/1m).
func (x *Window) latestStart(now time.Time) (wall, start time.Time, ok bool) {
	target := x.wall(now).AddDate(0, 0, -x.def.DayOffset)
	hi := target.Add(3 * time.Hour) // DST gaps move a wall time later, by at most 2h anywhere
	maxBack := x.def.Duration + 27*time.Hour
	for back := time.Minute; ; back *= 2 {
		back = min(back, maxBack)
		for w := x.nextWall(target.Add(-back-time.Second), hi); !w.IsZero(); w = x.nextWall(w, hi) {
			if s := x.start(w); !s.After(now) && (!ok || s.After(start)) {
				wall, start, ok = w, s, true
			}
		}
		if ok || back == maxBack {
			return wall, start, ok
		}
	}
}

// merge extends end over the occurrences after wall that start before it.
func (x *Window) merge(wall, end time.Time) time.Time {
	w := wall
	for range maxMerge {
		limit := x.wall(end).AddDate(0, 0, -x.def.DayOffset).Add(3 * time.Hour)
		if w = x.nextWall(w, limit); w.IsZero() {
			break
		}
		s := x.start(w)
		if s.After(end) {
			break
		}
		end = later(end, s.Add(x.def.Duration))
	}
	return end
}

// nextWall returns the first occurrence after w on the wall clock (both
// as UTC times holding wall-clock fields), or zero if none is before limit.
// robfig/cron ORs the two day fields when both are restricted, as classic
// cron does; windows AND them, so days that match only one are skipped.
func (x *Window) nextWall(w, limit time.Time) time.Time {
	for {
		w = x.sched.Next(w)
		if w.IsZero() || w.After(limit) {
			return time.Time{}
		}
		if x.sched.Dom&(1<<uint(w.Day())) != 0 && x.sched.Dow&(1<<uint(w.Weekday())) != 0 {
			return w
		}
		w = time.Date(w.Year(), w.Month(), w.Day(), 23, 59, 59, 0, time.UTC) // next day
	}
}

// start places an occurrence's wall time, moved by the day offset, in time.
func (x *Window) start(w time.Time) time.Time {
	return resolve(w.AddDate(0, 0, x.def.DayOffset), x.loc)
}

// wall returns t's wall clock in the window's zone as a UTC time.
func (x *Window) wall(t time.Time) time.Time { return wallClock(t, x.loc) }

func wallClock(t time.Time, loc *time.Location) time.Time {
	t = t.In(loc)
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

// resolve returns the instant at which loc's clock shows wall (a UTC time
// holding wall-clock fields): the first of two when the time happens twice,
// and the time read with the offset from before the gap when it does not
// exist (RFC 5545, 3.3.5). The zone's offsets a day either side are the
// candidates; no zone changes its offset twice within two days.
func resolve(wall time.Time, loc *time.Location) time.Time {
	_, before := wall.Add(-24 * time.Hour).In(loc).Zone()
	_, after := wall.Add(24 * time.Hour).In(loc).Zone()
	var best time.Time
	for _, off := range []int{before, after} {
		t := wall.Add(-time.Duration(off) * time.Second)
		if wallClock(t, loc).Equal(wall) && (best.IsZero() || t.Before(best)) {
			best = t
		}
	}
	if best.IsZero() { // in a gap
		best = wall.Add(-time.Duration(before) * time.Second)
	}
	return best.In(loc)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
