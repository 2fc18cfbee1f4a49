package ui

import (
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/service"
)

// trendDays is how far back the dashboard's exposure trend goes.
const trendDays = 30

type dashboardPage struct {
	O         service.Overview
	Status    statusBar
	Exposure  barChart
	ActivePct int
	Findings  patchbay.FindingCounts
	Trend     trendChart
	Rollouts  []activeRolloutRow
}

// activeRolloutRow is a running or paused rollout with its progress.
type activeRolloutRow struct {
	service.RolloutSummary
	Done, Failed, Running int
	Bar                   stackBar
}

// dashboard: GET / — the fleet by status, pending security updates and
// reboots, open findings by severity with KEV apart, their trend over 30
// days, and the rollouts running now; charts are server-made SVG.
func (u *UI) dashboard(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	// Three independent reads, each in its own snapshot: run at once, the
	// page waits for the slowest instead of their sum.
	var (
		o      service.Overview
		exp    service.Exposure
		active []service.RolloutSummary
		errs   [3]error
		wg     sync.WaitGroup
	)
	wg.Go(func() { o, errs[0] = u.svc.Overview(ctx) })
	wg.Go(func() { exp, errs[1] = u.svc.Exposure(ctx, trendDays) })
	wg.Go(func() { active, errs[2] = u.svc.ActiveRollouts(ctx) })
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		return err
	}
	d := dashboardPage{O: o, Status: newStatusBar(o.Active, o.Stale+o.Dormant), Findings: exp.Counts}
	bars := make([]barInput, len(o.MostExposed))
	for i, h := range o.MostExposed {
		bars[i] = barInput{Label: h.Hostname, Href: hostHref(h.ID), Value: h.SecurityUpdatesCount}
	}
	d.Exposure = newBarChart(bars)

	points := make([]trendInput, len(exp.Trend))
	for i, p := range exp.Trend {
		points[i] = trendInput{Label: fmt.Sprintf("%s: %d open", p.Day.Format("2006-01-02"), p.Open), Tick: p.Day.Format("Jan 2"), Value: p.Open}
	}
	title := "Open findings at the end of each day"
	if n := len(exp.Trend); n > 0 {
		title = fmt.Sprintf("Open findings per day, last %d days: %d on %s, %d now", n, exp.Trend[0].Open, exp.Trend[0].Day.Format("Jan 2"), exp.Trend[n-1].Open)
	}
	d.Trend = newTrendChart(title, points)

	for _, a := range active {
		row := activeRolloutRow{RolloutSummary: a, Failed: a.Counts[patchbay.HostFailed], Running: a.Counts[patchbay.HostRunning]}
		for s, n := range a.Counts {
			if s.Done() {
				row.Done += n
			}
		}
		var parts []stackInput
		for _, s := range patchbay.HostRunStates {
			parts = append(parts, stackInput{Class: string(s), Label: fmt.Sprintf("%d %s", a.Counts[s], s), N: a.Counts[s]})
		}
		row.Bar = newStackBar(fmt.Sprintf("%s: %d of %d hosts done, %d failed, %d running", a.Name, row.Done, a.Hosts, row.Failed, row.Running), parts)
		d.Rollouts = append(d.Rollouts, row)
	}
	return u.render(w, r, http.StatusOK, "dashboard", view{Title: "Dashboard", Nav: "dashboard", Data: d})
}
