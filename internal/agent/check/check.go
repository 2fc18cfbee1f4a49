// Package check runs the health checks registered in the agent's own
// configuration: Nagios-plugin commands and HTTP requests. A job names
// checks; it never carries a command or a URL, so the server cannot make
// an agent run anything its administrator did not register.
//
// The configuration is a JSON file:
//
//	{"checks": [
//	  {"name": "disk", "type": "nagios",
//	   "command": ["/usr/lib/nagios/plugins/check_disk", "-w", "20%", "-c", "10%", "-p", "/"],
//	   "timeout": "30s"},
//	  {"name": "app", "type": "http", "url": "http://127.0.0.1:8080/health",
//	   "expect_status": 200, "body_contains": "ok", "timeout": "5s"}
//	]}
package check

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/pkgmgr"
)

// Types of check.
const (
	TypeNagios = "nagios"
	TypeHTTP   = "http"
)

// Timeouts: the default of a check that sets none, and the most one may
// set.
const (
	DefaultTimeout = 30 * time.Second
	MaxTimeout     = 10 * time.Minute
)

// maxOutput bounds what a check's output keeps, and maxBody what an HTTP
// check reads of a response body.
const (
	maxOutput = 4 << 10
	maxBody   = 1 << 20
)

// Config is the checks file.
type Config struct {
	Checks []Spec `json:"checks"`
}

// Spec is one registered check.
type Spec struct {
	// Name is how jobs refer to the check: 1-64 of [a-z0-9_.-], starting
	// with a letter or digit.
	Name string `json:"name"`
	Type string `json:"type"` // TypeNagios or TypeHTTP
	// Command is a Nagios plugin's argv (no shell): exit 0 OK, 1 WARNING,
	// 2 CRITICAL, anything else UNKNOWN; the first line of its output is
	// the message.
	Command []string `json:"command,omitempty"`
	// URL is fetched with GET (redirects are not followed); the check is
	// OK when the status is ExpectStatus (0: 200) and, when BodyContains
	// is set, the body contains it; else CRITICAL.
	URL          string   `json:"url,omitempty"`
	ExpectStatus int      `json:"expect_status,omitempty"`
	BodyContains string   `json:"body_contains,omitempty"`
	Timeout      Duration `json:"timeout,omitzero"`
}

// Duration is a time.Duration written as a Go duration string ("30s").
type Duration time.Duration

// UnmarshalJSON reads "30s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New(`a duration is a string such as "30s"`)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes "30s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

// Load reads and validates the checks file at path. An empty path is no
// checks at all, so the agent works with no file; a path that does not
// exist is an error, since someone meant it.
func Load(path string) (Config, error) {
	if path == "" {
		return Config{}, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read checks file: %w", err)
	}
	cfg, err := Parse(data)
	if err != nil {
		return Config{}, fmt.Errorf("checks file %s: %w", path, err)
	}
	return cfg, nil
}

// Parse reads a checks file's content (unknown fields are errors, so a
// typo is not silently ignored) and validates it.
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
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Validate checks every spec and that names are unique.
func (c Config) Validate() error {
	seen := map[string]bool{}
	for i, s := range c.Checks {
		if err := s.Validate(); err != nil {
			return fmt.Errorf("check %d: %w", i+1, err)
		}
		if seen[s.Name] {
			return fmt.Errorf("check %d: name %q used twice", i+1, s.Name)
		}
		seen[s.Name] = true
	}
	return nil
}

// Validate checks one spec.
func (s Spec) Validate() error {
	if !nameRE.MatchString(s.Name) {
		return fmt.Errorf("invalid name %q: 1-64 of a-z, 0-9, '_', '.', '-', starting with a letter or digit", s.Name)
	}
	if s.Timeout < 0 || time.Duration(s.Timeout) > MaxTimeout {
		return fmt.Errorf("%s: timeout %s out of range (0 for %s, at most %s)", s.Name, time.Duration(s.Timeout), DefaultTimeout, MaxTimeout)
	}
	switch s.Type {
	case TypeNagios:
		if len(s.Command) == 0 || s.Command[0] == "" {
			return fmt.Errorf("%s: a nagios check needs a command (argv)", s.Name)
		}
		if s.URL != "" || s.ExpectStatus != 0 || s.BodyContains != "" {
			return fmt.Errorf("%s: url, expect_status and body_contains belong to http checks", s.Name)
		}
	case TypeHTTP:
		u, err := url.Parse(s.URL)
		if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("%s: url %q is not an http:// or https:// URL", s.Name, s.URL)
		}
		if s.ExpectStatus != 0 && (s.ExpectStatus < 100 || s.ExpectStatus > 599) {
			return fmt.Errorf("%s: expect_status %d is not an HTTP status", s.Name, s.ExpectStatus)
		}
		if len(s.Command) > 0 {
			return fmt.Errorf("%s: command belongs to nagios checks", s.Name)
		}
	case "":
		return fmt.Errorf("%s: type missing (nagios or http)", s.Name)
	default:
		return fmt.Errorf("%s: unknown type %q (nagios or http)", s.Name, s.Type)
	}
	return nil
}

