package rollout

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay"
)

// ts parses an RFC 3339 time; tests write instants with their offset so
// that DST cases say exactly which of two equal wall-clock times they mean.
func ts(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func mustWindow(t testing.TB, w patchbay.Window) *Window {
	t.Helper()
	x, err := ParseWindow(w)
	if err != nil {
		t.Fatalf("ParseWindow(%+v): %v", w, err)
	}
	return x
}

func TestWindowNext(t *testing.T) {
	const (
		london  = "Europe/London"
		newYork = "America/New_York"
	)
	for _, tc := range []struct {
		name          string
		w             patchbay.Window
		now           string
		opens, closes string
	}{
		{
			name:  "saturday after the second tuesday",
			w:     patchbay.Window{Cron: "0 22 8-14 * 2", Duration: 6 * time.Hour, TimeZone: london, DayOffset: 4},
			now:   "2026-11-01T00:00:00Z",
			opens: "2026-11-14T22:00:00Z", closes: "2026-11-15T04:00:00Z",
		},
		{
			// Days 8-14 that are not Tuesdays and Tuesdays outside 8-14
			// (classic cron's OR) must not open a window.
			name:  "both day fields must match",
			w:     patchbay.Window{Cron: "0 22 8-14 * 2", Duration: time.Hour, TimeZone: "UTC"},
			now:   "2026-11-03T23:00:00Z", // first Tuesday, after 22:00
			opens: "2026-11-10T22:00:00Z", closes: "2026-11-10T23:00:00Z",
		},
		{
			name:  "offset after this month's occurrence is next month's",
			w:     patchbay.Window{Cron: "0 22 8-14 * 2", Duration: 6 * time.Hour, TimeZone: london, DayOffset: 4},
			now:   "2026-11-15T04:00:00Z", // the moment November's closes
			opens: "2026-12-12T22:00:00Z", closes: "2026-12-13T04:00:00Z",
		},
		{
			name:  "offset across a month end",
			w:     patchbay.Window{Cron: "0 20 25-31 * 5", Duration: 4 * time.Hour, TimeZone: london, DayOffset: 3}, // monday after the last friday
			now:   "2026-01-20T00:00:00Z",
			opens: "2026-02-02T20:00:00Z", closes: "2026-02-03T00:00:00Z",
		},
		{
			name:  "offset across a month end in summer time",
			w:     patchbay.Window{Cron: "0 20 25-31 * 5", Duration: 4 * time.Hour, TimeZone: london, DayOffset: 3},
			now:   "2026-07-20T00:00:00Z",
			opens: "2026-08-03T20:00:00+01:00", closes: "2026-08-04T00:00:00+01:00",
		},
		{
			name:  "negative offset into the previous month and year",
			w:     patchbay.Window{Cron: "0 2 1-7 * 1", Duration: 2 * time.Hour, TimeZone: "UTC", DayOffset: -2}, // saturday before the first monday
			now:   "2027-01-03T00:00:00Z",                                                                        // after January's (Sat 2027-01-02)
			opens: "2027-01-30T02:00:00Z", closes: "2027-01-30T04:00:00Z",
		},
		{
			// The offset is added to the wall-clock date: 22:00 stays 22:00
			// although New York moves to EDT on the Sunday in between.
			name:  "offset keeps the wall time across spring forward",
			w:     patchbay.Window{Cron: "0 22 1-7 * 2", Duration: 2 * time.Hour, TimeZone: newYork, DayOffset: 5},
			now:   "2026-03-01T00:00:00-05:00",
			opens: "2026-03-08T22:00:00-04:00", closes: "2026-03-09T00:00:00-04:00",
		},
		{
			// 02:30 does not exist on 2026-03-08 in New York: read with the
			// offset before the gap (RFC 5545), i.e. 03:30 EDT, not skipped.
			name:  "02:30 on the spring-forward day in New York",
			w:     patchbay.Window{Cron: "30 2 * * *", Duration: 2 * time.Hour, TimeZone: newYork},
			now:   "2026-03-08T00:00:00-05:00",
			opens: "2026-03-08T03:30:00-04:00", closes: "2026-03-08T05:30:00-04:00",
		},
		{
			name:  "02:30 the day after spring forward",
			w:     patchbay.Window{Cron: "30 2 * * *", Duration: 2 * time.Hour, TimeZone: newYork},
			now:   "2026-03-08T06:00:00-04:00",
			opens: "2026-03-09T02:30:00-04:00", closes: "2026-03-09T04:30:00-04:00",
		},
		{
			name:  "01:30 in the London spring-forward gap",
			w:     patchbay.Window{Cron: "30 1 * * *", Duration: time.Hour, TimeZone: london},
			now:   "2026-03-29T00:00:00Z",
			opens: "2026-03-29T02:30:00+01:00", closes: "2026-03-29T03:30:00+01:00",
		},
		{
			// Midnight to 4h of elapsed time: the clock shows 03:00 EST at
			// the end because 01:00-02:00 happened twice.
			name:  "window spanning the fall-back hour in New York",
			w:     patchbay.Window{Cron: "0 0 * * 0", Duration: 4 * time.Hour, TimeZone: newYork},
			now:   "2026-10-31T12:00:00-04:00",
			opens: "2026-11-01T00:00:00-04:00", closes: "2026-11-01T03:00:00-05:00",
		},
		{
			// 01:30 happens twice; the window opens at the first.
			name:  "ambiguous 01:30 on the New York fall-back day",
			w:     patchbay.Window{Cron: "30 1 * * *", Duration: time.Hour, TimeZone: newYork},
			now:   "2026-11-01T00:00:00-04:00",
			opens: "2026-11-01T01:30:00-04:00", closes: "2026-11-01T01:30:00-05:00",
		},
		{
			// At the second 01:30 (EST) the day's window has just closed and
			// must not open again; the next is tomorrow's.
			name:  "no second window in the repeated hour",
			w:     patchbay.Window{Cron: "30 1 * * *", Duration: time.Hour, TimeZone: newYork},
			now:   "2026-11-01T01:45:00-05:00",
			opens: "2026-11-02T01:30:00-05:00", closes: "2026-11-02T02:30:00-05:00",
		},
		{
			name:  "window spanning the fall-back hour in London",
			w:     patchbay.Window{Cron: "0 0 * * 0", Duration: 3 * time.Hour, TimeZone: london},
			now:   "2026-10-24T12:00:00+01:00",
			opens: "2026-10-25T00:00:00+01:00", closes: "2026-10-25T02:00:00Z",
		},
		{
			name:  "open now returns the current window",
			w:     patchbay.Window{Cron: "0 22 * * 6", Duration: 8 * time.Hour, TimeZone: london},
			now:   "2026-11-15T03:00:00Z",
			opens: "2026-11-14T22:00:00Z", closes: "2026-11-15T06:00:00Z",
		},
		{
			name:  "open at the very start",
			w:     patchbay.Window{Cron: "0 22 * * 6", Duration: 8 * time.Hour, TimeZone: london},
			now:   "2026-11-14T22:00:00Z",
			opens: "2026-11-14T22:00:00Z", closes: "2026-11-15T06:00:00Z",
		},
		{
			name:  "closed at the very end",
			w:     patchbay.Window{Cron: "0 22 * * 6", Duration: 8 * time.Hour, TimeZone: london},
			now:   "2026-11-15T06:00:00Z",
			opens: "2026-11-21T22:00:00Z", closes: "2026-11-22T06:00:00Z",
		},
		{
			name:  "overlapping occurrences merge",
			w:     patchbay.Window{Cron: "0 1-3 * * *", Duration: 90 * time.Minute, TimeZone: "UTC"},
			now:   "2026-06-01T02:10:00Z",
			opens: "2026-06-01T02:00:00Z", closes: "2026-06-01T04:30:00Z",
		},
		{
			name:  "leap day only",
			w:     patchbay.Window{Cron: "0 0 29 2 *", Duration: time.Hour, TimeZone: "UTC"},
			now:   "2026-03-01T00:00:00Z",
			opens: "2028-02-29T00:00:00Z", closes: "2028-02-29T01:00:00Z",
		},
		{
			name:  "descriptor",
			w:     patchbay.Window{Cron: "@weekly", Duration: time.Hour, TimeZone: "Europe/Berlin"},
			now:   "2026-06-03T00:00:00Z",
			opens: "2026-06-07T00:00:00+02:00", closes: "2026-06-07T01:00:00+02:00",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := mustWindow(t, tc.w)
			now := ts(t, tc.now)
			opens, closes := x.Next(now)
			want := [2]time.Time{ts(t, tc.opens), ts(t, tc.closes)}
			if got := [2]time.Time{opens, closes}; !got[0].Equal(want[0]) || !got[1].Equal(want[1]) {
				t.Errorf("Next(%s) = %s, %s; want %s, %s", tc.now, opens, closes, want[0], want[1])
			}
			// Open must agree with Next.
			open, closesAt := x.Open(now)
			wantOpen := !want[0].After(now)
			if open != wantOpen {
				t.Errorf("Open(%s) = %v; Next says opens at %s", tc.now, open, want[0])
			}
			if open && !closesAt.Equal(want[1]) {
				t.Errorf("Open(%s) closes at %s; want %s", tc.now, closesAt, want[1])
			}
		})
	}
}

