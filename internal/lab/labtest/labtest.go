// Package labtest gives tests a lab: it skips loudly where the machine
// cannot run one, except in CI (PATCHBAY_CI=1), where that is a failure.
package labtest

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/lab"
)

// CIEnv names the environment variable that CI sets to 1: lab tests then
// never skip.
const CIEnv = "PATCHBAY_CI"

// Require stops the test when this machine cannot run a lab: a loud skip,
// or a failure when CIEnv is 1. It installs missing tools (debootstrap,
// apt-utils, zstd) with apt-get.
func Require(t testing.TB) {
	t.Helper()
	err := lab.Preflight()
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		err = lab.EnsureTools(ctx, Logger(t))
	}
	if err == nil {
		return
	}
	if os.Getenv(CIEnv) == "1" {
		t.Fatalf("LAB CANNOT RUN and %s=1, so this is a failure: %v", CIEnv, err)
	}
	if errors.Is(err, lab.ErrUnsupported) {
		t.Skipf("!!! SKIPPING LAB TEST: %v (needs root, overlayfs, network namespaces; CI sets %s=1 and never skips)", err, CIEnv)
	}
	t.Skipf("!!! SKIPPING LAB TEST: cannot install the lab's tools: %v (CI sets %s=1 and never skips)", err, CIEnv)
}

// New returns a lab for the test, with its hosts as opts asks, torn down
// when the test ends. Stale labs of killed runs are cleaned first.
func New(t testing.TB, opts lab.Options) *lab.Lab {
	t.Helper()
	Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	if opts.Logger == nil {
		opts.Logger = Logger(t)
	}
	if err := lab.CleanStale(ctx, opts.Logger); err != nil {
		t.Fatalf("clean stale labs: %v", err)
	}
	l, err := lab.Up(ctx, opts)
	if l != nil {
		t.Cleanup(func() {
			if err := l.Close(); err != nil {
				t.Errorf("close lab: %v", err)
			}
		})
	}
	if err != nil {
		t.Fatalf("lab up: %v", err)
	}
	return l
}

// Logger writes the lab's log lines to the test log.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p[:len(p)-1]))
	return len(p), nil
}
