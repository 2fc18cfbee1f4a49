package api

import (
	_ "embed"
	"net/http"
)

// openapiJSON is the API's description; docs/openapi.json is a copy kept in
// sync by a test.
//
//go:embed openapi.json
var openapiJSON []byte

func (a *API) openapi(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	_, err := w.Write(openapiJSON)
	return err
}
