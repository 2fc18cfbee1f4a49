package api

import (
	"net/http"
	"strconv"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/web"
)

// listBlocks: GET /api/v1/blocks[?all=true].
func (a *API) listBlocks(w http.ResponseWriter, r *http.Request) error {
	all := false
	if v := r.URL.Query().Get("all"); v != "" {
		var err error
		if all, err = strconv.ParseBool(v); err != nil {
			return web.Errorf("all=%q: want true or false", v)
		}
	}
	list, err := a.svc.ListBlocks(r.Context(), all)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, list)
}

// addBlock: POST /api/v1/blocks with a BlockRequest; answers the block
// and the rollouts it halted.
func (a *API) addBlock(w http.ResponseWriter, r *http.Request) error {
	var req patchbay.BlockRequest
	if err := web.DecodeJSON(w, r, smallBodyLimit, &req); err != nil {
		return err
	}
	reply, err := a.svc.AddBlock(r.Context(), req)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusCreated, reply)
}

// removeBlock: DELETE /api/v1/blocks/{id}.
func (a *API) removeBlock(w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return web.Errorf("block id %q: want a positive integer", r.PathValue("id"))
	}
	b, err := a.svc.RemoveBlock(r.Context(), id)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, b)
}