func TestWindowOpen(t *testing.T) {
	ny := patchbay.Window{Cron: "30 2 * * *", Duration: 2 * time.Hour, TimeZone: "America/New_York"}
	fallback := patchbay.Window{Cron: "0 0 * * 0", Duration: 4 * time.Hour, TimeZone: "America/New_York"}
	for _, tc := range []struct {
		name     string
		w        patchbay.Window
		now      string
		open     bool
		closesAt string
	}{
		{"before the shifted spring-forward window", ny, "2026-03-08T03:29:00-04:00", false, ""},
		{"inside the shifted spring-forward window", ny, "2026-03-08T05:00:00-04:00", true, "2026-03-08T05:30:00-04:00"},
		{"after it", ny, "2026-03-08T05:30:00-04:00", false, ""},
		{"first 01:30 of the fall-back night", fallback, "2026-11-01T01:30:00-04:00", true, "2026-11-01T03:00:00-05:00"},
		{"second 01:30 of the fall-back night", fallback, "2026-11-01T01:30:00-05:00", true, "2026-11-01T03:00:00-05:00"},
		{"03:00 EST, four hours after midnight", fallback, "2026-11-01T03:00:00-05:00", false, ""},
		{"a plain sunday at 03:00", fallback, "2026-11-08T03:00:00-05:00", true, "2026-11-08T04:00:00-05:00"},
		{"always open when occurrences touch", patchbay.Window{Cron: "0 * * * *", Duration: time.Hour, TimeZone: "UTC"}, "2026-06-01T10:17:00Z", true, "2026-06-12T03:00:00Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := mustWindow(t, tc.w)
			open, closesAt := x.Open(ts(t, tc.now))
			if open != tc.open {
				t.Fatalf("Open(%s) = %v; want %v", tc.now, open, tc.open)
			}
			if tc.open && !closesAt.Equal(ts(t, tc.closesAt)) {
				t.Errorf("Open(%s) closes at %s; want %s", tc.now, closesAt, tc.closesAt)
			}
		})
	}
}

