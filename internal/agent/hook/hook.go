// Package hook runs the hooks registered in the agent's own configuration
// around a patch and a reboot: pre-patch, post-patch, pre-reboot (drain:
// move containers or VMs to a partner host, leave the load balancer) and
// post-reboot (restore). The server never sends a command: a job runs the
// hooks of the host's file, by event, in the file's order.
//
// The configuration is a JSON file:
//
//	{"hooks": [
//	  {"event": "pre-reboot", "name": "drain",
//	   "command": ["/usr/local/sbin/vz-migrate-all", "--to", "vz2"], "timeout": "30m"},
//	  {"event": "post-reboot", "name": "restore",
//	   "command": ["/usr/local/sbin/vz-migrate-all", "--back"], "timeout": "30m"}
//	]}
//
// A hook succeeds when it exits 0 within its timeout. Its environment has
// PATCHBAY_HOOK_EVENT, PATCHBAY_HOOK_NAME and PATCHBAY_JOB_ID.
package hook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"time"

	"github.com/patchbay/patchbay/internal/agent/check"
	"github.com/patchbay/patchbay/internal/pkgmgr"
)

// Events a hook runs at.
const (
	PrePatch   = "pre-patch"
	PostPatch  = "post-patch"
	PreReboot  = "pre-reboot"
	PostReboot = "post-reboot"
)

// Events lists every event, in the order a job meets them.
var Events = []string{PrePatch, PostPatch, PreReboot, PostReboot}

// Timeouts: a hook's default and the most one may set.
const (
	DefaultTimeout = 5 * time.Minute
	MaxTimeout     = 2 * time.Hour
)

// MaxOutput bounds the output a hook's step keeps (its last bytes).
const MaxOutput = 16 << 10

// Config is the hooks file.
type Config struct {
	Hooks []Spec `json:"hooks"`
}

// Spec is one registered hook.
type Spec struct {
	Event   string         `json:"event"`
	Name    string         `json:"name"`
	Command []string       `json:"command"` // argv, no shell
	Timeout check.Duration `json:"timeout,omitzero"`
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

// Load reads and validates the hooks file at path; "" is no hooks.
func Load(path string) (Config, error) {
	if path == "" {
		return Config{}, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read hooks file: %w", err)
	}
	cfg, err := Parse(data)
	if err != nil {
		return Config{}, fmt.Errorf("hooks file %s: %w", path, err)
	}
	return cfg, nil
}

// Parse reads a hooks file's content (unknown fields are errors) and
// validates it.
func Parse(data []byte) (Config, error) {
	var cfg Config
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return Config{}, fmt.Errorf("parse: %w", err)
	}
	// Not dec.More: it reports false before a stray ']' or '}'.
	if _, err := dec.Token(); err != io.EOF {
		return Config{}, errors.New("parse: data after the JSON object")
	}
	return cfg, cfg.Validate()
}

// Validate checks every spec; names are unique per event.
func (c Config) Validate() error {
	seen := map[string]bool{}
	for i, s := range c.Hooks {
		if err := s.Validate(); err != nil {
			return fmt.Errorf("hook %d: %w", i+1, err)
		}
		if k := s.Event + ":" + s.Name; seen[k] {
			return fmt.Errorf("hook %d: %s hook %q defined twice", i+1, s.Event, s.Name)
		} else {
			seen[k] = true
		}
	}
	return nil
}

// Validate checks one spec.
func (s Spec) Validate() error {
	switch s.Event {
	case PrePatch, PostPatch, PreReboot, PostReboot:
	case "":
		return fmt.Errorf("%q: event missing (pre-patch, post-patch, pre-reboot or post-reboot)", s.Name)
	default:
		return fmt.Errorf("%q: unknown event %q (pre-patch, post-patch, pre-reboot or post-reboot)", s.Name, s.Event)
	}
	if !nameRE.MatchString(s.Name) {
		return fmt.Errorf("invalid name %q: 1-64 of a-z, 0-9, '_', '.', '-', starting with a letter or digit", s.Name)
	}
	if len(s.Command) == 0 || s.Command[0] == "" {
		return fmt.Errorf("%s: a command (argv) is required", s.Name)
	}
	if s.Timeout < 0 || time.Duration(s.Timeout) > MaxTimeout {
		return fmt.Errorf("%s: timeout %s out of range (0 for %s, at most %s)", s.Name, time.Duration(s.Timeout), DefaultTimeout, MaxTimeout)
	}
	return nil
}

// StepName is the job step of a hook: "hook:EVENT:NAME".
func (s Spec) StepName() string { return "hook:" + s.Event + ":" + s.Name }

func (s Spec) timeout() time.Duration {
	if s.Timeout == 0 {
		return DefaultTimeout
	}
	return time.Duration(s.Timeout)
}

// Set is the registered hooks, ready to run. A nil Set has none.
type Set struct {
	hooks []Spec
	run   pkgmgr.Runner
}

// New returns the hooks of cfg (validated), run through r.
func New(cfg Config, r pkgmgr.Runner) *Set { return &Set{hooks: cfg.Hooks, run: r} }

// For lists the hooks of event, in the file's order.
func (s *Set) For(event string) []Spec {
	if s == nil {
		return nil
	}
	var out []Spec
	for _, h := range s.hooks {
		if h.Event == event {
			out = append(out, h)
		}
	}
	return out
}

// Run runs one hook for job jobID. The error says why it failed (exit
// status, timeout, not runnable); out is its output, stdout then stderr.
func (s *Set) Run(ctx context.Context, h Spec, jobID string) (out []byte, err error) {
	res, err := s.run.Run(ctx, pkgmgr.Cmd{
		Path: h.Command[0], Args: h.Command[1:], Timeout: h.timeout(),
		Env: []string{"PATCHBAY_HOOK_EVENT=" + h.Event, "PATCHBAY_HOOK_NAME=" + h.Name, "PATCHBAY_JOB_ID=" + jobID},
	})
	out = append(res.Stdout, res.Stderr...)
	switch {
	case err != nil:
		return out, fmt.Errorf("%s hook %s: %w", h.Event, h.Name, err)
	case res.ExitCode != 0:
		return out, fmt.Errorf("%s hook %s exited with status %d", h.Event, h.Name, res.ExitCode)
	}
	return out, nil
}
