// Package server assembles Patchbay's HTTP server: TLS, the API, the web UI, request
// logging, timeouts and graceful shutdown.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/patchbay/patchbay/internal/api"
	"github.com/patchbay/patchbay/internal/pki"
	"github.com/patchbay/patchbay/internal/service"
	"github.com/patchbay/patchbay/internal/ui"
	"github.com/patchbay/patchbay/internal/web"
)

// Server is a running Patchbay HTTP server.
type Server struct {
	http   *http.Server
	ln     net.Listener
	logger *slog.Logger
	done   chan error
}

// Start listens on addr with TLS from bundle and serves svc until
// Shutdown. It returns once the listener is bound, so Addr is valid.
func Start(addr string, bundle pki.Bundle, svc *service.Service, logger *slog.Logger) (*Server, error) {
	cert, err := tls.LoadX509KeyPair(bundle.CertFile, bundle.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("load server certificate: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/api/", api.New(svc, logger).Handler())
	mux.Handle("/", ui.New(svc, logger, ui.Options{}).Handler())

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	s := &Server{
		http: &http.Server{
			Handler:           web.LogRequests(logger, mux),
			TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}},
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       2 * time.Minute,
			WriteTimeout:      2 * time.Minute,
			IdleTimeout:       5 * time.Minute,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
		},
		ln:     ln,
		logger: logger,
		done:   make(chan error, 1),
	}
	go func() {
		err := s.http.ServeTLS(ln, "", "")
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// URL is the server's base URL.
func (s *Server) URL() string { return "https://" + s.ln.Addr().String() }

// Done returns a channel that receives the serve error (nil after a clean
// shutdown).
func (s *Server) Done() <-chan error { return s.done }

// Shutdown stops accepting connections and waits up to the context's
// deadline for requests in flight to finish.
func (s *Server) Shutdown(ctx context.Context) error {
	if err := s.http.Shutdown(ctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