func TestParseWindowErrors(t *testing.T) {
	ok := patchbay.Window{Cron: "0 22 * * 6", Duration: time.Hour, TimeZone: "UTC"}
	with := func(f func(*patchbay.Window)) patchbay.Window { w := ok; f(&w); return w }
	for _, tc := range []struct {
		name string
		w    patchbay.Window
	}{
		{"empty cron", with(func(w *patchbay.Window) { w.Cron = " " })},
		{"six fields", with(func(w *patchbay.Window) { w.Cron = "0 0 22 * * 6" })},
		{"bad field", with(func(w *patchbay.Window) { w.Cron = "0 25 * * *" })},
		{"interval", with(func(w *patchbay.Window) { w.Cron = "@every 1h" })},
		{"zone in the expression", with(func(w *patchbay.Window) { w.Cron = "TZ=UTC" })},
		{"never fires", with(func(w *patchbay.Window) { w.Cron = "0 0 30 2 *" })},
		{"never fires with both day fields", with(func(w *patchbay.Window) { w.Cron = "0 0 30 2 1" })},
		{"unknown zone", with(func(w *patchbay.Window) { w.TimeZone = "Mars/Olympus" })},
		{"local zone", with(func(w *patchbay.Window) { w.TimeZone = "Local" })},
		{"no zone", with(func(w *patchbay.Window) { w.TimeZone = "" })},
		{"zero duration", with(func(w *patchbay.Window) { w.Duration = 0 })},
		{"too long", with(func(w *patchbay.Window) { w.Duration = 32 * 24 * time.Hour })},
		{"offset too large", with(func(w *patchbay.Window) { w.DayOffset = 40 })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseWindow(tc.w)
			if got := patchbay.ErrorCode(err); got != patchbay.EINVALID {
				t.Errorf("ParseWindow(%+v) = %v; want an %s error", tc.w, err, patchbay.EINVALID)
			}
		})
	}
	if _, err := ParseWindow(ok); err != nil {
		t.Errorf("ParseWindow(%+v): %v", ok, err)
	}
}

