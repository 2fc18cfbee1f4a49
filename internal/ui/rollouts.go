package ui

import (
	"bytes"
	"cmp"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/service"
	"github.com/patchbay/patchbay/internal/web"
)

const (
	rolloutHostsPageSize = 100 // host runs per page of a rollout page
	planPageSize         = 200 // plan rows (host × package) per page
)

// rolloutActions says, per action, the state a rollout must be in for its
// button to show and what the confirm page says it does.
var rolloutActions = []rolloutActionSpec{
	{service.ActionApprove, []patchbay.RolloutState{patchbay.RolloutDraft}, "Approve", "freezes the plan: exactly these versions on exactly these hosts. It does not start anything.", "Approved: the plan is frozen."},
	{service.ActionStart, []patchbay.RolloutState{patchbay.RolloutApproved}, "Start", "starts the first ring's hosts now (inside the maintenance window, if there is one).", "Started."},
	{service.ActionPause, []patchbay.RolloutState{patchbay.RolloutRunning}, "Pause", "starts no new host; hosts already running finish.", "Paused."},
	{service.ActionResume, []patchbay.RolloutState{patchbay.RolloutPaused}, "Resume", "starts hosts again where the rollout stopped.", "Resumed."},
	{service.ActionAbort, []patchbay.RolloutState{patchbay.RolloutDraft, patchbay.RolloutApproved, patchbay.RolloutRunning, patchbay.RolloutPaused},
		"Abort", "stops the rollout for good: no new host starts, and it cannot be resumed.", "Aborted."},
}

type rolloutActionSpec struct {
	Action service.RolloutAction
	From   []patchbay.RolloutState
	Label  string
	Does   string
	Past   string // the flash after it was done
}

// doneFlash is what the rollout page says after the action done (its
// "done" parameter): "" for none or an unknown one.
func doneFlash(done string) string {
	if done == "created" {
		return "Created as a draft. Check the plan below, then approve it."
	}
	for _, a := range rolloutActions {
		if string(a.Action) == done {
			return a.Past
		}
	}
	for _, a := range hostActions {
		if a.Action == done {
			return a.Past
		}
	}
	return ""
}

func knownAction(action string) bool {
	return slices.ContainsFunc(rolloutActions, func(a rolloutActionSpec) bool { return string(a.Action) == action })
}

// rolloutButton is one action a rollout's page offers: on the rollout,
// or on one of its hosts (Hostname set).
type rolloutButton struct {
	Action       string
	Label, Does  string
	Danger       bool
	ConfirmHref  string
	PostHref     string // where its confirm page's form posts
	RolloutID    int64
	RolloutName  string
	RolloutState patchbay.RolloutState
	Hostname     string
	HostState    patchbay.HostRunState
}

func buttonsFor(r patchbay.Rollout) []rolloutButton {
	var out []rolloutButton
	for _, a := range rolloutActions {
		if slices.Contains(a.From, r.State) {
			out = append(out, rolloutButton{Action: string(a.Action), Label: a.Label, Does: a.Does, Danger: a.Action == service.ActionAbort,
				ConfirmHref: rolloutHref(r.ID) + "/confirm/" + string(a.Action), PostHref: rolloutHref(r.ID) + "/" + string(a.Action),
				RolloutID: r.ID, RolloutName: r.Name, RolloutState: r.State})
		}
	}
	return out
}

func rolloutHref(id int64) string { return "/rollouts/" + strconv.FormatInt(id, 10) }

// stateCount is one host state and how many hosts are in it.
type stateCount struct {
	State patchbay.HostRunState
	N     int
}

func countsOf(c map[patchbay.HostRunState]int) []stateCount {
	var out []stateCount
	for _, s := range patchbay.HostRunStates {
		if c[s] > 0 {
			out = append(out, stateCount{s, c[s]})
		}
	}
	return out
}

type rolloutRow struct {
	service.RolloutSummary
	CountList []stateCount
}

// rollouts: GET /rollouts — every rollout, newest first, with its hosts
// counted by state.
func (u *UI) rollouts(w http.ResponseWriter, r *http.Request) error {
	list, err := u.svc.ListRolloutSummaries(r.Context())
	if err != nil {
		return err
	}
	rows := make([]rolloutRow, len(list))
	for i, s := range list {
		rows[i] = rolloutRow{s, countsOf(s.Counts)}
	}
	return u.render(w, r, http.StatusOK, "rollouts", view{Title: "Rollouts", Nav: "rollouts", Data: rows})
}

// hostRunRow is a host of a rollout as its table shows it, with the
// actions (retry, skip) its state allows.
type hostRunRow struct {
	patchbay.HostRun
	RingName string
	Buttons  []rolloutButton
}

