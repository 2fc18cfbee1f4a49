package ui_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/patchbay/patchbay"
)

// screenshotDir is where the browser test saves its screenshots; CI keeps
// the folder as an artifact (docs/ui.md describes the pictures).
var screenshotDir = filepath.Join("..", "..", "ci-artifacts", "screenshots")

// chromium returns the path of Debian's chromium. Without it the browser
// test skips, loudly, except in CI (PATCHBAY_CI=1), where it fails.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "chromium is not installed (apt-get install -y chromium): the browser tests of the web UI did NOT run"
	if os.Getenv("PATCHBAY_CI") == "1" {
		t.Fatal(msg)
	}
	t.Skip("SKIP: " + msg)
	return ""
}

// newChrome starts a headless Chromium with a fresh profile, with the
// flags that work on a closed network.
func newChrome(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		// The test server's certificate is httptest's own.
		chromedp.Flag("ignore-certificate-errors", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	// The first action starts the browser, tied to this context; later
	// actions may then use shorter-lived child contexts.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// waitJS polls a JavaScript condition until it is true.
func waitJS(t *testing.T, ctx context.Context, what, cond string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cond))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 2000) : ""`))
			t.Fatalf("waiting for %s (%s): timed out (err %v); page text:\n%s", what, cond, err, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func js[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// do runs steps, each query waiting at most 15 s for its element.
func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, steps...); err != nil {
		t.Fatal(err)
	}
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	// Under load the page may still be loading or not laid out yet.
	waitJS(t, ctx, "the page laid out for "+name, `document.readyState === "complete" && document.documentElement.getBoundingClientRect().width > 0`, 10*time.Second)
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.MkdirAll(screenshotDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(screenshotDir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// noSideScroll fails unless the page fits the viewport's width: long
// hostnames and big tables must wrap or scroll inside their card.
func noSideScroll(t *testing.T, ctx context.Context, where string) {
	t.Helper()
	w := js[[]int](t, ctx, `[document.documentElement.scrollWidth, window.innerWidth]`)
	if w[0] > w[1] {
		t.Errorf("%s: page is %d px wide in a %d px viewport", where, w[0], w[1])
	}
}

// TestBrowser drives the UI in headless Chromium: sign in, the dashboard,
// filtering hosts, a host page with its timeline, a live change of that
// page while it is open, the vulnerability pages, a rollout approved and
// started with its buttons and a host's state changing live on its page, a
// form post without its CSRF token, the phone layout, and signing out. It saves screenshots of the main pages.
func TestBrowser(t *testing.T) {
	ctx := newChrome(t)
	f := newFixture(t)
	f.clock.set(time.Now().UTC().Add(-2 * time.Hour))
	f.addHost(t, hostSpec{name: "legacy-db", os: "ubuntu"}) // stale
	f.clock.set(time.Time{})                                // the real clock from here: the open page polls in real time
	var sec []patchbay.Update
	for _, n := range []string{"openssl", "libssl3", "openssh-server", "libc6", "curl"} {
		sec = append(sec, secUpdate(n))
	}
	big := f.addHost(t, hostSpec{name: "db-primary", packages: 3000, reboot: true, updates: append(sec, plainUpdate("tzdata")),
		assets: map[string]string{"owner": "data-team", "environment": "prod", "role": "postgres", "criticality": "high", "location": "fra1/rack-b4"}})
	f.addHost(t, hostSpec{name: "web-1", updates: sec[:2], assets: map[string]string{"environment": "prod", "team": "web"}})
	f.addHost(t, hostSpec{name: "web-2", updates: sec[:1], assets: map[string]string{"environment": "prod", "team": "web"}})
	f.addHost(t, hostSpec{name: "web-3", assets: map[string]string{"environment": "staging", "team": "web"}})
	long := "ci-runner-" + strings.Repeat("x", 40) + ".build.eu-central-1.compute.internal.example.com"
	f.addHost(t, hostSpec{name: long, updates: sec[:3], reboot: true})

	base := f.srv.URL
	t.Run("sign in", func(t *testing.T) {
		do(t, ctx, chromedp.Navigate(base+"/"))
		waitJS(t, ctx, "the sign-in form", `location.pathname === "/login" && !!document.querySelector("#password")`, 10*time.Second)
		screenshot(t, ctx, "login.png")
		do(t, ctx,
			chromedp.SetValue("#username", "admin"),
			chromedp.SendKeys("#password", f.password),
			chromedp.Submit("#password"))
		waitJS(t, ctx, "the dashboard", `document.readyState !== "loading" && document.querySelector("h1") && document.querySelector("h1").textContent === "Dashboard"`, 10*time.Second)
	})

	t.Run("dashboard", func(t *testing.T) {
		text := js[string](t, ctx, `document.querySelector(".tiles").innerText`)
		for _, want := range []string{"6\nhosts", "5\nactive", "1\nstale", "4\nwith security updates", "2\nneed a reboot"} {
			if !strings.Contains(text, want) {
				t.Errorf("tiles lack %q:\n%s", want, text)
			}
		}
		if n := js[int](t, ctx, `document.querySelectorAll("svg.chart rect.bar-security").length`); n != 4 {
			t.Errorf("security chart has %d bars, want 4", n)
		}
		noSideScroll(t, ctx, "dashboard")
		screenshot(t, ctx, "dashboard.png")
	})

	t.Run("filter hosts", func(t *testing.T) {
		do(t, ctx, chromedp.Click(`nav a[href="/hosts"]`))
		waitJS(t, ctx, "the host list", `location.pathname === "/hosts" && !!document.querySelector("#f-q")`, 10*time.Second)
		screenshot(t, ctx, "hosts.png")
		do(t, ctx,
			chromedp.SendKeys("#f-q", "web"),
			chromedp.Click(`input[name="security"]`),
			chromedp.Click(`.filters button[type="submit"]`))
		waitJS(t, ctx, "the filtered list", `location.search.includes("q=web") && location.search.includes("security=1") && document.readyState === "complete" && document.querySelectorAll("td.name a").length > 0`, 10*time.Second)
		names := js[[]string](t, ctx, `[...document.querySelectorAll("td.name a")].map(a => a.textContent)`)
		if strings.Join(names, ",") != "web-1,web-2" {
			t.Errorf("filtered hosts = %v, want web-1, web-2", names)
		}
		screenshot(t, ctx, "hosts-filtered.png")
		// Sort by security updates, most first, by the column header.
		do(t, ctx, chromedp.Navigate(base+"/hosts"), chromedp.Click(`th a[href*="sort=security"]`))
		waitJS(t, ctx, "the sorted list", `location.search.includes("sort=security")`, 10*time.Second)
		do(t, ctx, chromedp.Click(`th a[href*="sort=security"]`))
		waitJS(t, ctx, "the reversed list", `location.search.includes("desc=1")`, 10*time.Second)
		names = js[[]string](t, ctx, `[...document.querySelectorAll("td.name a")].map(a => a.textContent)`)
		if len(names) != 6 || names[0] != "db-primary" || names[1] != long {
			t.Errorf("hosts by security updates = %v, want db-primary, then the long name", names)
		}
		noSideScroll(t, ctx, "host list")
	})

	hostURL := fmt.Sprintf("%s/hosts/%d", base, big.ID)
	t.Run("host page and timeline", func(t *testing.T) {
		do(t, ctx, chromedp.Click(`td.name a[href="/hosts/`+fmt.Sprint(big.ID)+`"]`))
		waitJS(t, ctx, "the host page", `location.pathname === "/hosts/`+fmt.Sprint(big.ID)+`" && !!document.querySelector("#timeline-rows")`, 10*time.Second)
		if got := js[string](t, ctx, `document.querySelector("#timeline-rows").innerText`); !strings.Contains(got, "first inventory") {
			t.Errorf("timeline = %q, want the first inventory", got)
		}
		if n := js[int](t, ctx, `document.querySelectorAll("#updates tr.sec").length`); n != 5 {
			t.Errorf("%d security updates marked, want 5", n)
		}
		noSideScroll(t, ctx, "host page")
		screenshot(t, ctx, "host.png")
		do(t, ctx, chromedp.SendKeys("#pkg", "pkg29"), chromedp.Submit("#pkg"))
		// The new URL shows before its page has been parsed: wait for the rows.
		waitJS(t, ctx, "the package search", `location.search.includes("pkg=pkg29") && document.readyState !== "loading" && document.querySelectorAll("#packages tbody tr").length > 0`, 10*time.Second)
		if n := js[int](t, ctx, `document.querySelectorAll("#packages tbody tr").length`); n != 100 {
			t.Errorf("search pkg29 shows %d packages, want 100", n)
		}
	})

	t.Run("timeline updates live", func(t *testing.T) {
		do(t, ctx, chromedp.Navigate(hostURL))
		waitJS(t, ctx, "the host page", `!!document.querySelector("#last-seen")`, 10*time.Second)
		seen := js[string](t, ctx, `document.querySelector("#last-seen").getAttribute("datetime")`)
		time.Sleep(1100 * time.Millisecond) // last-seen is shown to the second
		// The host installs a package and reports, while the page is open.
		inv := inventoryFor(big.MachineID, hostSpec{name: "db-primary", packages: 3001, reboot: true, updates: append(sec, plainUpdate("tzdata"))})
		f.report(t, reenrol(t, f, big), inv)
		waitJS(t, ctx, "the new event on the open page",
			`document.querySelector("#timeline-rows").innerText.includes("installed pkg3000 1.0-1")`, 30*time.Second)
		if now := js[string](t, ctx, `document.querySelector("#last-seen").getAttribute("datetime")`); now == seen {
			t.Errorf("last-seen still %s after the report", now)
		}
		screenshot(t, ctx, "host-live.png")
	})

	t.Run("edit assets", func(t *testing.T) {
		do(t, ctx, chromedp.Navigate(hostURL), chromedp.Clear("#a-owner"), chromedp.SendKeys("#a-owner", "platform-team"),
			chromedp.Click(`#assets button[type="submit"]`))
		waitJS(t, ctx, "the saved page", `location.search.includes("saved=1") && document.querySelector("#a-owner").value === "platform-team"`, 10*time.Second)
	})

	t.Run("form post without CSRF token is refused", func(t *testing.T) {
		do(t, ctx, chromedp.Navigate(hostURL))
		waitJS(t, ctx, "the host page", `!!document.querySelector("#assets form")`, 10*time.Second)
		js[bool](t, ctx, `(() => { const f = document.querySelector("#assets form"); f.querySelector('[name="csrf"]').remove();
			f.querySelector("#a-owner").value = "mallory"; f.submit(); return true })()`)
		waitJS(t, ctx, "the refusal", `document.querySelector("h1") && document.querySelector("h1").textContent.startsWith("403")`, 10*time.Second)
		h, err := f.svc.Host(f.admin, fmt.Sprint(big.ID))
		if err != nil {
			t.Fatal(err)
		}
		if h.Assets.Owner != "platform-team" {
			t.Errorf("owner = %q after a refused post", h.Assets.Owner)
		}
		screenshot(t, ctx, "csrf-refused.png")
	})

	t.Run("vulnerabilities", func(t *testing.T) {
		f.addVulns(t)
		do(t, ctx, chromedp.Navigate(base+"/"), chromedp.Click(`nav a[href="/vulns"]`))
		waitJS(t, ctx, "the vulnerability list", `location.pathname === "/vulns" && !!document.querySelector("table.vulns")`, 10*time.Second)
		ids := js[[]string](t, ctx, `[...document.querySelectorAll("table.vulns td.name a")].map(a => a.textContent)`)
		if strings.Join(ids, ",") != "CVE-2099-0001,DSA-9003-1,CVE-2099-0002" {
			t.Errorf("vulnerabilities = %v, want the KEV one first, then by severity", ids)
		}
		noSideScroll(t, ctx, "vulnerability list")
		screenshot(t, ctx, "vulns.png")
		do(t, ctx, chromedp.Click(`input[name="kev"]`), chromedp.Click(`.filters button[type="submit"]`))
		waitJS(t, ctx, "the KEV filter", `location.search.includes("kev=1") && document.querySelectorAll("table.vulns tbody tr").length === 1`, 10*time.Second)
		do(t, ctx, chromedp.Click(`table.vulns td.name a`))
		waitJS(t, ctx, "the CVE page", `location.pathname === "/vulns/CVE-2099-0001" && !!document.querySelector("table.findings")`, 10*time.Second)
		// The Debian hosts but db-primary, whose last inventory (posted
		// above) names no OS, so no ecosystem of advisories.
		if got := js[[]string](t, ctx, `[...document.querySelectorAll("table.findings td.name a")].map(a => a.textContent)`); strings.Join(got, ",") != long+",web-1,web-2,web-3" {
			t.Errorf("CVE-2099-0001 affects %v on its page, want the long-named host and web-1…3", got)
		}
		noSideScroll(t, ctx, "CVE page")
		screenshot(t, ctx, "vuln.png")
		// The SLA report, from the list's link: the findings are new, so
		// none is overdue yet.
		do(t, ctx, chromedp.Navigate(base+"/vulns"), chromedp.Click(`#sla-link`))
		waitJS(t, ctx, "the SLA report", `location.pathname === "/reports/sla" && !!document.querySelector("table#sla-open")`, 10*time.Second)
		if got := js[string](t, ctx, `document.querySelector("#compliance strong").textContent`); got != "100.0%" {
			t.Errorf("compliance of fresh findings: %s", got)
		}
		noSideScroll(t, ctx, "SLA report")
		screenshot(t, ctx, "sla.png")
	})

	var rolloutID int64
	t.Run("rollout: created with the form", func(t *testing.T) {
		do(t, ctx, chromedp.Navigate(base+"/"), chromedp.Click(`nav a[href="/rollouts"]`))
		waitJS(t, ctx, "the rollout list", `location.pathname === "/rollouts" && !!document.querySelector("#new")`, 10*time.Second)
		do(t, ctx, chromedp.Click(`#new`))
		waitJS(t, ctx, "the new-rollout form", `location.pathname === "/rollouts/new" && document.readyState !== "loading" && !!document.querySelector("#r-rings")`, 10*time.Second)
		// A ring with a typo: refused, the form comes back as it was typed.
		do(t, ctx,
			chromedp.SendKeys("#r-name", "web-security-2099-01"),
			chromedp.SetValue("#r-policy", "security"),
			chromedp.SendKeys("#r-target", "team=web"),
			chromedp.SetValue("#r-rings", "canary:count=1,canary\nwave:percent=100,concurency=2"),
			chromedp.SetValue("#r-budget", "1"))
		noSideScroll(t, ctx, "new-rollout form")
		screenshot(t, ctx, "rollout-new.png")
		do(t, ctx, chromedp.Click("#create"))
		waitJS(t, ctx, "the refused form", `document.readyState !== "loading" && !!document.querySelector("#form-error")`, 10*time.Second)
		if got := js[string](t, ctx, `document.querySelector("#form-error").textContent`); !strings.Contains(got, `unknown key "concurency"`) {
			t.Errorf("error = %q", got)
		}
		if got := js[[]string](t, ctx, `[document.querySelector("#r-name").value, document.querySelector("#r-policy").value, document.querySelector("#r-target").value, document.activeElement.id]`); strings.Join(got, "|") != "web-security-2099-01|security|team=web|r-rings" {
			t.Errorf("refused form kept %v, want the name, policy and target typed, and the rings focused", got)
		}
		screenshot(t, ctx, "rollout-new-refused.png")
		do(t, ctx, chromedp.SetValue("#r-rings", "canary:count=1,canary\nwave:percent=100,concurrency=2"), chromedp.Click("#create"))
		waitJS(t, ctx, "the created draft", `location.search === "?done=created" && document.readyState !== "loading" && !!document.querySelector("#run-rows")`, 10*time.Second)
		list, err := f.svc.ListRollouts(f.admin)
		if err != nil || len(list) != 1 {
			t.Fatalf("rollouts after the form: %+v, %v", list, err)
		}
		rolloutID = list[0].ID
		if r := list[0]; r.Policy != patchbay.PolicySecurity || r.Target.String() != "team=web" || len(r.Rings) != 2 || r.Rings[1].MaxConcurrency != 2 || r.Budget.Count != 1 {
			t.Errorf("created %+v", r)
		}
	})

	t.Run("rollout: approve, start, a host's state changes live", func(t *testing.T) {
		id := rolloutID
		if id == 0 {
			t.Fatal("no rollout was created")
		}
		do(t, ctx, chromedp.Navigate(base+"/"), chromedp.Click(`nav a[href="/rollouts"]`))
		waitJS(t, ctx, "the rollout list", `location.pathname === "/rollouts" && !!document.querySelector("table.rollouts")`, 10*time.Second)
		screenshot(t, ctx, "rollouts.png")
		do(t, ctx, chromedp.Click(fmt.Sprintf(`td.name a[href="/rollouts/%d"]`, id)))
		waitJS(t, ctx, "the rollout page", `!!document.querySelector("#run-rows")`, 10*time.Second)
		noSideScroll(t, ctx, "rollout page")
		screenshot(t, ctx, "rollout.png")

		press := func(action string) {
			t.Helper()
			do(t, ctx, chromedp.Click(`#actions a[href$="/confirm/`+action+`"]`))
			waitJS(t, ctx, "the confirm page of "+action, `!!document.querySelector("button#confirm")`, 10*time.Second)
			if action == "approve" {
				screenshot(t, ctx, "rollout-confirm.png")
			}
			do(t, ctx, chromedp.Click(`button#confirm`))
			// The new URL shows before its page has been parsed: wait for it.
			waitJS(t, ctx, action+" done", `location.search === "?done=`+action+`" && document.readyState !== "loading" && !!document.querySelector("#rollout-state")`, 10*time.Second)
		}
		press("approve")
		if got := js[string](t, ctx, `document.querySelector("#rollout-state").textContent`); got != "approved" {
			t.Errorf("state after approve = %q", got)
		}
		press("start")
		var canary patchbay.HostRun
		d, err := f.svc.ShowRollout(f.admin, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range d.Hosts {
			if h.Ring == 0 {
				canary = h
			}
		}
		row := fmt.Sprintf(`document.querySelector("#run-%d")`, canary.HostID)
		waitJS(t, ctx, "the canary running", row+`.dataset.state === "running"`, 10*time.Second)
		js[bool](t, ctx, `window.notReloaded = true`)

		// The canary's agent takes its job and reports success while the
		// page is open: its row changes without a reload.
		hostCtx := patchbay.NewContext(t.Context(), patchbay.Principal{Kind: patchbay.PrincipalHost, HostID: canary.HostID, Name: canary.Hostname})
		poll, err := f.svc.PollJobs(hostCtx, 0)
		if err != nil || len(poll.Jobs) != 1 {
			t.Fatalf("canary jobs: %+v, %v", poll.Jobs, err)
		}
		job := poll.Jobs[0]
		if err := f.svc.PostJobResult(hostCtx, job.ID, patchbay.JobResult{JobID: job.ID, Action: patchbay.JobInstall,
			Status: patchbay.JobSucceeded, StartedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		waitJS(t, ctx, "the canary succeeded on the open page", row+`.dataset.state === "succeeded" && window.notReloaded === true`, 15*time.Second)
		if got := js[string](t, ctx, `document.querySelector("#counts").innerText`); !strings.Contains(got, "1 succeeded") {
			t.Errorf("counts after the canary = %q", got)
		}
		screenshot(t, ctx, "rollout-live.png")

		// The wave's host fails with the package manager's output: the
		// Failures section shows it without a reload; Retry puts it back.
		if err := f.svc.Tick(f.admin, id); err != nil {
			t.Fatal(err)
		}
		failed := f.failHost(t, id,
			patchbay.StepResult{Name: "refresh", Status: patchbay.JobSucceeded, Output: "Hit:1 http://deb.debian.org/debian-security bookworm-security InRelease\nReading package lists..."},
			patchbay.StepResult{Name: "install", Status: patchbay.JobFailed, Message: "apt-get install exited with status 100",
				Output: "Setting up openssl (1.0-2) ...\ndpkg: error processing package openssl (--configure):\n installed openssl package post-installation script subprocess returned error exit status 1\nErrors were encountered while processing:\n openssl\nE: Sub-process /usr/bin/dpkg returned an error code (1)"})
		fail := fmt.Sprintf(`document.querySelector("#failure-%d")`, failed.HostID)
		waitJS(t, ctx, "the failure on the open page", fail+` !== null && window.notReloaded === true`, 15*time.Second)
		do(t, ctx, chromedp.Click(fmt.Sprintf(`#failure-%d summary`, failed.HostID)))
		if got := js[string](t, ctx, fail+`.innerText`); !strings.Contains(got, "E: Sub-process /usr/bin/dpkg returned an error code (1)") {
			t.Errorf("failure shows %q", got)
		}
		do(t, ctx, chromedp.ScrollIntoView("#failures-card"))
		screenshot(t, ctx, "rollout-failed.png")
		do(t, ctx, chromedp.Click(fmt.Sprintf(`#run-%d a[href$="/confirm/retry"]`, failed.HostID)))
		waitJS(t, ctx, "the retry confirm page", `!!document.querySelector("button#confirm")`, 10*time.Second)
		screenshot(t, ctx, "rollout-host-confirm.png")
		do(t, ctx, chromedp.Click(`button#confirm`))
		waitJS(t, ctx, "retry done", `location.search === "?done=retry" && document.readyState !== "loading" && !!document.querySelector("#run-rows")`, 10*time.Second)
		if got := js[string](t, ctx, fmt.Sprintf(`document.querySelector("#run-%d").dataset.state`, failed.HostID)); got != "pending" {
			t.Errorf("state after retry = %q, want pending", got)
		}
	})

	t.Run("dashboard: findings, trend, running rollouts", func(t *testing.T) {
		// A host that had findings for three weeks, fixed one a week ago,
		// gives the trend a shape.
		now := time.Now().UTC()
		f.clock.set(now.Add(-21 * 24 * time.Hour))
		app := f.addHost(t, hostSpec{name: "app-legacy"})
		f.clock.set(now.Add(-7 * 24 * time.Hour))
		inv := inventoryFor(app.MachineID, hostSpec{name: "app-legacy", os: "debian", packages: 3})
		inv.Packages[0].Version, inv.Packages[0].SourceVersion = "1.0-2", "1.0-2"
		f.report(t, reenrol(t, f, app), inv)
		f.clock.set(time.Time{})
		do(t, ctx, chromedp.Navigate(base+"/"))
		waitJS(t, ctx, "the dashboard", `document.readyState !== "loading" && !!document.querySelector("#trend")`, 10*time.Second)
		if got := js[string](t, ctx, `document.querySelector(".kev-alert").innerText`); !strings.Contains(got, "known to be exploited") {
			t.Errorf("KEV alert = %q", got)
		}
		if n := js[int](t, ctx, `document.querySelectorAll("#trend circle.trend-dot").length`); n != 30 {
			t.Errorf("trend has %d points, want 30", n)
		}
		if got := js[string](t, ctx, `document.querySelector("#active-rollouts").innerText`); !strings.Contains(got, "web-security-2099-01") || !strings.Contains(got, "2 of 3 hosts done") {
			t.Errorf("running rollouts = %q", got)
		}
		noSideScroll(t, ctx, "dashboard with findings")
		screenshot(t, ctx, "dashboard-exposure.png")
	})

	t.Run("policies and exceptions", func(t *testing.T) {
		do(t, ctx, chromedp.Navigate(base+"/"), chromedp.Click(`nav a[href="/policies"]`))
		waitJS(t, ctx, "the policies page", `location.pathname === "/policies" && document.readyState !== "loading" && !!document.querySelector("#p-name")`, 10*time.Second)
		do(t, ctx,
			chromedp.SendKeys("#p-name", "web-baseline"),
			chromedp.SetValue("#p-class", "security"),
			chromedp.SetValue("#p-sev", "high"),
			chromedp.SetValue("#p-age", "2d"),
			chromedp.SendKeys("#p-reject", "linux-image-*"),
			chromedp.Click(`#new button[type="submit"]`))
		waitJS(t, ctx, "the new policy", `location.search === "?created=web-baseline" && document.readyState !== "loading"`, 10*time.Second)
		if got := js[[]string](t, ctx, `[...document.querySelectorAll("table.policies td.name")].map(td => td.textContent.trim())`); strings.Join(got, ",") != "all built in,security built in,web-baseline" {
			t.Errorf("policies = %v", got)
		}
		noSideScroll(t, ctx, "policies page")
		screenshot(t, ctx, "policies.png")

		do(t, ctx, chromedp.Click(`nav a[href="/exceptions"]`))
		waitJS(t, ctx, "the exceptions page", `location.pathname === "/exceptions" && document.readyState !== "loading" && !!document.querySelector("#x-value")`, 10*time.Second)
		expires := time.Now().UTC().AddDate(0, 0, 30).Format(time.DateOnly)
		do(t, ctx,
			chromedp.Click(`input[name="scope"][value="selector"]`),
			chromedp.SendKeys("#x-sel", "team=web"),
			chromedp.Click(`input[name="target"][value="advisory"]`),
			chromedp.SendKeys("#x-value", "CVE-2099-0001"),
			chromedp.SendKeys("#x-reason", "mitigated by the WAF until the vendor fix"),
			chromedp.SendKeys("#x-owner", "team-web"),
			chromedp.SetValue("#x-exp", expires),
			chromedp.Click(`#new button[type="submit"]`))
		waitJS(t, ctx, "the granted exception", `location.search.startsWith("?created=") && !!document.querySelector("table.exceptions")`, 10*time.Second)
		if got := js[string](t, ctx, `document.querySelector("table.exceptions tbody tr").innerText`); !strings.Contains(got, "advisory CVE-2099-0001") || !strings.Contains(got, "team=web") || !strings.Contains(got, "active") {
			t.Errorf("exception row = %q", got)
		}
		noSideScroll(t, ctx, "exceptions page")
		screenshot(t, ctx, "exceptions.png")
		// The findings it covers are marked on the CVE page.
		do(t, ctx, chromedp.Navigate(base+"/vulns/CVE-2099-0001"))
		waitJS(t, ctx, "the CVE page", `!!document.querySelector("table.findings")`, 10*time.Second)
		if n := js[int](t, ctx, `document.querySelectorAll("table.findings a.badge.excepted").length`); n == 0 {
			t.Error("no finding of CVE-2099-0001 is marked excepted")
		}
		screenshot(t, ctx, "vuln-excepted.png")
	})

	t.Run("phone", func(t *testing.T) {
		do(t, ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
		do(t, ctx, chromedp.Navigate(base+"/"))
		waitJS(t, ctx, "the dashboard", `!!document.querySelector(".tiles")`, 10*time.Second)
		noSideScroll(t, ctx, "dashboard on a phone")
		screenshot(t, ctx, "phone-dashboard.png")
		do(t, ctx, chromedp.Navigate(base+"/rollouts/new"))
		waitJS(t, ctx, "the new-rollout form", `!!document.querySelector("#r-rings")`, 10*time.Second)
		noSideScroll(t, ctx, "new-rollout form on a phone")
		screenshot(t, ctx, "phone-rollout-new.png")
		do(t, ctx, chromedp.Navigate(fmt.Sprintf("%s/rollouts/%d", base, rolloutID)))
		waitJS(t, ctx, "the rollout page", `!!document.querySelector("#run-rows")`, 10*time.Second)
		noSideScroll(t, ctx, "rollout page on a phone")
		do(t, ctx, chromedp.Navigate(base+"/hosts"))
		waitJS(t, ctx, "the host list", `!!document.querySelector("table.hosts")`, 10*time.Second)
		noSideScroll(t, ctx, "host list on a phone")
		screenshot(t, ctx, "phone-hosts.png")
		do(t, ctx, chromedp.Navigate(fmt.Sprintf("%s/hosts/%d", base, big.ID)))
		waitJS(t, ctx, "the host page", `!!document.querySelector("#timeline-rows")`, 10*time.Second)
		noSideScroll(t, ctx, "host page on a phone")
		do(t, ctx, chromedp.ResetViewport())
	})

	t.Run("keyboard", func(t *testing.T) {
		// The first Tab reaches the skip link, which jumps to the content.
		do(t, ctx, chromedp.Navigate(base+"/hosts"))
		waitJS(t, ctx, "the host list", `!!document.querySelector("#f-q")`, 10*time.Second)
		do(t, ctx, chromedp.KeyEvent("\t"))
		if got := js[string](t, ctx, `document.activeElement.textContent`); got != "Skip to content" {
			t.Errorf("first Tab focuses %q, want the skip link", got)
		}
	})

	t.Run("sign out", func(t *testing.T) {
		do(t, ctx, chromedp.Navigate(base+"/"), chromedp.Click(`.signout button`))
		waitJS(t, ctx, "the sign-in page", `location.pathname === "/login"`, 10*time.Second)
		do(t, ctx, chromedp.Navigate(base+"/hosts"))
		waitJS(t, ctx, "the sign-in page again", `location.pathname === "/login" && !!document.querySelector("#password")`, 10*time.Second)
	})
}
