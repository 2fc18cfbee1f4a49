package patchbay

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseSLA(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want SLA
		err  string
	}{
		{in: "", want: DefaultSLA},
		{in: "critical=3d", want: SLA{KEV: 7 * day, Critical: 3 * day, High: 30 * day, Medium: 90 * day, Low: 180 * day, Unknown: 90 * day}},
		{in: "kev=48h, low=none", want: SLA{KEV: 48 * time.Hour, Critical: 15 * day, High: 30 * day, Medium: 90 * day, Unknown: 90 * day}},
		{in: "medium=0,unknown=none", want: SLA{KEV: 7 * day, Critical: 15 * day, High: 30 * day, Low: 180 * day}},
		{in: "severe=3d", err: `unknown class "severe"`},
		{in: "critical", err: "want CLASS=DURATION"},
		{in: "critical=3d,critical=4d", err: "critical given twice"},
		{in: "high=soon", err: "sla high=soon"},
		{in: "low=-1d", err: "sla low="},
		{in: "low=2000d", err: "up to 5 years"},
	} {
		got, err := ParseSLA(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || ErrorCode(err) != EINVALID {
				t.Errorf("ParseSLA(%q) = %v, %v; want invalid %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseSLA(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
		if back, err := ParseSLA(got.String()); err != nil || back != got {
			t.Errorf("ParseSLA(%q) = %+v, %v; want it back", got.String(), back, err)
		}
	}
}

func TestSLAClock(t *testing.T) {
	sla := DefaultSLA
	for _, tc := range []struct {
		sev   Severity
		kev   bool
		class string
		clock time.Duration
	}{
		{SeverityCritical, false, "critical", 15 * day},
		{SeverityCritical, true, "kev", 7 * day},
		{SeverityLow, false, "low", 180 * day},
		{SeverityNone, false, "low", 180 * day},
		{SeverityUnknown, false, "unknown", 90 * day},
		{"", false, "unknown", 90 * day},
		{SeverityUnknown, true, "kev", 7 * day},
	} {
		f := Finding{Severity: tc.sev, KEV: tc.kev}
		clock, ok := sla.Clock(f)
		if c := sla.Class(f); c != tc.class || clock != tc.clock || ok != (tc.clock > 0) {
			t.Errorf("%s kev=%v: class %s clock %s %v; want %s %s", tc.sev, tc.kev, c, clock, ok, tc.class, tc.clock)
		}
	}
	if _, ok := (SLA{High: day}).Clock(Finding{Severity: SeverityUnknown}); ok {
		t.Error("unknown=none still gives unrated findings a clock")
	}
	// A KEV clock longer than the severity's does not lengthen it.
	long := SLA{KEV: 30 * day, Critical: 15 * day}
	if d, _ := long.Clock(Finding{Severity: SeverityCritical, KEV: true}); d != 15*day {
		t.Errorf("critical in KEV with kev=30d: %s, want 15d", d)
	}
}

func TestBuildSLAReport(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	f := func(id int64, host int64, name string, sev Severity, kev bool, firstSeen time.Time) Finding {
		return Finding{ID: id, HostID: host, Hostname: name, Package: "pkg", AdvisoryID: "DSA-" + string(rune('A'+id)), Severity: sev, KEV: kev, FirstSeen: firstSeen}
	}
	open := []Finding{
		f(1, 1, "web1", SeverityCritical, false, ago(20*day)), // overdue by 5d
		f(2, 2, "db1", SeverityCritical, true, ago(8*day)),    // KEV 7d: overdue by 1d
		f(3, 1, "web1", SeverityHigh, false, ago(25*day)),     // due in 5d: soon
		f(4, 2, "db1", SeverityHigh, false, ago(time.Hour)),   // within
		f(5, 3, "old", SeverityMedium, false, ago(400*day)),   // overdue, but excepted
		f(6, 3, "old", SeverityNone, false, ago(100*day)),     // low clock (none counts as low): within
		f(7, 3, "old", SeverityLow, false, ago(181*day)),      // overdue by 1d
	}
	open[4].ExceptionID = 9
	fixed := func(sev Severity, kev bool, took time.Duration, resolvedAgo time.Duration) Finding {
		x := Finding{Severity: sev, KEV: kev, ResolvedAt: ago(resolvedAgo)}
		x.FirstSeen = x.ResolvedAt.Add(-took)
		return x
	}
	resolved := []Finding{
		fixed(SeverityCritical, false, 2*day, day),
		fixed(SeverityCritical, false, 10*day, day),
		fixed(SeverityCritical, false, 20*day, day), // late
		fixed(SeverityHigh, true, 8*day, day),       // KEV, late
		fixed(SeverityHigh, false, day, 100*day),    // before since: left out
	}
	owners := map[int64]string{1: "web-team", 2: "dba", 3: ""}
	rep := BuildSLAReport(DefaultSLA, now, ago(90*day), open, resolved, owners)

	byClass := map[string]SLAOpen{}
	for _, o := range rep.Open {
		byClass[o.Class] = o
	}
	want := map[string]SLAOpen{
		"kev":      {Class: "kev", Clock: 7 * day, Open: 1, Overdue: 1},
		"critical": {Class: "critical", Clock: 15 * day, Open: 1, Overdue: 1},
		"high":     {Class: "high", Clock: 30 * day, Open: 2, Within: 1, DueSoon: 1},
		"medium":   {Class: "medium", Clock: 90 * day, Open: 1, Excepted: 1},
		"low":      {Class: "low", Clock: 180 * day, Open: 2, Within: 1, Overdue: 1},
		"unknown":  {Class: "unknown", Clock: 90 * day},
	}
	if diff := cmp.Diff(want, byClass); diff != "" {
		t.Errorf("open (-want +got):\n%s", diff)
	}
	// 6 findings with a clock and no exception, 3 overdue.
	if rep.Compliance != 50 {
		t.Errorf("compliance %.1f%%, want 50%%", rep.Compliance)
	}
	// Without the unknown clock, an unrated finding is counted apart.
	noUnknown := DefaultSLA
	noUnknown.Unknown = 0
	r2 := BuildSLAReport(noUnknown, now, ago(90*day), []Finding{f(8, 1, "web1", "", false, ago(400*day))}, nil, nil)
	if o := r2.Open[5]; o.Class != "unknown" || o.NoClock != 1 || o.Overdue != 0 || r2.Compliance != 100 {
		t.Errorf("unknown=none: %+v, compliance %.0f", o, r2.Compliance)
	}
	var order []string
	for _, o := range rep.Overdue {
		order = append(order, o.Hostname+":"+string(o.Severity)+":"+o.OverdueBy.String())
	}
	if diff := cmp.Diff([]string{"web1:critical:120h0m0s", "db1:critical:24h0m0s", "old:low:24h0m0s"}, order); diff != "" {
		t.Errorf("overdue order (-want +got):\n%s", diff)
	}
	if rep.Overdue[0].Owner != "web-team" || !rep.Overdue[0].Due.Equal(ago(5*day)) {
		t.Errorf("first overdue: %+v", rep.Overdue[0])
	}
	if len(rep.Excepted) != 1 || rep.Excepted[0].ExceptionID != 9 {
		t.Errorf("excepted: %+v", rep.Excepted)
	}
	if diff := cmp.Diff([]SLAOwnerRow{{Owner: "", Hosts: 1, Overdue: 1}, {Owner: "dba", Hosts: 1, Overdue: 1}, {Owner: "web-team", Hosts: 1, Overdue: 1}}, rep.ByOwner); diff != "" {
		t.Errorf("by owner (-want +got):\n%s", diff)
	}
	fixedBy := map[string]SLAFixed{}
	for _, x := range rep.Fixed {
		fixedBy[x.Class] = x
	}
	if got := fixedBy["critical"]; got.Fixed != 3 || got.Within != 2 || got.Median != 10*day || got.P90 != 20*day || got.Max != 20*day {
		t.Errorf("critical time to fix: %+v", got)
	}
	if got := fixedBy["kev"]; got.Fixed != 1 || got.Within != 0 {
		t.Errorf("kev time to fix: %+v", got)
	}
	if got := fixedBy["high"]; got.Fixed != 0 {
		t.Errorf("high: a finding resolved before since was counted: %+v", got)
	}
}

func TestBuildSLAReportEmptyAndTruncated(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	rep := BuildSLAReport(DefaultSLA, now, now.Add(-90*day), nil, nil, nil)
	if rep.Compliance != 100 || len(rep.Overdue) != 0 || len(rep.Open) != len(SLAClasses) {
		t.Errorf("empty report: %+v", rep)
	}
	var open []Finding
	for i := range MaxOverdueListed + 3 {
		open = append(open, Finding{ID: int64(i), HostID: 1, Hostname: "h", Severity: SeverityCritical, FirstSeen: now.Add(-time.Duration(20+i) * day)})
	}
	rep = BuildSLAReport(DefaultSLA, now, now.Add(-90*day), open, nil, nil)
	if len(rep.Overdue) != MaxOverdueListed || rep.Truncated != 3 || rep.Open[1].Overdue != MaxOverdueListed+3 {
		t.Errorf("listed %d, truncated %d, counted %d", len(rep.Overdue), rep.Truncated, rep.Open[1].Overdue)
	}
	if rep.Overdue[0].ID != int64(MaxOverdueListed+2) {
		t.Errorf("most overdue first: got finding %d", rep.Overdue[0].ID)
	}
}

// FuzzParseSLA: whatever a flag or query string holds, ParseSLA does not
// panic, and what it accepts is valid and reads back the same.
func FuzzParseSLA(f *testing.F) {
	for _, s := range []string{"", "critical=3d", "kev=48h, low=none", "unknown=0,medium=1d", "high=soon", "a=b=c", ",", "low=9999999h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sla, err := ParseSLA(s)
		if err != nil {
			if ErrorCode(err) != EINVALID {
				t.Fatalf("ParseSLA(%q): %v is not invalid input", s, err)
			}
			return
		}
		if err := sla.Validate(); err != nil {
			t.Fatalf("ParseSLA(%q) accepted %+v: %v", s, sla, err)
		}
		if back, err := ParseSLA(sla.String()); err != nil || back != sla {
			t.Fatalf("ParseSLA(%q) = %+v; its String %q reads back %+v, %v", s, sla, sla.String(), back, err)
		}
	})
}
