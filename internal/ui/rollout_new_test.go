package ui_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay"
)

func TestNewRolloutForm(t *testing.T) {
	f := newFixture(t)
	for _, n := range []string{"web1", "web2", "db1"} {
		env := "prod"
		if n == "db1" {
			env = "staging"
		}
		f.addHost(t, hostSpec{name: n, updates: []patchbay.Update{secUpdate("openssl"), plainUpdate("tzdata")}, assets: map[string]string{"environment": env}})
	}
	b := f.browser(t)
	b.signIn()

	r := b.get("/rollouts")
	mustContain(t, r.body, `<a class="button" href="/rollouts/new" id="new">New rollout…</a>`)
	r = b.get("/rollouts/new")
	if r.status != 200 {
		t.Fatalf("form: status %d:\n%s", r.status, r.body)
	}
	mustContain(t, r.body, `action="/rollouts"`, `<option value="all" selected>`, `<option value="security">`,
		"canary:count=1,canary\nrest:percent=100,concurrency=2</textarea>", `name="host_timeout" value="2h"`, `name="budget" value="0"`,
		`<input type="checkbox" id="r-no-catch-up" name="no_catch_up" value="1"> no catch-up`,
		`<option value="if-required" selected>if-required</option><option value="never">never</option><option value="always">always</option>`,
		`name="reboot_timeout" value="15m"`, `<input type="checkbox" id="r-restart" name="restart_services" value="1"> restart services`)
	token := csrf(t, r.body)

	good := url.Values{"csrf": {token}, "name": {"prod security"}, "policy": {"security"}, "target": {"env=prod"},
		"rings":  {"canary:count=1,canary,gates=web\n\n# the rest, two at a time\n--ring 'rest:percent=100,concurrency=2,bake=10m'"},
		"budget": {"10%"}, "host_timeout": {"90m"}, "cron": {"0 22 8-14 * 2"}, "duration": {"4h"}, "tz": {"Europe/London"}, "offset": {"4"},
		"no_catch_up": {"1"}, "reboot": {"always"}, "reboot_timeout": {"20m"}, "restart_services": {"1"}}
	with := func(k, v string) url.Values {
		form := url.Values{}
		for key, vs := range good {
			form[key] = vs
		}
		form.Set(k, v)
		return form
	}
	rollouts := func() int {
		t.Helper()
		list, err := f.svc.ListRollouts(f.admin)
		if err != nil {
			t.Fatal(err)
		}
		return len(list)
	}

	// Refused: the form comes back with its values and the reason.
	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
		want   []string
	}{
		{"no CSRF", with("csrf", ""), http.StatusForbidden, []string{"no valid CSRF token"}},
		{"no name", with("name", " "), http.StatusBadRequest, []string{"a rollout needs a name", `id="r-name" name="name" value="" maxlength="200" required aria-invalid="true"`}},
		{"bad ring", with("rings", "canary:count=1\nrest:size=3"), http.StatusBadRequest,
			[]string{`ring rest: unknown key &#34;size&#34;`, "canary:count=1\nrest:size=3</textarea>", `name="target" value="env=prod"`, `name="cron" value="0 22 8-14 * 2"`}},
		{"no ring", with("rings", "# nothing\n"), http.StatusBadRequest, []string{"give at least one ring"}},
		{"two rings of one name", with("rings", "a:count=1\na:percent=100"), http.StatusBadRequest, []string{"ring 2: name &#34;a&#34; is used twice"}},
		{"unknown policy", with("policy", "everything"), http.StatusBadRequest, []string{`unknown policy &#34;everything&#34;`}},
		{"bad target", with("target", "env"), http.StatusBadRequest, []string{`selector &#34;env&#34;: want key=value`}},
		{"target matches nothing", with("target", "env=nowhere"), http.StatusBadRequest, []string{`target &#34;env=nowhere&#34; matches no host`}},
		{"bad budget", with("budget", "many"), http.StatusBadRequest, []string{`budget &#34;many&#34;: want a count or N%`, `name="budget" value="many"`}},
		{"bad timeout", with("host_timeout", "soon"), http.StatusBadRequest, []string{`host timeout: duration &#34;soon&#34;`}},
		{"bad reboot policy", with("reboot", "sometimes"), http.StatusBadRequest,
			[]string{`reboot &#34;sometimes&#34;: want never, if-required or always`, `id="r-reboot" name="reboot" aria-invalid="true"`}},
		{"bad reboot timeout", with("reboot_timeout", "later"), http.StatusBadRequest,
			[]string{`reboot timeout: duration &#34;later&#34;`, `name="reboot_timeout" value="later"`}},
		{"window without cron", with("cron", ""), http.StatusBadRequest, []string{"a cron expression is required"}},
		{"bad cron", with("cron", "at ten"), http.StatusBadRequest, []string{`maintenance window: cron expression &#34;at ten&#34;`, `name="cron" value="at ten"`}},
		{"bad time zone", with("tz", "Mars/Olympus"), http.StatusBadRequest, []string{`maintenance window: unknown time zone &#34;Mars/Olympus&#34;`}},
		{"markup is text", with("name", `<script>alert(1)</script>`+strings.Repeat("x", 200)), http.StatusBadRequest,
			[]string{"at most 200 characters", `value="&lt;script&gt;alert(1)&lt;/script&gt;xxx`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := b.post("/rollouts", tc.form)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d:\n%s", r.status, tc.status, r.body)
			}
			mustContain(t, r.body, tc.want...)
			if strings.Contains(r.body, "<script>alert") {
				t.Error("the name is not escaped")
			}
			if n := rollouts(); n != 0 {
				t.Errorf("%d rollouts after a refused form", n)
			}
		})
	}

	// Accepted: a draft, and its page with the plan.
	r = b.post("/rollouts", good)
	if r.status != http.StatusSeeOther || !strings.HasSuffix(r.header.Get("Location"), "?done=created") {
		t.Fatalf("create: status %d to %q:\n%s", r.status, r.header.Get("Location"), r.body)
	}
	list, err := f.svc.ListRollouts(f.admin)
	if err != nil || len(list) != 1 {
		t.Fatalf("rollouts %+v, %v", list, err)
	}
	got := list[0]
	want := patchbay.Rollout{ID: got.ID, Name: "prod security", Policy: patchbay.PolicySecurity, Target: patchbay.Selector{"env": "prod"},
		State: patchbay.RolloutDraft, CreatedAt: got.CreatedAt,
		Rings: []patchbay.Ring{{Name: "canary", Count: 1, MaxConcurrency: 1, HealthGates: []string{"web"}, Canary: true},
			{Name: "rest", Percent: 100, MaxConcurrency: 2, BakeTime: 10 * time.Minute}},
		Budget: patchbay.FailureBudget{Percent: 10}, HostTimeout: 90 * time.Minute, NoCatchUp: true,
		Reboot: patchbay.RebootAlways, RebootTimeout: 20 * time.Minute, RestartServices: true,
		Window: &patchbay.Window{Cron: "0 22 8-14 * 2", Duration: 4 * time.Hour, TimeZone: "Europe/London", DayOffset: 4}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("created rollout (-want +got):\n%s", diff)
	}
	if r.header.Get("Location") != fmt.Sprintf("/rollouts/%d?done=created", got.ID) {
		t.Errorf("sent to %q", r.header.Get("Location"))
	}
	r = b.get(r.header.Get("Location"))
	mustContain(t, r.body, "Created as a draft. Check the plan below, then approve it.", "prod security",
		"2 packages on 2 hosts", `<td class="ver">1.0-2</td>`, "/confirm/approve",
		`<dd id="reboot-policy">always, back within 20m0s; hosts not rebooted restart services using replaced libraries</dd>`,
		`<dd id="catch-up">stay missed (no catch-up)</dd>`)
	if strings.Contains(r.body, "tzdata") || strings.Contains(r.body, ">db1<") {
		t.Error("the plan of a security rollout of env=prod has tzdata or db1")
	}
}
