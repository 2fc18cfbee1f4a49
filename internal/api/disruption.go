package api

import (
	"net/http"
	"strconv"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/web"
)

// acquireLease: POST /api/v1/agent/jobs/{id}/lease (agents), before a
// job drains and reboots its host.
func (a *API) acquireLease(w http.ResponseWriter, r *http.Request) error {
	reply, err := a.svc.AcquireLease(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, reply)
}

// listDisruption: GET /api/v1/disruption-budgets: budgets and live leases.
func (a *API) listDisruption(w http.ResponseWriter, r *http.Request) error {
	st, err := a.svc.Disruption(r.Context())
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, st)
}

// addDisruptionBudget: POST /api/v1/disruption-budgets with a
// DisruptionBudgetRequest.
func (a *API) addDisruptionBudget(w http.ResponseWriter, r *http.Request) error {
	var req patchbay.DisruptionBudgetRequest
	if err := web.DecodeJSON(w, r, smallBodyLimit, &req); err != nil {
		return err
	}
	b, err := a.svc.AddDisruptionBudget(r.Context(), req)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusCreated, b)
}

// removeDisruptionBudget: DELETE /api/v1/disruption-budgets/{id}.
func (a *API) removeDisruptionBudget(w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return web.Errorf("disruption budget id %q: want a positive integer", r.PathValue("id"))
	}
	if err := a.svc.RemoveDisruptionBudget(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// releaseLease: DELETE /api/v1/disruption-leases/{host}.
func (a *API) releaseLease(w http.ResponseWriter, r *http.Request) error {
	l, err := a.svc.ReleaseLease(r.Context(), r.PathValue("host"))
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, l)
}
