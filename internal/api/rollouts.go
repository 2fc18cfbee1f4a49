package api

import (
	"net/http"
	"strconv"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/service"
	"github.com/patchbay/patchbay/internal/web"
)

func rolloutID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, web.Errorf("rollout id %q: want a positive integer", r.PathValue("id"))
	}
	return id, nil
}

// createRollout: POST /api/v1/rollouts with a Rollout definition; answers
// the draft with its plan.
func (a *API) createRollout(w http.ResponseWriter, r *http.Request) error {
	var def patchbay.Rollout
	if err := web.DecodeJSON(w, r, smallBodyLimit, &def); err != nil {
		return err
	}
	d, err := a.svc.CreateRollout(r.Context(), def)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusCreated, d)
}

func (a *API) listRollouts(w http.ResponseWriter, r *http.Request) error {
	list, err := a.svc.ListRollouts(r.Context())
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, orEmpty(list))
}

func (a *API) getRollout(w http.ResponseWriter, r *http.Request) error {
	id, err := rolloutID(r)
	if err != nil {
		return err
	}
	d, err := a.svc.ShowRollout(r.Context(), id)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, d)
}

// planRollout: POST /api/v1/rollouts/{id}/plan makes a draft's plan again.
func (a *API) planRollout(w http.ResponseWriter, r *http.Request) error {
	id, err := rolloutID(r)
	if err != nil {
		return err
	}
	d, err := a.svc.PlanRollout(r.Context(), id)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, d)
}

// rolloutAction returns the handler of POST /api/v1/rollouts/{id}/ACTION.
func (a *API) rolloutAction(action service.RolloutAction) web.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := rolloutID(r)
		if err != nil {
			return err
		}
		d, err := a.svc.ActOnRollout(r.Context(), id, action)
		if err != nil {
			return err
		}
		return web.WriteJSON(w, http.StatusOK, d)
	}
}

// retryRolloutHost: POST /api/v1/rollouts/{id}/hosts/{host}/retry.
func (a *API) retryRolloutHost(w http.ResponseWriter, r *http.Request) error {
	id, err := rolloutID(r)
	if err != nil {
		return err
	}
	d, err := a.svc.RetryHost(r.Context(), id, r.PathValue("host"))
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, d)
}

// skipRolloutHost: POST /api/v1/rollouts/{id}/hosts/{host}/skip.
func (a *API) skipRolloutHost(w http.ResponseWriter, r *http.Request) error {
	id, err := rolloutID(r)
	if err != nil {
		return err
	}
	d, err := a.svc.SkipHost(r.Context(), id, r.PathValue("host"))
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, d)
}

// rollbackRollout: POST /api/v1/rollouts/{id}/rollback with {host, ring}
// (both optional) makes a draft rollout that reinstalls the versions the
// rollout replaced; answers its detail.
func (a *API) rollbackRollout(w http.ResponseWriter, r *http.Request) error {
	id, err := rolloutID(r)
	if err != nil {
		return err
	}
	var req service.RollbackRequest
	if r.ContentLength != 0 {
		if err := web.DecodeJSON(w, r, smallBodyLimit, &req); err != nil {
			return err
		}
	}
	d, err := a.svc.RollbackRollout(r.Context(), id, req)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusCreated, d)
}
