package api

import (
	"net/http"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/service"
	"github.com/patchbay/patchbay/internal/web"
)

func (a *API) createToken(w http.ResponseWriter, r *http.Request) error {
	var req patchbay.CreateTokenRequest
	if err := web.DecodeJSON(w, r, smallBodyLimit, &req); err != nil {
		return err
	}
	o := service.NewEnrollToken{MaxUses: req.Uses, Labels: req.Labels}
	if req.ExpiresIn != "" {
		d, err := ParseSince(req.ExpiresIn)
		if err != nil {
			return web.Errorf("expires_in %q: want a duration like 24h or 7d", req.ExpiresIn)
		}
		o.TTL = d
	}
	secret, t, err := a.svc.CreateEnrollToken(r.Context(), o)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusCreated, patchbay.CreateTokenResponse{Token: secret, EnrollToken: t})
}

func (a *API) listTokens(w http.ResponseWriter, r *http.Request) error {
	ts, err := a.svc.ListEnrollTokens(r.Context())
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, orEmpty(ts))
}

func (a *API) revokeToken(w http.ResponseWriter, r *http.Request) error {
	if err := a.svc.RevokeEnrollToken(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
