package ui_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/service"
)

// addRollout creates a draft rollout of two rings over every host.
func (f *fixture) addRollout(t testing.TB, name string) patchbay.RolloutDetail {
	t.Helper()
	d, err := f.svc.CreateRollout(f.admin, patchbay.Rollout{Name: name, Policy: patchbay.PolicyAll, Target: patchbay.Selector{},
		Rings: []patchbay.Ring{
			{Name: "canary", Count: 1, MaxConcurrency: 1, HealthGates: []string{"web"}, Canary: true},
			{Name: "wave", Percent: 100, MaxConcurrency: 5},
		},
		Budget: patchbay.FailureBudget{Count: 1}})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestRolloutPages(t *testing.T) {
	f := newFixture(t)
	for _, n := range []string{"web1", "web2", "web3"} {
		f.addHost(t, hostSpec{name: n, updates: []patchbay.Update{secUpdate("openssl"), plainUpdate("tzdata")}})
	}
	d := f.addRollout(t, "november-patch")
	path := fmt.Sprintf("/rollouts/%d", d.Rollout.ID)
	b := f.browser(t)
	b.signIn()

	r := b.get("/rollouts")
	if r.status != 200 {
		t.Fatalf("list: status %d:\n%s", r.status, r.body)
	}
	mustContain(t, r.body, `href="/rollouts" aria-current="page">Rollouts</a>`, `<a href="`+path+`">november-patch</a>`,
		`<span class="badge r-draft">draft</span>`, `<span class="badge h-pending">3 pending</span>`)

	r = b.get(path)
	if r.status != 200 {
		t.Fatalf("rollout: status %d:\n%s", r.status, r.body)
	}
	mustContain(t, r.body, "november-patch", `data-live="`+path+`/live"`, "<strong>canary</strong>", "gates web", "1 hosts",
		"6 packages on 3 hosts", "openssl", `<td class="ver">1.0-2</td>`, `<td class="ver">1.0-1</td>`, ">created<",
		`href="`+path+`/confirm/approve">Approve…</a>`, `href="`+path+`/confirm/abort">Abort…</a>`, `id="run-rows"`)
	if strings.Contains(r.body, "/confirm/start") {
		t.Error("a draft rollout offers Start")
	}

	// The confirm page: what the action does, a form with the CSRF token.
	r = b.get(path + "/confirm/approve")
	mustContain(t, r.body, "Approve rollout “november-patch”?", "freezes the plan", `action="`+path+`/approve"`, `name="confirm" value="yes"`)
	token := csrf(t, r.body)
	if r := b.get(path + "/confirm/start"); r.status != http.StatusConflict {
		t.Errorf("confirm start of a draft: status %d, want 409", r.status)
	}
	if r := b.get(path + "/confirm/explode"); r.status != http.StatusNotFound {
		t.Errorf("confirm an unknown action: status %d, want 404", r.status)
	}

	state := func() patchbay.RolloutState {
		t.Helper()
		d, err := f.svc.ShowRollout(f.admin, d.Rollout.ID)
		if err != nil {
			t.Fatal(err)
		}
		return d.Rollout.State
	}
	// Refused: without CSRF, with another token, without the confirmation.
	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
	}{
		{"no CSRF", url.Values{"confirm": {"yes"}}, http.StatusForbidden},
		{"forged CSRF", url.Values{"confirm": {"yes"}, "csrf": {"x" + token}}, http.StatusForbidden},
		{"not confirmed", url.Values{"csrf": {token}}, http.StatusBadRequest},
	} {
		if r := b.post(path+"/approve", tc.form); r.status != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, r.status, tc.status)
		}
	}
	if s := state(); s != patchbay.RolloutDraft {
		t.Fatalf("state %s after refused posts, want draft", s)
	}

	// Approve: done, recorded under the signed-in user, back to the page.
	r = b.post(path+"/approve", url.Values{"csrf": {token}, "confirm": {"yes"}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != path+"?done=approve" {
		t.Fatalf("approve: status %d to %q:\n%s", r.status, r.header.Get("Location"), r.body)
	}
	if s := state(); s != patchbay.RolloutApproved {
		t.Fatalf("state %s after approve", s)
	}
	r = b.get(path + "?done=approve")
	mustContain(t, r.body, "Approved: the plan is frozen.", `<span class="badge r-approved" id="rollout-state">approved</span>`,
		"<td class=\"wrap\">admin</td>\n      <td>approve</td>", `/confirm/start">Start…</a>`)
	if strings.Contains(r.body, "/confirm/approve") {
		t.Error("an approved rollout offers Approve")
	}
	// Approving twice is a conflict, not a crash.
	if r := b.post(path+"/approve", url.Values{"csrf": {token}, "confirm": {"yes"}}); r.status != http.StatusConflict {
		t.Errorf("approve twice: status %d, want 409", r.status)
	}

	// Start: the canary's host runs; the live endpoint says so.
	if r := b.post(path+"/start", url.Values{"csrf": {token}, "confirm": {"yes"}}); r.status != http.StatusSeeOther {
		t.Fatalf("start: status %d:\n%s", r.status, r.body)
	}
	r = b.get(path + "/live")
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Fatalf("live: status %d, %s", r.status, r.header.Get("Content-Type"))
	}
	var live struct {
		State       string `json:"state"`
		Status      string `json:"status"`
		HostsHTML   string `json:"hosts_html"`
		CountsHTML  string `json:"counts_html"`
		ActionsHTML string `json:"actions_html"`
	}
	if err := json.Unmarshal([]byte(r.body), &live); err != nil {
		t.Fatal(err)
	}
	if live.State != "running" || strings.Count(live.HostsHTML, `data-state="running"`) != 1 || strings.Count(live.HostsHTML, `data-state="pending"`) != 2 ||
		!strings.Contains(live.CountsHTML, "1 running") || !strings.Contains(live.ActionsHTML, "/confirm/pause") {
		t.Errorf("live after start: %+v", live)
	}

	for _, p := range []string{"/rollouts/999", "/rollouts/abc", "/rollouts/999/live"} {
		if r := b.get(p); r.status != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", p, r.status)
		}
	}
	if r := b.post(path+"/explode", url.Values{"csrf": {token}, "confirm": {"yes"}}); r.status != http.StatusNotFound {
		t.Errorf("unknown action: status %d, want 404", r.status)
	}
}

