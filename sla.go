package patchbay

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// SLA is the remediation clock of each class of finding: how long after a
// finding is first seen its fix must be installed. A finding whose CVE is
// in CISA's KEV catalog is on the KEV clock when that is the shorter one.
// A zero duration means that class has no clock. Unknown is the clock of
// findings no source rated (most of Debian's: its OSV records carry no
// severity), so that they are not left off every clock.
type SLA struct {
	KEV      time.Duration `json:"kev"`
	Critical time.Duration `json:"critical"`
	High     time.Duration `json:"high"`
	Medium   time.Duration `json:"medium"`
	Low      time.Duration `json:"low"`
	Unknown  time.Duration `json:"unknown"`
}

// DefaultSLA: KEV 7 days, critical 15, high 30, medium 90, low 180, and
// unrated findings 90 (as medium).
var DefaultSLA = SLA{KEV: 7 * day, Critical: 15 * day, High: 30 * day, Medium: 90 * day, Low: 180 * day, Unknown: 90 * day}

const day = 24 * time.Hour

// SLAClasses are the classes of an SLA report, most urgent first.
var SLAClasses = []string{"kev", "critical", "high", "medium", "low", "unknown"}

// DueSoon is how close to its due date an open finding is "due soon".
const DueSoon = 7 * day

// ParseSLA reads "kev=7d,critical=15d,..." over DefaultSLA: the classes
// named are set, the others keep their default; "none" or 0 removes a
// class's clock.
func ParseSLA(s string) (SLA, error) {
	sla := DefaultSLA
	if strings.TrimSpace(s) == "" {
		return sla, nil
	}
	seen := map[string]bool{}
	for part := range strings.SplitSeq(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return SLA{}, Errorf(EINVALID, "sla %q: want CLASS=DURATION (kev, critical, high, medium, low, unknown), e.g. critical=15d", part)
		}
		if seen[k] {
			return SLA{}, Errorf(EINVALID, "sla: %s given twice", k)
		}
		seen[k] = true
		var d time.Duration
		if v != "none" && v != "0" {
			var err error
			if d, err = ParseDuration(v); err != nil {
				return SLA{}, Errorf(EINVALID, "sla %s=%s: %s", k, v, ErrorMessage(err))
			}
		}
		clock := sla.field(k)
		if clock == nil {
			return SLA{}, Errorf(EINVALID, "sla: unknown class %q (kev, critical, high, medium, low, unknown)", k)
		}
		*clock = d
	}
	return sla, sla.Validate()
}

// Validate refuses negative clocks and clocks over 5 years.
func (s SLA) Validate() error {
	for _, c := range SLAClasses {
		if d := *s.field(c); d < 0 || d > 5*365*day {
			return Errorf(EINVALID, "sla %s=%s: want 0 (no clock) up to 5 years", c, FormatDuration(d))
		}
	}
	return nil
}

// String writes s as ParseSLA reads it.
func (s SLA) String() string {
	parts := make([]string, len(SLAClasses))
	for i, c := range SLAClasses {
		v := "none"
		if d := *s.field(c); d != 0 {
			v = FormatDuration(d)
		}
		parts[i] = c + "=" + v
	}
	return strings.Join(parts, ",")
}

// field is the clock of a report class (one of SLAClasses), nil for
// another name.
func (s *SLA) field(class string) *time.Duration {
	switch class {
	case "kev":
		return &s.KEV
	case "critical":
		return &s.Critical
	case "high":
		return &s.High
	case "medium":
		return &s.Medium
	case "low":
		return &s.Low
	case "unknown":
		return &s.Unknown
	}
	return nil
}

// severityClass is the report class of a severity: "none" counts as low,
// "" as unknown.
func severityClass(sev Severity) string {
	switch sev {
	case SeverityCritical, SeverityHigh, SeverityMedium, SeverityLow:
		return string(sev)
	case SeverityNone:
		return string(SeverityLow)
	}
	return string(SeverityUnknown)
}

// Class is the report class of a finding: "kev" when its CVE is in KEV,
// else its severity's (severityClass).
func (s SLA) Class(f Finding) string {
	if f.KEV {
		return "kev"
	}
	return severityClass(f.Severity)
}

