package ui_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/patchbay/patchbay"
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
