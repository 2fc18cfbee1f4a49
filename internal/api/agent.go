package api

import (
	"net/http"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/web"
)

func (a *API) enroll(w http.ResponseWriter, r *http.Request) error {
	var req patchbay.EnrollRequest
	if err := web.DecodeJSON(w, r, smallBodyLimit, &req); err != nil {
		return err
	}
	resp, err := a.svc.Enroll(r.Context(), req)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, resp)
}

func (a *API) heartbeat(w http.ResponseWriter, r *http.Request) error {
	var hb patchbay.Heartbeat
	if err := web.DecodeJSON(w, r, smallBodyLimit, &hb); err != nil {
		return err
	}
	reply, err := a.svc.Heartbeat(r.Context(), hb)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, reply)
}

func (a *API) putInventory(w http.ResponseWriter, r *http.Request) error {
	var inv patchbay.Inventory
	if err := web.DecodeJSON(w, r, inventoryBodyLimit, &inv); err != nil {
		return err
	}
	if err := a.svc.ReportInventory(r.Context(), inv); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