// Clock is the time f has from first seen to fixed, and whether it has a
// clock at all: the shorter of its severity's and, in KEV, the KEV clock.
func (s SLA) Clock(f Finding) (time.Duration, bool) {
	d := s.classClock(severityClass(f.Severity))
	if f.KEV && s.KEV > 0 && (d == 0 || s.KEV < d) {
		d = s.KEV
	}
	return d, d > 0
}

// SLAReport says how the fleet stands against its remediation SLA: the
// open findings by class and due state, the overdue ones worst first, and
// how fast findings resolved since Since were fixed.
type SLAReport struct {
	Now   time.Time `json:"now"`
	SLA   SLA       `json:"sla"`
	Since time.Time `json:"since"` // time-to-fix covers findings resolved since
	// Compliance is the share (0-100) of open findings with a clock and no
	// exception that are not overdue; 100 when there are none.
	Compliance float64       `json:"compliance_percent"`
	Open       []SLAOpen     `json:"open"`
	Fixed      []SLAFixed    `json:"fixed"`
	Overdue    []SLAOverdue  `json:"overdue"`
	Excepted   []SLAOverdue  `json:"excepted"` // open findings an exception covers: not counted as overdue
	Truncated  int           `json:"overdue_not_listed,omitempty"`
	ByOwner    []SLAOwnerRow `json:"by_owner"`
}

// SLAOpen counts the open findings of one class.
type SLAOpen struct {
	Class    string        `json:"class"`
	Clock    time.Duration `json:"clock"` // 0: no clock
	Open     int           `json:"open"`
	Within   int           `json:"within_sla"` // due later than DueSoon from now
	DueSoon  int           `json:"due_soon"`
	Overdue  int           `json:"overdue"`
	Excepted int           `json:"excepted"`
	NoClock  int           `json:"no_clock"`
}

// SLAFixed is the time to fix of one class's findings resolved since the
// report's Since: how many, in what time (median, 90th percentile, worst,
// rounded to the hour) and how many within their clock.
type SLAFixed struct {
	Class  string        `json:"class"`
	Fixed  int           `json:"fixed"`
	Median time.Duration `json:"median"`
	P90    time.Duration `json:"p90"`
	Max    time.Duration `json:"max"`
	Within int           `json:"within_sla"` // of those with a clock
	Clock  time.Duration `json:"clock"`
}

// SLAOverdue is one open finding past (or, for excepted ones, at any
// point of) its clock.
type SLAOverdue struct {
	Finding
	Owner       string        `json:"owner"`
	Class       string        `json:"class"`
	Due         time.Time     `json:"due,omitzero"`
	OverdueBy   time.Duration `json:"overdue_by,omitempty"`
	ExceptionID int64         `json:"exception_id,omitempty"`
}

// SLAOwnerRow counts one owner's overdue findings and hosts.
type SLAOwnerRow struct {
	Owner   string `json:"owner"` // "" for hosts without one
	Hosts   int    `json:"hosts"`
	Overdue int    `json:"overdue"`
}

// MaxOverdueListed bounds the overdue findings a report lists (the
// counts cover them all).
const MaxOverdueListed = 500

