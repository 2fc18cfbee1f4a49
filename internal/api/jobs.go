package api

import (
	"net/http"
	"time"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/web"
)

// jobResultBodyLimit bounds a job result: steps carry bounded
// package-manager output.
const jobResultBodyLimit = 8 << 20

// pollJobs: GET /api/v1/agent/jobs?wait=SECONDS (0-60), the agent's long
// poll.
func (a *API) pollJobs(w http.ResponseWriter, r *http.Request) error {
	wait, err := intParam(r.URL.Query().Get("wait"), 0)
	if err != nil {
		return err
	}
	poll, err := a.svc.PollJobs(r.Context(), time.Duration(wait)*time.Second)
	if err != nil {
		return err
	}
	poll.Jobs = orEmpty(poll.Jobs)
	return web.WriteJSON(w, http.StatusOK, poll)
}

// postJobResult: POST /api/v1/agent/jobs/{id}/result with a JobResult.
func (a *API) postJobResult(w http.ResponseWriter, r *http.Request) error {
	var res patchbay.JobResult
	if err := web.DecodeJSON(w, r, jobResultBodyLimit, &res); err != nil {
		return err
	}
	if err := a.svc.PostJobResult(r.Context(), r.PathValue("id"), res); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
