package ui

import (
	"cmp"
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/web"
)

// policyOption is one patch policy a new rollout may use.
type policyOption struct {
	Name, Label string
}

// rolloutPolicies lists the policies the new-rollout form offers: the
// built-in ones, then the stored ones.
func (u *UI) rolloutPolicies(ctx context.Context) ([]policyOption, error) {
	list, err := u.svc.ListPolicies(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]policyOption, len(list))
	for i, p := range list {
		label := p.Name
		if p.Description != "" {
			label += ": " + p.Description
		}
		out[i] = policyOption{p.Name, label}
	}
	return out, nil
}

// rolloutForm is the new-rollout form: what the user typed, kept as text
// so that a refused form comes back exactly as it was sent.
type rolloutForm struct {
	Name, Policy, Target, Rings, Budget, HostTimeout string
	Cron, Duration, TimeZone, Offset                 string // the maintenance window; all empty: none
	NoCatchUp                                        bool   // hosts away when their ring runs stay missed
	Reboot, RebootTimeout                            string // reboot policy and how long a rebooting host may take to come back
	RestartServices                                  bool   // hosts not rebooted restart services using replaced libraries

	Policies []policyOption
	Error    string // why the form was refused
	Field    string // the field the error is about ("" when the service refused the whole)
}

// newRolloutForm is the form as it first shows: the CLI's defaults.
func newRolloutForm() rolloutForm {
	return rolloutForm{Policy: patchbay.PolicyAll, Rings: "canary:count=1,canary\nrest:percent=100,concurrency=2", Budget: "0", HostTimeout: "2h", TimeZone: "UTC",
		Reboot: string(patchbay.RebootIfRequired), RebootTimeout: "15m"}
}

func rolloutFormFrom(r *http.Request) rolloutForm {
	v := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	return rolloutForm{Name: v("name"), Policy: v("policy"), Target: v("target"), Rings: v("rings"), Budget: v("budget"),
		HostTimeout: v("host_timeout"), Cron: v("cron"), Duration: v("duration"), TimeZone: v("tz"), Offset: v("offset"),
		NoCatchUp: v("no_catch_up") == "1", Reboot: v("reboot"), RebootTimeout: v("reboot_timeout"),
		RestartServices: v("restart_services") == "1"}
}

// fieldError is a refusal of one field of the form.
type fieldError struct {
	field string
	err   error
}

func (e fieldError) Error() string { return e.err.Error() }
func (e fieldError) Unwrap() error { return e.err }

func invalid(field, format string, args ...any) error {
	return fieldError{field, patchbay.Errorf(patchbay.EINVALID, format, args...)}
}

// ringLines splits the rings field: one ring a line in the CLI's --ring
// syntax (a leading "--ring" is allowed, so flags can be pasted); blank
// lines and lines starting with # are skipped.
func ringLines(s string) []string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		line = strings.TrimSpace(strings.TrimPrefix(line, "--ring"))
		line = strings.Trim(line, `'"`)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, line)
	}
	return out
}