// BuildSLAReport computes the report at now from the open findings (with
// ExceptionID set where an exception covers them) and the findings
// resolved since, owners by host id. It is pure: the service gathers the
// findings.
func BuildSLAReport(sla SLA, now, since time.Time, open, resolved []Finding, owners map[int64]string) SLAReport {
	rep := SLAReport{Now: now, SLA: sla, Since: since, Open: []SLAOpen{}, Fixed: []SLAFixed{},
		Overdue: []SLAOverdue{}, Excepted: []SLAOverdue{}, ByOwner: []SLAOwnerRow{}}
	openBy := map[string]*SLAOpen{}
	fixedBy := map[string]*SLAFixed{}
	times := map[string][]time.Duration{}
	for _, c := range SLAClasses {
		rep.Open = append(rep.Open, SLAOpen{Class: c, Clock: sla.classClock(c)})
		rep.Fixed = append(rep.Fixed, SLAFixed{Class: c, Clock: sla.classClock(c)})
	}
	for i := range SLAClasses {
		openBy[SLAClasses[i]], fixedBy[SLAClasses[i]] = &rep.Open[i], &rep.Fixed[i]
	}
	type ownerAcc struct {
		hosts   map[int64]bool
		overdue int
	}
	byOwner := map[string]*ownerAcc{}
	var clocked, late int
	for _, f := range open {
		c := sla.Class(f)
		o := openBy[c]
		o.Open++
		clock, ok := sla.Clock(f)
		row := SLAOverdue{Finding: f, Owner: owners[f.HostID], Class: c, ExceptionID: f.ExceptionID}
		if ok {
			row.Due = f.FirstSeen.Add(clock)
		}
		switch {
		case f.ExceptionID != 0:
			o.Excepted++
			rep.Excepted = append(rep.Excepted, row)
		case !ok:
			o.NoClock++
		case !now.Before(row.Due):
			o.Overdue++
			clocked++
			late++
			row.OverdueBy = now.Sub(row.Due)
			rep.Overdue = append(rep.Overdue, row)
			a := byOwner[row.Owner]
			if a == nil {
				a = &ownerAcc{hosts: map[int64]bool{}}
				byOwner[row.Owner] = a
			}
			a.hosts[f.HostID] = true
			a.overdue++
		case row.Due.Sub(now) <= DueSoon:
			o.DueSoon++
			clocked++
		default:
			o.Within++
			clocked++
		}
	}
	rep.Compliance = 100
	if clocked > 0 {
		rep.Compliance = 100 * float64(clocked-late) / float64(clocked)
	}
	for _, f := range resolved {
		if f.ResolvedAt.Before(since) {
			continue
		}
		c := sla.Class(f)
		x := fixedBy[c]
		took := f.ResolvedAt.Sub(f.FirstSeen)
		x.Fixed++
		times[c] = append(times[c], took)
		if clock, ok := sla.Clock(f); ok && took <= clock {
			x.Within++
		}
	}
	for i := range rep.Fixed {
		ts := times[rep.Fixed[i].Class]
		if len(ts) == 0 {
			continue
		}
		slices.Sort(ts)
		x := &rep.Fixed[i]
		x.Median = percentile(ts, 50).Round(time.Hour)
		x.P90 = percentile(ts, 90).Round(time.Hour)
		x.Max = ts[len(ts)-1].Round(time.Hour)
	}
	// Most overdue first; then host and package for a stable order.
	slices.SortFunc(rep.Overdue, func(a, b SLAOverdue) int {
		if a.OverdueBy != b.OverdueBy {
			return cmp.Compare(b.OverdueBy, a.OverdueBy)
		}
		return strings.Compare(a.Hostname+"\x00"+a.Package+"\x00"+a.AdvisoryID, b.Hostname+"\x00"+b.Package+"\x00"+b.AdvisoryID)
	})
	if n := len(rep.Overdue); n > MaxOverdueListed {
		rep.Truncated = n - MaxOverdueListed
		rep.Overdue = rep.Overdue[:MaxOverdueListed]
	}
	slices.SortFunc(rep.Excepted, func(a, b SLAOverdue) int {
		return strings.Compare(a.Hostname+"\x00"+a.Package+"\x00"+a.AdvisoryID, b.Hostname+"\x00"+b.Package+"\x00"+b.AdvisoryID)
	})
	for owner, a := range byOwner {
		rep.ByOwner = append(rep.ByOwner, SLAOwnerRow{Owner: owner, Hosts: len(a.hosts), Overdue: a.overdue})
	}
	slices.SortFunc(rep.ByOwner, func(a, b SLAOwnerRow) int {
		if a.Overdue != b.Overdue {
			return b.Overdue - a.Overdue
		}
		return strings.Compare(a.Owner, b.Owner)
	})
	return rep
}

// classClock is the clock of a report class (KEV: the KEV clock alone).
func (s SLA) classClock(class string) time.Duration {
	if p := s.field(class); p != nil {
		return *p
	}
	return 0
}

// percentile is the nearest-rank p-th percentile of sorted ts.
func percentile(ts []time.Duration, p int) time.Duration {
	rank := (p*len(ts) + 99) / 100 // ceil(p/100 * n)
	return ts[max(rank, 1)-1]
}
