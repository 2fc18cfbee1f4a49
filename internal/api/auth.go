package api

import (
	"net/http"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/web"
)

// authenticate resolves the bearer credential to a principal and puts it
// in the request context; requests without a valid one get 401.
func (a *API) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secret := web.BearerToken(r)
		if secret == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="patchbay"`)
			web.WriteError(a.logger, w, r, patchbay.Errorf(patchbay.EUNAUTHORIZED, "authentication required: send an Authorization: Bearer header"))
			return
		}
		p, err := a.svc.Authenticate(r.Context(), secret)
		if err != nil {
			web.WriteError(a.logger, w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(patchbay.NewContext(r.Context(), p)))
	})
}

func (a *API) whoami(w http.ResponseWriter, r *http.Request) error {
	p, _ := patchbay.PrincipalFrom(r.Context())
	return web.WriteJSON(w, http.StatusOK, map[string]any{"kind": p.Kind, "name": p.Name, "host_id": p.HostID, "role": p.Role})
}

func (a *API) health(w http.ResponseWriter, r *http.Request) error {
	return web.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}
