package api

import (
	"net/http"
	"strconv"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/web"
)

func (a *API) listPolicies(w http.ResponseWriter, r *http.Request) error {
	list, err := a.svc.ListPolicies(r.Context())
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, list)
}

func (a *API) getPolicy(w http.ResponseWriter, r *http.Request) error {
	p, err := a.svc.Policy(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, p)
}

// createPolicy: POST /api/v1/policies with a Policy.
func (a *API) createPolicy(w http.ResponseWriter, r *http.Request) error {
	var p patchbay.Policy
	if err := web.DecodeJSON(w, r, smallBodyLimit, &p); err != nil {
		return err
	}
	out, err := a.svc.CreatePolicy(r.Context(), p)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusCreated, out)
}

// putPolicy: PUT /api/v1/policies/{name} replaces the policy's rules.
func (a *API) putPolicy(w http.ResponseWriter, r *http.Request) error {
	var p patchbay.Policy
	if err := web.DecodeJSON(w, r, smallBodyLimit, &p); err != nil {
		return err
	}
	name := r.PathValue("name")
	if p.Name != "" && p.Name != name {
		return web.Errorf("policy name %q in the body differs from %q in the path (a policy cannot be renamed)", p.Name, name)
	}
	p.Name = name
	out, err := a.svc.UpdatePolicy(r.Context(), p)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, out)
}

func exceptionID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, web.Errorf("exception id %q: want a positive integer", r.PathValue("id"))
	}
	return id, nil
}

// listExceptions: GET /api/v1/exceptions[?all=true] lists those in force,
// or all of them.
func (a *API) listExceptions(w http.ResponseWriter, r *http.Request) error {
	all := false
	if v := r.URL.Query().Get("all"); v != "" {
		var err error
		if all, err = strconv.ParseBool(v); err != nil {
			return web.Errorf("all=%q: want true or false", v)
		}
	}
	list, err := a.svc.ListExceptions(r.Context(), all)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, list)
}

func (a *API) getException(w http.ResponseWriter, r *http.Request) error {
	id, err := exceptionID(r)
	if err != nil {
		return err
	}
	e, err := a.svc.Exception(r.Context(), id)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, e)
}

// createException: POST /api/v1/exceptions with an ExceptionRequest;
// answers the exception and what it held in unfinished rollouts.
func (a *API) createException(w http.ResponseWriter, r *http.Request) error {
	var req patchbay.ExceptionRequest
	if err := web.DecodeJSON(w, r, smallBodyLimit, &req); err != nil {
		return err
	}
	reply, err := a.svc.CreateException(r.Context(), req)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusCreated, reply)
}

// revokeException: POST /api/v1/exceptions/{id}/revoke with a reason.
func (a *API) revokeException(w http.ResponseWriter, r *http.Request) error {
	id, err := exceptionID(r)
	if err != nil {
		return err
	}
	var req patchbay.RevokeRequest
	if err := web.DecodeJSON(w, r, smallBodyLimit, &req); err != nil {
		return err
	}
	e, err := a.svc.RevokeException(r.Context(), id, req.Reason)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, e)
}
