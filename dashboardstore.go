package patchbay

import (
	"context"
	"time"
)

// SeverityCount is how many open findings have one severity, and how
// many of them are of a CVE in CISA's KEV catalog. (Hosts per severity
// would cost a distinct count over every finding: the dashboard does
// without.)
type SeverityCount struct {
	Severity Severity `json:"severity"`
	Findings int      `json:"findings"`
	KEV      int      `json:"kev"`
}

// FindingCounts are the fleet's open findings counted.
type FindingCounts struct {
	// BySeverity has the severities with open findings, worst first.
	BySeverity  []SeverityCount `json:"by_severity"`
	Findings    int             `json:"findings"`
	Hosts       int             `json:"hosts"` // hosts with at least one open finding
	KEVFindings int             `json:"kev_findings"`
	KEVHosts    int             `json:"kev_hosts"`
}

// MaxTrendPoints bounds the points of one OpenFindingsTrend.
const MaxTrendPoints = 1000

// DashboardStore counts what the dashboard shows of the whole fleet in
// the database, in one read each, whatever the fleet's size.
type DashboardStore interface {
	// FindingCounts counts the open findings by severity, KEV ones apart.
	FindingCounts(ctx context.Context) (FindingCounts, error)
	// OpenFindingsTrend returns, for i = 1..n, how many findings were
	// open at start + i·step: first seen at or before it and not resolved
	// at or before it. It needs no snapshots: first_seen and resolved_at
	// tell. n is at most MaxTrendPoints; step is positive.
	OpenFindingsTrend(ctx context.Context, start time.Time, step time.Duration, n int) ([]int, error)
	// RolloutHostCounts counts the host runs of each rollout of ids by
	// state; a rollout without host runs (or unknown) is absent.
	RolloutHostCounts(ctx context.Context, ids []int64) (map[int64]map[HostRunState]int, error)
}