// definition reads the form into a rollout definition, with the shared
// parsers of the CLI's flags. The service checks the rest (ring and budget
// shape, the cron expression and the time zone, that the target matches).
func (f rolloutForm) definition(policies []policyOption) (patchbay.Rollout, error) {
	def := patchbay.Rollout{Name: f.Name, Policy: f.Policy}
	if def.Name == "" {
		return def, invalid("name", "a rollout needs a name")
	}
	if len(def.Name) > 200 {
		return def, invalid("name", "name: at most 200 characters")
	}
	if !slices.ContainsFunc(policies, func(p policyOption) bool { return p.Name == f.Policy }) {
		return def, invalid("policy", "unknown policy %q", f.Policy)
	}
	var err error
	if def.Target, err = patchbay.ParseSelector(f.Target); err != nil {
		return def, fieldError{"target", err}
	}
	lines := ringLines(f.Rings)
	if len(lines) == 0 {
		return def, invalid("rings", "give at least one ring, e.g. all:percent=100")
	}
	for _, line := range lines {
		g, err := patchbay.ParseRing(line)
		if err != nil {
			return def, fieldError{"rings", err}
		}
		def.Rings = append(def.Rings, g)
	}
	def.NoCatchUp = f.NoCatchUp
	if def.Reboot = patchbay.RebootPolicy(cmp.Or(f.Reboot, string(patchbay.RebootIfRequired))); !def.Reboot.Valid() {
		return def, invalid("reboot", "reboot %q: want never, if-required or always", f.Reboot)
	}
	if f.RebootTimeout != "" {
		if def.RebootTimeout, err = patchbay.ParseDuration(f.RebootTimeout); err != nil {
			return def, invalid("reboot_timeout", "reboot timeout: %v", err)
		}
	}
	def.RestartServices = f.RestartServices
	if def.Budget, err = patchbay.ParseFailureBudget(cmp.Or(f.Budget, "0")); err != nil {
		return def, fieldError{"budget", err}
	}
	if f.HostTimeout != "" {
		if def.HostTimeout, err = patchbay.ParseDuration(f.HostTimeout); err != nil {
			return def, invalid("host_timeout", "host timeout: %v", err)
		}
	}
	if f.Cron != "" || f.Duration != "" || f.Offset != "" {
		w := patchbay.Window{Cron: f.Cron, TimeZone: f.TimeZone}
		if w.Cron == "" {
			return def, invalid("cron", "maintenance window: a cron expression is required (or leave the window's fields empty)")
		}
		if w.Duration, err = patchbay.ParseDuration(f.Duration); err != nil {
			return def, invalid("duration", "maintenance window: %v", err)
		}
		if f.Offset != "" {
			if w.DayOffset, err = strconv.Atoi(strings.TrimSuffix(f.Offset, "d")); err != nil {
				return def, invalid("offset", "maintenance window: day offset %q: want a whole number of days", f.Offset)
			}
		}
		def.Window = &w
	}
	return def, nil
}

// rolloutNew: GET /rollouts/new — the form of a new draft rollout.
func (u *UI) rolloutNew(w http.ResponseWriter, r *http.Request) error {
	return u.showRolloutForm(w, r, http.StatusOK, newRolloutForm())
}

func (u *UI) showRolloutForm(w http.ResponseWriter, r *http.Request, status int, f rolloutForm) error {
	policies, err := u.rolloutPolicies(r.Context())
	if err != nil {
		return err
	}
	f.Policies = policies
	return u.render(w, r, status, "rollout_new", view{Title: "New rollout", Nav: "rollouts", Data: f})
}

// rolloutCreate: POST /rollouts — creates a draft through the service
// and sends the browser to its page, which shows the plan. A refused form
// comes back with its values and the reason.
func (u *UI) rolloutCreate(w http.ResponseWriter, r *http.Request) error {
	f := rolloutFormFrom(r)
	policies, err := u.rolloutPolicies(r.Context())
	if err != nil {
		return err
	}
	def, err := f.definition(policies)
	if err == nil {
		var d patchbay.RolloutDetail
		if d, err = u.svc.CreateRollout(r.Context(), def); err == nil {
			return redirect(w, r, rolloutHref(d.Rollout.ID)+"?done=created")
		}
	}
	status := web.Status(err)
	if status >= 500 || status == http.StatusUnauthorized || status == http.StatusForbidden {
		return err
	}
	f.Error = patchbay.ErrorMessage(err)
	if fe, ok := err.(fieldError); ok {
		f.Field = fe.field
	}
	return u.showRolloutForm(w, r, status, f)
}

// RebootPolicies are the choices of the form's reboot field.
func (rolloutForm) RebootPolicies() []string {
	return []string{string(patchbay.RebootIfRequired), string(patchbay.RebootNever), string(patchbay.RebootAlways)}
}