// planRow is one package of one host in a rollout's plan.
type planRow struct {
	HostID    int64
	Hostname  string
	RingName  string
	Package   string
	Arch      string
	Version   string
	Installed string
}

type rolloutPage struct {
	D         patchbay.RolloutDetail
	Counts    []stateCount
	Buttons   []rolloutButton
	Hosts     hostRunsView
	Plan      []planRow
	PlanRows  int
	PlanPage  int
	PlanPages int
	PlanPrev  string
	PlanNext  string
	Failures  failuresView
	Events    []patchbay.RolloutEvent // newest first
	LiveHref  string
	Done      string // the action just done, for the flash
}

// hostRunsView is the per-host table: one page of it, rendered on its
// own for the live endpoint.
type hostRunsView struct {
	Rows        []hostRunRow
	Total       int
	Page, Pages int
	Prev, Next  string
}

func pageParam(r *http.Request, name string) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return 1, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 1_000_000 {
		return 0, web.Errorf("%s %q: want a positive number", name, s)
	}
	return n, nil
}

func ringName(r patchbay.Rollout, i int) string {
	if i >= 0 && i < len(r.Rings) {
		return r.Rings[i].Name
	}
	return strconv.Itoa(i)
}

// sortedRuns orders a rollout's hosts by ring, then hostname.
func sortedRuns(d patchbay.RolloutDetail) []hostRunRow {
	rows := make([]hostRunRow, len(d.Hosts))
	for i, h := range d.Hosts {
		rows[i] = hostRunRow{h, ringName(d.Rollout, h.Ring), hostButtonsFor(d.Rollout, h)}
	}
	slices.SortStableFunc(rows, func(a, b hostRunRow) int {
		return cmp.Or(cmp.Compare(a.Ring, b.Ring), strings.Compare(a.Hostname, b.Hostname))
	})
	return rows
}

func hostRunsPage(d patchbay.RolloutDetail, page int) hostRunsView {
	rows := sortedRuns(d)
	v := hostRunsView{Total: len(rows), Pages: max(1, (len(rows)+rolloutHostsPageSize-1)/rolloutHostsPageSize)}
	v.Page = min(page, v.Pages)
	from := (v.Page - 1) * rolloutHostsPageSize
	v.Rows = rows[from:min(len(rows), from+rolloutHostsPageSize)]
	base := rolloutHref(d.Rollout.ID) + "?hp="
	if v.Page > 1 {
		v.Prev = base + strconv.Itoa(v.Page-1) + "#hosts"
	}
	if v.Page < v.Pages {
		v.Next = base + strconv.Itoa(v.Page+1) + "#hosts"
	}
	return v
}

// rollout: GET /rollouts/{id} — definition, rings, the hosts and their
// state, the plan, the log and the actions the rollout's state allows.
func (u *UI) rollout(w http.ResponseWriter, r *http.Request) error {
	id, err := rolloutID(r)
	if err != nil {
		return err
	}
	d, err := u.svc.ShowRollout(r.Context(), id)
	if err != nil {
		return err
	}
	hp, err := pageParam(r, "hp")
	if err != nil {
		return err
	}
	pp, err := pageParam(r, "pp")
	if err != nil {
		return err
	}
	p := rolloutPage{D: d, Counts: countsOf(d.Counts), Buttons: buttonsFor(d.Rollout), Hosts: hostRunsPage(d, hp),
		LiveHref: rolloutHref(id) + "/live"}
	p.Done = doneFlash(r.URL.Query().Get("done"))
	if p.Failures, err = u.failuresOf(r, d); err != nil {
		return err
	}
	if hp > 1 {
		p.LiveHref += "?hp=" + strconv.Itoa(p.Hosts.Page)
	}
	for _, h := range sortedRuns(d) {
		for _, pv := range h.Patches {
			p.PlanRows++
			if p.PlanRows <= (pp-1)*planPageSize || p.PlanRows > pp*planPageSize {
				continue
			}
			row := planRow{HostID: h.HostID, Hostname: h.Hostname, RingName: h.RingName, Package: pv.Name, Arch: pv.Arch, Version: pv.Version}
			if inst, ok := d.Installed[h.HostID]; ok {
				row.Installed = inst[pv.Name+":"+pv.Arch]
			}
			p.Plan = append(p.Plan, row)
		}
	}
	p.PlanPages = max(1, (p.PlanRows+planPageSize-1)/planPageSize)
	p.PlanPage = min(pp, p.PlanPages)
	planHref := func(n int) string { return rolloutHref(id) + "?pp=" + strconv.Itoa(n) + "#plan" }
	if p.PlanPage > 1 {
		p.PlanPrev = planHref(p.PlanPage - 1)
	}
	if p.PlanPage < p.PlanPages {
		p.PlanNext = planHref(p.PlanPage + 1)
	}
	p.Events = slices.Clone(d.Events)
	slices.SortStableFunc(p.Events, func(a, b patchbay.RolloutEvent) int {
		return cmp.Or(b.Time.Compare(a.Time), cmp.Compare(b.ID, a.ID))
	})
	return u.render(w, r, http.StatusOK, "rollout", view{Title: d.Rollout.Name, Nav: "rollouts", Data: p})
}