// failHost takes the running host's job as that host and reports it
// failed with steps.
func (f *fixture) failHost(t testing.TB, rolloutID int64, steps ...patchbay.StepResult) patchbay.HostRun {
	t.Helper()
	d, err := f.svc.ShowRollout(f.admin, rolloutID)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range d.Hosts {
		if h.State != patchbay.HostRunning {
			continue
		}
		hostCtx := patchbay.NewContext(t.Context(), patchbay.Principal{Kind: patchbay.PrincipalHost, HostID: h.HostID, Name: h.Hostname})
		poll, err := f.svc.PollJobs(hostCtx, 0)
		if err != nil || len(poll.Jobs) != 1 {
			t.Fatalf("jobs of %s: %+v, %v", h.Hostname, poll.Jobs, err)
		}
		if err := f.svc.PostJobResult(hostCtx, poll.Jobs[0].ID, patchbay.JobResult{JobID: poll.Jobs[0].ID, Action: patchbay.JobInstall,
			Status: patchbay.JobFailed, Reason: "dpkg: error processing package openssl (--configure)", Steps: steps, StartedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		return h
	}
	t.Fatal("no host is running")
	return patchbay.HostRun{}
}

func TestRolloutHostActionsAndFailures(t *testing.T) {
	f := newFixture(t)
	for _, n := range []string{"web1", "web2", "web3"} {
		f.addHost(t, hostSpec{name: n, updates: []patchbay.Update{secUpdate("openssl")}})
	}
	d, err := f.svc.CreateRollout(f.admin, patchbay.Rollout{Name: "one-by-one", Policy: patchbay.PolicyAll,
		Rings: []patchbay.Ring{{Name: "all", Percent: 100, MaxConcurrency: 1}}, Budget: patchbay.FailureBudget{Count: 2}})
	if err != nil {
		t.Fatal(err)
	}
	id := d.Rollout.ID
	path := fmt.Sprintf("/rollouts/%d", id)
	for _, a := range []service.RolloutAction{service.ActionApprove, service.ActionStart} {
		if _, err := f.svc.ActOnRollout(f.admin, id, a); err != nil {
			t.Fatal(err)
		}
	}
	big := "Preparing to unpack .../openssl_1.0-2_amd64.deb ...\n" + strings.Repeat("é", 10_000) + "\n<script>alert(1)</script>\ndpkg: error processing package openssl (--configure):\n installed openssl package post-installation script subprocess returned error exit status 1\n"
	failed := f.failHost(t, id,
		patchbay.StepResult{Name: "refresh", Status: patchbay.JobSucceeded, Output: "Hit:1 http://deb.debian.org/debian bookworm InRelease"},
		patchbay.StepResult{Name: "install", Status: patchbay.JobFailed, Message: "apt-get install exited with status 100", Output: big})
	if err := f.svc.Tick(f.admin, id); err != nil {
		t.Fatal(err)
	}
	b := f.browser(t)
	b.signIn()

	r := b.get(path)
	row := func(host patchbay.HostRun) string {
		i := strings.Index(r.body, fmt.Sprintf(`<tr id="run-%d"`, host.HostID))
		if i < 0 {
			t.Fatalf("no row of %s", host.Hostname)
		}
		return r.body[i : i+strings.Index(r.body[i:], "</tr>")]
	}
	base := fmt.Sprintf("%s/hosts/%d", path, failed.HostID)
	mustContain(t, row(failed), `href="`+base+`/confirm/retry"`, `href="`+base+`/confirm/skip"`)
	d, _ = f.svc.ShowRollout(f.admin, id)
	var running, pending patchbay.HostRun
	for _, h := range d.Hosts {
		switch h.State {
		case patchbay.HostRunning:
			running = h
		case patchbay.HostPending:
			pending = h
		}
	}
	if running.HostID == 0 || pending.HostID == 0 {
		t.Fatalf("hosts after the failure: %+v", d.Hosts)
	}
	if strings.Contains(row(running), "/confirm/") {
		t.Error("a running host offers an action")
	}
	if got := row(pending); !strings.Contains(got, "/confirm/skip") || strings.Contains(got, "/confirm/retry") {
		t.Errorf("a pending host's actions: %s", got)
	}
	// The failure: reason, each step, the output escaped and cut to its tail.
	mustContain(t, r.body, fmt.Sprintf(`<details class="failure" id="failure-%d">`, failed.HostID),
		"apt-get install exited with status 100", "Hit:1 http://deb.debian.org/debian bookworm InRelease",
		"&lt;script&gt;alert(1)&lt;/script&gt;", "post-installation script subprocess returned error exit status 1",
		"bytes are not shown", "dpkg: error processing package openssl (--configure)")
	if strings.Contains(r.body, "<script>alert") || strings.Contains(r.body, "Preparing to unpack") {
		t.Error("the output is not escaped, or not cut to its tail")
	}
	if !utf8.ValidString(r.body) {
		t.Error("the cut output is not valid UTF-8")
	}

	// The confirm page, and what it refuses.
	r = b.get(base + "/confirm/retry")
	mustContain(t, r.body, "Retry host “"+failed.Hostname+"” of rollout “one-by-one”?", "<strong>failed</strong>", `action="`+base+`/retry"`)
	token := csrf(t, r.body)
	for p, status := range map[string]int{
		fmt.Sprintf("%s/hosts/%d/confirm/retry", path, pending.HostID):    http.StatusConflict,
		fmt.Sprintf("%s/hosts/%d/confirm/skip", path, running.HostID):     http.StatusConflict,
		base + "/confirm/explode":                                         http.StatusNotFound,
		path + "/hosts/99999/confirm/skip":                                http.StatusNotFound,
		path + "/hosts/web1/confirm/skip":                                 http.StatusNotFound,
		fmt.Sprintf("/rollouts/999/hosts/%d/confirm/skip", failed.HostID): http.StatusNotFound,
	} {
		if r := b.get(p); r.status != status {
			t.Errorf("%s: status %d, want %d", p, r.status, status)
		}
	}
	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
	}{
		{"no CSRF", url.Values{"confirm": {"yes"}}, http.StatusForbidden},
		{"not confirmed", url.Values{"csrf": {token}}, http.StatusBadRequest},
	} {
		if r := b.post(base+"/retry", tc.form); r.status != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, r.status, tc.status)
		}
	}
	if r := b.post(base+"/explode", url.Values{"csrf": {token}, "confirm": {"yes"}}); r.status != http.StatusNotFound {
		t.Errorf("unknown host action: status %d", r.status)
	}
	states := func() map[int64]patchbay.HostRun {
		t.Helper()
		d, err := f.svc.ShowRollout(f.admin, id)
		if err != nil {
			t.Fatal(err)
		}
		m := map[int64]patchbay.HostRun{}
		for _, h := range d.Hosts {
			m[h.HostID] = h
		}
		return m
	}
	if h := states()[failed.HostID]; h.State != patchbay.HostFailed {
		t.Fatalf("%s is %s after refused posts", h.Hostname, h.State)
	}

	// Retry the failed host, skip the pending one: done and recorded.
	r = b.post(base+"/retry", url.Values{"csrf": {token}, "confirm": {"yes"}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != path+"?done=retry#hosts" {
		t.Fatalf("retry: status %d to %q:\n%s", r.status, r.header.Get("Location"), r.body)
	}
	if r := b.post(fmt.Sprintf("%s/hosts/%d/skip", path, pending.HostID), url.Values{"csrf": {token}, "confirm": {"yes"}}); r.status != http.StatusSeeOther {
		t.Fatalf("skip: status %d:\n%s", r.status, r.body)
	}
	if r := b.post(fmt.Sprintf("%s/hosts/%d/skip", path, pending.HostID), url.Values{"csrf": {token}, "confirm": {"yes"}}); r.status != http.StatusConflict {
		t.Errorf("skip twice: status %d, want 409", r.status)
	}
	st := states()
	if st[failed.HostID].State != patchbay.HostPending || st[pending.HostID].State != patchbay.HostSkipped || st[pending.HostID].Reason != "skipped by admin" {
		t.Errorf("after retry and skip: %+v", st)
	}
	r = b.get(path + "?done=retry")
	mustContain(t, r.body, "Retried: the host is pending again.", "No failed host.",
		"<td class=\"wrap\">admin</td>\n      <td>retry</td>", "<td class=\"wrap\">admin</td>\n      <td>skip</td>")

	// The live endpoint carries the failures section too.
	f.failHost(t, id, patchbay.StepResult{Name: "install", Status: patchbay.JobFailed, Output: "E: Sub-process /usr/bin/dpkg returned an error code (1)"})
	var live struct {
		FailuresHTML string `json:"failures_html"`
	}
	if err := json.Unmarshal([]byte(b.get(path+"/live").body), &live); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(live.FailuresHTML, "E: Sub-process /usr/bin/dpkg returned an error code (1)") {
		t.Errorf("live failures: %s", live.FailuresHTML)
	}
}
