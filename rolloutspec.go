package patchbay

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The text forms of a rollout's definition, shared by the CLI's flags
// (--ring, --budget, --window, --host-timeout) and the web UI's form.
// Errors are EINVALID, with messages that start with the flag's name
// ("ring …", "budget …", "window …"), so the CLI prefixes "--".

// ParseRing reads NAME:SPEC, SPEC comma-separated: selector=KEY=VALUE
// (repeatable), count=N, percent=N, concurrency=N (default 1),
// bake=DURATION, gates=A+B, canary.
func ParseRing(s string) (Ring, error) {
	name, spec, _ := strings.Cut(s, ":")
	g := Ring{Name: strings.TrimSpace(name), MaxConcurrency: 1}
	if g.Name == "" {
		return g, Errorf(EINVALID, "ring %q: want NAME:SPEC", s)
	}
	for _, kv := range strings.Split(spec, ",") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		var err error
		switch k {
		case "selector":
			sk, sv, ok := strings.Cut(v, "=")
			if !ok || sk == "" || sv == "" {
				return g, Errorf(EINVALID, "ring %s: selector=KEY=VALUE, not %q", g.Name, kv)
			}
			if g.Selector == nil {
				g.Selector = Selector{}
			}
			g.Selector[sk] = sv
		case "count":
			g.Count, err = strconv.Atoi(v)
		case "percent":
			g.Percent, err = strconv.Atoi(strings.TrimSuffix(v, "%"))
		case "concurrency":
			g.MaxConcurrency, err = strconv.Atoi(v)
		case "bake":
			g.BakeTime, err = ParseDuration(v)
		case "gates":
			g.HealthGates = strings.Split(v, "+")
		case "canary":
			g.Canary = v == "" || v == "true"
		default:
			return g, Errorf(EINVALID, "ring %s: unknown key %q (want selector, count, percent, concurrency, bake, gates, canary)", g.Name, k)
		}
		if err != nil {
			return g, Errorf(EINVALID, "ring %s: %s: %v", g.Name, kv, err)
		}
	}
	return g, nil
}

// ParseFailureBudget reads a count ("2") or a percentage ("10%").
func ParseFailureBudget(s string) (FailureBudget, error) {
	if p, ok := strings.CutSuffix(s, "%"); ok {
		n, err := strconv.Atoi(p)
		if err != nil {
			return FailureBudget{}, Errorf(EINVALID, "budget %q: want a count or N%%", s)
		}
		return FailureBudget{Percent: n}, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return FailureBudget{}, Errorf(EINVALID, "budget %q: want a count or N%%", s)
	}
	return FailureBudget{Count: n}, nil
}

// ParseWindow reads cron=...;duration=...;tz=...;offset=Nd. Its shape is
// checked by Window.Validate, its cron expression and zone by
// internal/rollout.
func ParseWindow(s string) (Window, error) {
	var w Window
	for _, kv := range strings.Split(s, ";") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		v = strings.TrimSpace(v)
		var err error
		switch strings.TrimSpace(k) {
		case "cron":
			w.Cron = v
		case "duration":
			w.Duration, err = ParseDuration(v)
		case "tz":
			w.TimeZone = v
		case "offset":
			w.DayOffset, err = strconv.Atoi(strings.TrimSuffix(v, "d"))
		default:
			return w, Errorf(EINVALID, "window: unknown key %q (want cron, duration, tz, offset)", k)
		}
		if err != nil {
			return w, Errorf(EINVALID, "window: %s: %v", kv, err)
		}
	}
	return w, nil
}

// ParseDuration reads Go durations plus whole days ("2d").
func ParseDuration(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil {
			return 0, fmt.Errorf("duration %q: want e.g. 30m, 4h or 2d", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("duration %q: want e.g. 30m, 4h or 2d", s)
	}
	return d, nil
}
