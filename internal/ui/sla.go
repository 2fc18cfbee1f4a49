package ui

import (
	"net/http"
	"strconv"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/service"
)

// slaPage is the SLA report; Since is the period asked for ("90d").
type slaPage struct {
	R     patchbay.SLAReport
	Since string
}

// slaPeriods are the periods the page offers for the time to fix.
var slaPeriods = []string{"30d", "90d", "365d"}

// sla: GET /reports/sla?since=90d.
func (u *UI) sla(w http.ResponseWriter, r *http.Request) error {
	since := r.URL.Query().Get("since")
	if since == "" {
		since = "90d"
	}
	d, err := patchbay.ParseDuration(since)
	if err != nil {
		return patchbay.Errorf(patchbay.EINVALID, "since: %s", patchbay.ErrorMessage(err))
	}
	rep, err := u.svc.SLAReport(r.Context(), service.SLAReportRequest{Since: d})
	if err != nil {
		return err
	}
	return u.render(w, r, http.StatusOK, "sla", view{Title: "Remediation SLA", Nav: "vulns", Data: slaPage{R: rep, Since: since}})
}

// percentText writes n of total as a whole percentage.
func percentText(n, total int) string {
	if total == 0 {
		return "-"
	}
	return strconv.Itoa(100*n/total) + "%"
}

// webhooksPage lists the webhooks with their delivery state.
type webhooksPage struct {
	Hooks []patchbay.Webhook
}

// webhooks: GET /webhooks (read-only: webhooks are added with the CLI or
// the API, which print the secret once).
func (u *UI) webhooks(w http.ResponseWriter, r *http.Request) error {
	list, err := u.svc.Webhooks(r.Context())
	if err != nil {
		return err
	}
	return u.render(w, r, http.StatusOK, "webhooks", view{Title: "Webhooks", Nav: "rollouts", Data: webhooksPage{Hooks: list}})
}
