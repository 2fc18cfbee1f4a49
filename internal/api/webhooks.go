package api

import (
	"net/http"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/web"
)

// listWebhooks: GET /api/v1/webhooks (without secrets).
func (a *API) listWebhooks(w http.ResponseWriter, r *http.Request) error {
	list, err := a.svc.Webhooks(r.Context())
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, orEmpty(list))
}

// createWebhook: POST /api/v1/webhooks with a WebhookRequest; the reply
// holds the signing secret, shown only here.
func (a *API) createWebhook(w http.ResponseWriter, r *http.Request) error {
	var req patchbay.WebhookRequest
	if err := web.DecodeJSON(w, r, smallBodyLimit, &req); err != nil {
		return err
	}
	hook, err := a.svc.CreateWebhook(r.Context(), req)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusCreated, hook)
}

// deleteWebhook: DELETE /api/v1/webhooks/{ref} (id or name).
func (a *API) deleteWebhook(w http.ResponseWriter, r *http.Request) error {
	if err := a.svc.DeleteWebhook(r.Context(), r.PathValue("ref")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// testWebhook: POST /api/v1/webhooks/{ref}/test sends a test delivery.
func (a *API) testWebhook(w http.ResponseWriter, r *http.Request) error {
	reply, err := a.svc.TestWebhook(r.Context(), r.PathValue("ref"))
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, reply)
}
