package ui

import (
	"net/http"

	"github.com/patchbay/patchbay/internal/service"
)

type dashboardPage struct {
	O         service.Overview
	Status    statusBar
	Exposure  barChart
	ActivePct int
}

// dashboard: GET / — the fleet by status, pending security updates and
// reboots, with two server-made SVG charts.
func (u *UI) dashboard(w http.ResponseWriter, r *http.Request) error {
	o, err := u.svc.Overview(r.Context())
	if err != nil {
		return err
	}
	d := dashboardPage{O: o, Status: newStatusBar(o.Active, o.Stale)}
	bars := make([]barInput, len(o.MostExposed))
	for i, h := range o.MostExposed {
		bars[i] = barInput{Label: h.Hostname, Href: hostHref(h.ID), Value: h.SecurityUpdatesCount}
	}
	d.Exposure = newBarChart(bars)
	return u.render(w, r, http.StatusOK, "dashboard", view{Title: "Dashboard", Nav: "dashboard", Data: d})
}