func (s Spec) timeout() time.Duration {
	if s.Timeout == 0 {
		return DefaultTimeout
	}
	return time.Duration(s.Timeout)
}

// Result is one run of a check.
type Result struct {
	Name     string              `json:"name"`
	State    patchbay.CheckState `json:"state"`
	Message  string              `json:"message"`
	Output   string              `json:"output,omitempty"` // bounded
	Duration time.Duration       `json:"duration"`
}

// Set is the registered checks, ready to run.
type Set struct {
	specs  map[string]Spec
	run    pkgmgr.Runner
	client *http.Client
}

// New returns the checks of cfg (validated), running commands through r
// and HTTP requests with client (nil: a client of its own). Redirects are
// never followed.
func New(cfg Config, r pkgmgr.Runner, client *http.Client) *Set {
	s := &Set{specs: map[string]Spec{}, run: r}
	for _, sp := range cfg.Checks {
		s.specs[sp.Name] = sp
	}
	c := http.Client{}
	if client != nil {
		c = *client
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	s.client = &c
	return s
}

// Has reports whether name is registered.
func (s *Set) Has(name string) bool {
	if s == nil {
		return false
	}
	_, ok := s.specs[name]
	return ok
}

// Run runs the check name. A check that cannot run (timed out, command
// missing, connection refused) is a verdict too, UNKNOWN or CRITICAL, not
// an error; the error is for a name that is not registered.
func (s *Set) Run(ctx context.Context, name string) (Result, error) {
	if !s.Has(name) {
		return Result{}, patchbay.Errorf(patchbay.ENOTFOUND, "check %q is not registered in the agent's configuration", name)
	}
	sp := s.specs[name]
	start := time.Now()
	var r Result
	if sp.Type == TypeNagios {
		r = s.runNagios(ctx, sp)
	} else {
		r = s.runHTTP(ctx, sp)
	}
	r.Name = name
	r.Duration = time.Since(start)
	return r, nil
}

func (s *Set) runNagios(ctx context.Context, sp Spec) Result {
	res, err := s.run.Run(ctx, pkgmgr.Cmd{Path: sp.Command[0], Args: sp.Command[1:], Timeout: sp.timeout()})
	out := res.Stdout
	if len(bytes.TrimSpace(out)) == 0 {
		out = res.Stderr
	}
	r := Result{Output: tail(string(res.Stdout)+string(res.Stderr), maxOutput)}
	if err != nil {
		r.State, r.Message = patchbay.CheckUnknown, err.Error()
		return r
	}
	r.Message = firstLine(out)
	switch res.ExitCode {
	case 0:
		r.State = patchbay.CheckOK
	case 1:
		r.State = patchbay.CheckWarning
	case 2:
		r.State = patchbay.CheckCritical
	default:
		r.State = patchbay.CheckUnknown
		if r.Message == "" {
			r.Message = fmt.Sprintf("exit %d", res.ExitCode)
		}
	}
	return r
}

// firstLine is a plugin's message: its first line, without the
// performance data after '|'.
func firstLine(b []byte) string {
	line, _, _ := strings.Cut(strings.TrimLeft(string(b), " \t\r\n"), "\n")
	line, _, _ = strings.Cut(line, "|")
	return truncate(strings.TrimSpace(line), 512)
}

func (s *Set) runHTTP(ctx context.Context, sp Spec) Result {
	ctx, cancel := context.WithTimeout(ctx, sp.timeout())
	defer cancel()
	want := sp.ExpectStatus
	if want == 0 {
		want = http.StatusOK
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, sp.URL, nil)
	if err != nil {
		return Result{State: patchbay.CheckUnknown, Message: err.Error()}
	}
	req.Header.Set("User-Agent", "patchbay-agent-check")
	resp, err := s.client.Do(req)
	if err != nil {
		return Result{State: patchbay.CheckCritical, Message: truncate(err.Error(), 512)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return Result{State: patchbay.CheckCritical, Message: "read body: " + truncate(err.Error(), 512)}
	}
	r := Result{Output: tail(string(body), maxOutput)}
	switch {
	case resp.StatusCode != want:
		r.State, r.Message = patchbay.CheckCritical, fmt.Sprintf("HTTP %d, want %d", resp.StatusCode, want)
	case sp.BodyContains != "" && !bytes.Contains(body, []byte(sp.BodyContains)):
		r.State, r.Message = patchbay.CheckCritical, fmt.Sprintf("HTTP %d, body does not contain %q", resp.StatusCode, sp.BodyContains)
	default:
		r.State, r.Message = patchbay.CheckOK, fmt.Sprintf("HTTP %d", resp.StatusCode)
	}
	return r
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
