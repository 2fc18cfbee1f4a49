// Package web is the HTTP plumbing shared by the API and the UI: handlers
// that return errors, the one table from error codes to HTTP statuses,
// JSON bodies with size limits, and request logging.
package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/patchbay/patchbay"
)

// HandlerFunc is an HTTP handler that returns its error instead of
// writing it, so errors are written in one place.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// statusByCode is the one table from error codes to HTTP status.
var statusByCode = map[string]int{
	patchbay.ENOTFOUND:     http.StatusNotFound,
	patchbay.EINVALID:      http.StatusBadRequest,
	patchbay.ECONFLICT:     http.StatusConflict,
	patchbay.EUNAUTHORIZED: http.StatusUnauthorized,
	patchbay.EFORBIDDEN:    http.StatusForbidden,
	patchbay.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	patchbay.EINTERNAL:     http.StatusInternalServerError,
}

// Status returns the HTTP status for err.
func Status(err error) int {
	if s, ok := statusByCode[patchbay.ErrorCode(err)]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Handle adapts h, writing any error it returns as JSON. Internal errors
// are logged with their detail and answered with a generic message.
func Handle(logger *slog.Logger, h HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			WriteError(logger, w, r, err)
		}
	})
}

// WriteError writes err as a JSON error response.
func WriteError(logger *slog.Logger, w http.ResponseWriter, r *http.Request, err error) {
	status := Status(err)
	if status >= 500 {
		logger.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	body := patchbay.ErrorResponse{Error: patchbay.ErrorDetail{Code: patchbay.ErrorCode(err), Message: patchbay.ErrorMessage(err)}}
	WriteJSON(w, status, body)
}

// WriteJSON writes v as JSON with status. It encodes before writing the
// header, so an encoding error is still a clean 500; an error writing to
// the connection (the client went away) is not reported, since no other
// response can be sent.
func WriteJSON(w http.ResponseWriter, status int, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(data, '\n'))
	return nil
}

// DecodeJSON reads a JSON body of at most limit bytes into v. A body over
// the limit is ETOOLARGE (413); malformed JSON, unknown fields and trailing
// data are EINVALID (400) with a message that says where.
func DecodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return patchbay.Errorf(patchbay.EINVALID, "content type %q: want application/json", ct)
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err, limit)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			return decodeError(err, limit)
		}
		return patchbay.Errorf(patchbay.EINVALID, "request body: unexpected data after the JSON value")
	}
	return nil
}

func decodeError(err error, limit int64) error {
	var maxErr *http.MaxBytesError
	var syntax *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &maxErr):
		return patchbay.Errorf(patchbay.ETOOLARGE, "request body larger than %d bytes", limit)
	case errors.Is(err, io.EOF):
		return patchbay.Errorf(patchbay.EINVALID, "request body is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return patchbay.Errorf(patchbay.EINVALID, "request body: JSON ends too early")
	case errors.As(err, &syntax):
		return patchbay.Errorf(patchbay.EINVALID, "request body: malformed JSON at byte %d: %v", syntax.Offset, err)
	case errors.As(err, &typeErr):
		return patchbay.Errorf(patchbay.EINVALID, "request body: field %q: want %s, got JSON %s", typeErr.Field, typeErr.Type, typeErr.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return patchbay.Errorf(patchbay.EINVALID, "request body: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return patchbay.Errorf(patchbay.EINVALID, "request body: %v", err)
}

// BearerToken returns the token of an "Authorization: Bearer" header.
func BearerToken(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// LogRequests logs each request's method, path, status and duration at
// debug level (info for server errors).
func LogRequests(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: 200}
		next.ServeHTTP(rec, r)
		level := slog.LevelDebug
		if rec.status >= 500 {
			level = slog.LevelInfo
		}
		logger.Log(r.Context(), level, "http", "method", r.Method, "path", r.URL.Path, "status", rec.status)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// Errorf is a shortcut for an EINVALID error about a request parameter.
func Errorf(format string, args ...any) error {
	return patchbay.Errorf(patchbay.EINVALID, "%s", fmt.Sprintf(format, args...))
}

// NotFound is the error for a path no route serves.
func NotFound(r *http.Request) error {
	return patchbay.Errorf(patchbay.ENOTFOUND, "no such endpoint: %s %s", r.Method, r.URL.Path)
}