// FuzzParseWindow feeds arbitrary expressions and checks that a window
// that parses answers consistently: Next never goes back before an open
// window, Open agrees with Next, and a window lasts its duration at least.
func FuzzParseWindow(f *testing.F) {
	for _, s := range []string{"0 22 8-14 * 2", "30 2 * * *", "@weekly", "*/15 * * * *", "TZ=UTC", "TZ=UTC 0 0 * * *", "0 0 31 2 *", "* * * * *"} {
		f.Add(s, int64(90), "America/New_York", 3, int64(1772928000))
	}
	f.Fuzz(func(t *testing.T, spec string, minutes int64, zone string, offset int, unix int64) {
		w := patchbay.Window{Cron: spec, Duration: time.Duration(minutes) * time.Minute, TimeZone: zone, DayOffset: offset}
		x, err := ParseWindow(w)
		if err != nil {
			if patchbay.ErrorCode(err) != patchbay.EINVALID {
				t.Fatalf("ParseWindow(%+v): %v is not %s", w, err, patchbay.EINVALID)
			}
			return
		}
		now := time.Unix(unix%(4e9), 0).UTC()
		opens, closes := x.Next(now)
		if opens.IsZero() {
			return
		}
		if closes.Sub(opens) < w.Duration {
			t.Fatalf("window %s-%s is shorter than %s", opens, closes, w.Duration)
		}
		if !closes.After(now) {
			t.Fatalf("Next(%s) = %s-%s, already closed", now, opens, closes)
		}
		open, _ := x.Open(now)
		if open != !opens.After(now) {
			t.Fatalf("Open(%s) = %v; Next says %s-%s", now, open, opens, closes)
		}
		if o, _ := x.Open(opens); !o {
			t.Fatalf("not open at its own opening %s", opens)
		}
	})
}

func TestWindowDef(t *testing.T) {
	w := patchbay.Window{Cron: "0 22 8-14 * 2", Duration: time.Hour, TimeZone: "UTC", DayOffset: 4}
	if diff := cmp.Diff(w, mustWindow(t, w).Def()); diff != "" {
		t.Errorf("Def() (-want +got):\n%s", diff)
	}
}
