package ui

import (
	"net/http"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/web"
)

// hostActions are the actions on one host of a rollout: the host states
// each needs (and a rollout that is not final), what the confirm page
// says and the flash after.
var hostActions = []struct {
	Action, Label, Does, Past string
	From                      []patchbay.HostRunState
}{
	{"retry", "Retry", "puts it back to pending: the scheduler starts a new attempt when its ring and a free slot allow. Its earlier failure still counts against the failure budget.",
		"Retried: the host is pending again.", []patchbay.HostRunState{patchbay.HostFailed}},
	{"skip", "Skip", "marks it skipped: this rollout installs nothing more on it, and its ring moves on without it.",
		"Skipped: the ring moves on without the host.", []patchbay.HostRunState{patchbay.HostPending, patchbay.HostFailed}},
}

func hostRunHref(rolloutID, hostID int64) string {
	return rolloutHref(rolloutID) + "/hosts/" + strconv.FormatInt(hostID, 10)
}

// hostButtonsFor lists the actions a host of r offers in its state.
func hostButtonsFor(r patchbay.Rollout, h patchbay.HostRun) []rolloutButton {
	if r.State.Final() {
		return nil
	}
	var out []rolloutButton
	for _, a := range hostActions {
		if slices.Contains(a.From, h.State) {
			base := hostRunHref(r.ID, h.HostID)
			out = append(out, rolloutButton{Action: a.Action, Label: a.Label, Does: a.Does, Danger: a.Action == "skip",
				ConfirmHref: base + "/confirm/" + a.Action, PostHref: base + "/" + a.Action,
				RolloutID: r.ID, RolloutName: r.Name, RolloutState: r.State, Hostname: h.Hostname, HostState: h.State})
		}
	}
	return out
}

func knownHostAction(action string) bool {
	for _, a := range hostActions {
		if a.Action == action {
			return true
		}
	}
	return false
}

// hostRunOf finds the host run of path value {host} (a host id) in d.
func hostRunOf(d patchbay.RolloutDetail, r *http.Request) (patchbay.HostRun, error) {
	s := r.PathValue("host")
	id, err := strconv.ParseInt(s, 10, 64)
	if err == nil {
		for _, h := range d.Hosts {
			if h.HostID == id {
				return h, nil
			}
		}
	}
	return patchbay.HostRun{}, patchbay.Errorf(patchbay.ENOTFOUND, "host %q is not in rollout %q", s, d.Rollout.Name)
}

// rolloutHostConfirm: GET /rollouts/{id}/hosts/{host}/confirm/{action} —
// the confirmation step of retrying or skipping one host.
func (u *UI) rolloutHostConfirm(w http.ResponseWriter, r *http.Request) error {
	id, action, err := hostActionOf(r)
	if err != nil {
		return err
	}
	d, err := u.svc.ShowRollout(r.Context(), id)
	if err != nil {
		return err
	}
	h, err := hostRunOf(d, r)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(hostButtonsFor(d.Rollout, h), func(b rolloutButton) bool { return b.Action == action })
	if i < 0 {
		return patchbay.Errorf(patchbay.ECONFLICT, "host %s is %s in a %s rollout: %s is not possible now", h.Hostname, h.State, d.Rollout.State, action)
	}
	b := hostButtonsFor(d.Rollout, h)[i]
	return u.showConfirm(w, r, b, b.Label+" "+h.Hostname, len(d.Hosts))
}

// hostActionOf reads the rollout id and the action of a host action's
// path.
func hostActionOf(r *http.Request) (int64, string, error) {
	id, err := rolloutID(r)
	if err != nil {
		return 0, "", err
	}
	action := r.PathValue("action")
	if !knownHostAction(action) {
		return 0, "", patchbay.Errorf(patchbay.ENOTFOUND, "no host action %q (want retry or skip)", action)
	}
	return id, action, nil
}

// rolloutHostAct: POST /rollouts/{id}/hosts/{host}/{action} — retry or
// skip one host, recorded by the service with the signed-in user as
// actor; redirects back to the rollout.
func (u *UI) rolloutHostAct(w http.ResponseWriter, r *http.Request) error {
	id, action, err := hostActionOf(r)
	if err != nil {
		return err
	}
	host := r.PathValue("host")
	if _, err := strconv.ParseInt(host, 10, 64); err != nil {
		return patchbay.Errorf(patchbay.ENOTFOUND, "no host %q", host)
	}
	if r.PostFormValue("confirm") != "yes" {
		return web.Errorf("not confirmed: confirm the action on its confirmation page")
	}
	if action == "retry" {
		_, err = u.svc.RetryHost(r.Context(), id, host)
	} else {
		_, err = u.svc.SkipHost(r.Context(), id, host)
	}
	if err != nil {
		return err
	}
	return redirect(w, r, rolloutHref(id)+"?done="+action+"#hosts")
}

// Bounds of what the failures section shows: the failed hosts in detail,
// and the tail of each step's output (the agent keeps 64 KiB a step).
const (
	maxFailuresShown = 10
	maxOutputShown   = 8 << 10
	maxReasonShown   = 2000
)

// hostFailure is a failed host with its latest attempt's result.
type hostFailure struct {
	hostRunRow
	Reason string
	Result *patchbay.JobResult // nil: the agent never reported (timed out)
	Steps  []stepView
}

type stepView struct {
	patchbay.StepResult
	Cut int // bytes cut from the start of Output
}

type failuresView struct {
	Failures []hostFailure
	More     int // failed hosts not shown
}

// failuresOf reads the results of the first failed hosts' latest jobs.
func (u *UI) failuresOf(r *http.Request, d patchbay.RolloutDetail) (failuresView, error) {
	var v failuresView
	var jobs []string
	for _, h := range sortedRuns(d) {
		if h.State != patchbay.HostFailed {
			continue
		}
		if len(v.Failures) == maxFailuresShown {
			v.More++
		} else {
			v.Failures = append(v.Failures, hostFailure{hostRunRow: h, Reason: cutEnd(h.Reason, maxReasonShown)})
			jobs = append(jobs, h.JobID)
		}
	}
	if len(jobs) == 0 {
		return v, nil
	}
	results, err := u.svc.RolloutJobResults(r.Context(), d.Rollout.ID, jobs)
	if err != nil {
		return v, err
	}
	for i := range v.Failures {
		f := &v.Failures[i]
		res, ok := results[f.JobID]
		if !ok {
			continue
		}
		f.Result = &res
		for _, st := range res.Steps {
			out, cut := tail(st.Output, maxOutputShown)
			st.Output, st.Message = out, cutEnd(st.Message, maxReasonShown)
			f.Steps = append(f.Steps, stepView{st, cut})
		}
	}
	return v, nil
}

// tail returns the last n bytes of s or fewer, starting on a whole UTF-8
// character, and how many bytes it cut.
func tail(s string, n int) (string, int) {
	if len(s) <= n {
		return s, 0
	}
	i := len(s) - n
	for i < len(s) && !utf8.RuneStart(s[i]) {
		i++
	}
	return s[i:], i
}

// cutEnd keeps the first n bytes of s or fewer, on whole characters.
func cutEnd(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}