// rolloutLive: GET /rollouts/{id}/live — what the rollout page's script
// polls: the state, the counts and the host rows, rendered by the page's
// own templates.
func (u *UI) rolloutLive(w http.ResponseWriter, r *http.Request) error {
	id, err := rolloutID(r)
	if err != nil {
		return err
	}
	d, err := u.svc.ShowRollout(r.Context(), id)
	if err != nil {
		return err
	}
	hp, err := pageParam(r, "hp")
	if err != nil {
		return err
	}
	failures, err := u.failuresOf(r, d)
	if err != nil {
		return err
	}
	t := u.pages["rollout"].t
	var rows, counts, buttons, fails bytes.Buffer
	if err := t.ExecuteTemplate(&fails, "rollout_failures", failures); err != nil {
		return err
	}
	if err := t.ExecuteTemplate(&rows, "rollout_host_rows", hostRunsPage(d, hp)); err != nil {
		return err
	}
	if err := t.ExecuteTemplate(&counts, "rollout_counts", countsOf(d.Counts)); err != nil {
		return err
	}
	if err := t.ExecuteTemplate(&buttons, "rollout_buttons", buttonsFor(d.Rollout)); err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return web.WriteJSON(w, http.StatusOK, map[string]any{
		"state":         d.Rollout.State,
		"actions_html":  buttons.String(),
		"status":        d.Status,
		"hosts_html":    rows.String(),
		"counts_html":   counts.String(),
		"failures_html": fails.String(),
	})
}

func rolloutID(r *http.Request) (int64, error) {
	s := r.PathValue("id")
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 1 {
		return 0, patchbay.Errorf(patchbay.ENOTFOUND, "no rollout %q", s)
	}
	return id, nil
}

// findButton returns the button for action on a rollout in its state, or
// a conflict error when the state does not allow it.
func findButton(d patchbay.RolloutDetail, action string) (rolloutButton, error) {
	if !knownAction(action) {
		return rolloutButton{}, patchbay.Errorf(patchbay.ENOTFOUND, "no action %q (want approve, start, pause, resume or abort)", action)
	}
	for _, b := range buttonsFor(d.Rollout) {
		if b.Action == action {
			return b, nil
		}
	}
	return rolloutButton{}, patchbay.Errorf(patchbay.ECONFLICT, "rollout %q is %s: %s is not possible now", d.Rollout.Name, d.Rollout.State, action)
}

// rolloutConfirm: GET /rollouts/{id}/confirm/{action} — the confirmation
// step of an action: what it does, and a form that posts it.
func (u *UI) rolloutConfirm(w http.ResponseWriter, r *http.Request) error {
	id, err := rolloutID(r)
	if err != nil {
		return err
	}
	d, err := u.svc.ShowRollout(r.Context(), id)
	if err != nil {
		return err
	}
	b, err := findButton(d, r.PathValue("action"))
	if err != nil {
		return err
	}
	return u.showConfirm(w, r, b, b.Label+" "+d.Rollout.Name, len(d.Hosts))
}

// showConfirm renders the confirmation page of an action on a rollout
// of hosts hosts, or on one of its hosts.
func (u *UI) showConfirm(w http.ResponseWriter, r *http.Request, b rolloutButton, title string, hosts int) error {
	return u.render(w, r, http.StatusOK, "rollout_confirm", view{Title: title, Nav: "rollouts",
		Data: struct {
			B     rolloutButton
			Hosts int
		}{b, hosts}})
}

// rolloutAct: POST /rollouts/{id}/{action} — approve, start, pause,
// resume or abort, recorded by the service with the signed-in user as
// actor; redirects back to the rollout.
func (u *UI) rolloutAct(w http.ResponseWriter, r *http.Request) error {
	id, err := rolloutID(r)
	if err != nil {
		return err
	}
	action := r.PathValue("action")
	if !knownAction(action) {
		return patchbay.Errorf(patchbay.ENOTFOUND, "no action %q (want approve, start, pause, resume or abort)", action)
	}
	if r.PostFormValue("confirm") != "yes" {
		return web.Errorf("not confirmed: confirm the action on its confirmation page")
	}
	if _, err := u.svc.ActOnRollout(r.Context(), id, service.RolloutAction(action)); err != nil {
		return err
	}
	return redirect(w, r, rolloutHref(id)+"?done="+action)
}
