package job_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/agent/check"
	"github.com/patchbay/patchbay/internal/agent/job"
	"github.com/patchbay/patchbay/internal/lab"
	"github.com/patchbay/patchbay/internal/lab/labtest"
	"github.com/patchbay/patchbay/internal/pkgmgr/deb"
)

// TestLabJobs runs install jobs with real apt and dpkg inside lab hosts:
// deb.New("/", host) executes every command in the host.
func TestLabJobs(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIPPED: lab test (real apt in lab hosts); not run with -short")
	}
	l := labtest.New(t, lab.Options{Hosts: 4})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	repo := l.Repo()

	executor := func(t *testing.T, h *lab.Host, dir string, checks ...check.Spec) *job.Executor {
		t.Helper()
		m := deb.New("/", h, deb.WithLockTimeout(30*time.Second))
		e, err := job.New(job.Config{Dir: dir, Manager: m, Installer: m, Checks: check.New(check.Config{Checks: checks}, h, nil)})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	installed := func(t *testing.T, h *lab.Host, names ...string) map[string]string {
		t.Helper()
		res, err := h.Exec(ctx, append([]string{"dpkg-query", "-W", "-f", "${Package} ${Version} ${db:Status-Abbrev}\n"}, names...)...)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(string(res.Stdout)), "\n") {
			f := strings.Fields(line)
			if len(f) == 3 && f[2] == "ii" {
				got[f[0]] = f[1]
			} else if len(f) >= 2 {
				got[f[0]] = f[1] + " (" + strings.Join(f[2:], " ") + ")"
			}
		}
		return got
	}
	audit := func(t *testing.T, h *lab.Host) {
		t.Helper()
		res, err := h.Exec(ctx, "dpkg", "--audit")
		if err != nil || res.ExitCode != 0 || len(strings.TrimSpace(string(res.Stdout))) > 0 {
			t.Errorf("dpkg --audit: exit %d %v: %s", res.ExitCode, err, res.Stdout)
		}
	}
	run := func(t *testing.T, e *job.Executor, j patchbay.Job) patchbay.JobResult {
		t.Helper()
		start := time.Now()
		res, err := e.Run(ctx, j)
		if err != nil {
			t.Fatalf("job %s: %v", j.ID, err)
		}
		t.Logf("FIGURE job %s (%d packages): %s in %s", j.ID, len(j.Packages), res.Status, time.Since(start).Round(time.Millisecond))
		return res
	}
	dump := func(t *testing.T, res patchbay.JobResult) {
		t.Helper()
		for _, s := range res.Steps {
			t.Logf("step %s %s: %s\n%s", s.Name, s.Status, s.Message, s.Output)
		}
	}

	t.Run("security updates at exactly the planned versions", func(t *testing.T) {
		h := l.Hosts()[0]
		var plan []patchbay.PackageVersion
		var names []string
		want := map[string]string{}
		for _, u := range l.Mirror().Security() {
			plan = append(plan, patchbay.PackageVersion{Name: u.Name, Version: u.To})
			names = append(names, u.Name)
			want[u.Name] = u.To
		}
		if len(plan) == 0 {
			t.Fatal("the mirror step found no pending security updates")
		}
		e := executor(t, h, t.TempDir(), check.Spec{Name: "apt", Type: check.TypeNagios, Command: []string{"apt-get", "--version"}})
		res := run(t, e, patchbay.Job{ID: "sec-1", Action: patchbay.JobInstall, Refresh: true, Packages: plan, Checks: []string{"apt"}})
		if res.Status != patchbay.JobSucceeded {
			dump(t, res)
			t.Fatalf("result: %s", res)
		}
		if diff := cmp.Diff(want, installed(t, h, names...)); diff != "" {
			t.Errorf("dpkg after the job (-planned +installed):\n%s", diff)
		}
		for i, p := range res.Installed {
			if p.Version != plan[i].Version {
				t.Errorf("result says %s at %s, planned %s", p.Name, p.Version, plan[i].Version)
			}
		}
		audit(t, h)
	})

	t.Run("frozen versions", func(t *testing.T) {
		h1, h2 := l.Hosts()[1], l.Hosts()[2]
		if err := repo.Publish(ctx, lab.DemoApp("1.0-1")); err != nil {
			t.Fatal(err)
		}
		demo := check.Spec{Name: "demo", Type: check.TypeNagios, Command: []string{"/usr/bin/demo-app"}}
		e1 := executor(t, h1, t.TempDir(), demo)
		res := run(t, e1, patchbay.Job{ID: "demo-1", Action: patchbay.JobInstall, Refresh: true,
			Packages: []patchbay.PackageVersion{{Name: "demo-app", Version: "1.0-1"}}, Checks: []string{"demo"}})
		if res.Status != patchbay.JobSucceeded {
			dump(t, res)
			t.Fatalf("result: %s", res)
		}
		if got := res.Steps[len(res.Steps)-1]; got.Check != patchbay.CheckOK || got.Message != "OK: demo-app 1.0-1" {
			t.Errorf("health check step %+v", got)
		}

		// A newer version appears; a job that planned 1.0-1 installs 1.0-1.
		if err := repo.Publish(ctx, lab.DemoApp("1.0-2")); err != nil {
			t.Fatal(err)
		}
		e2 := executor(t, h2, t.TempDir())
		res = run(t, e2, patchbay.Job{ID: "demo-1", Action: patchbay.JobInstall, Refresh: true,
			Packages: []patchbay.PackageVersion{{Name: "demo-app", Arch: "all", Version: "1.0-1"}}})
		if res.Status != patchbay.JobSucceeded {
			dump(t, res)
			t.Fatalf("result: %s", res)
		}
		if got := installed(t, h2, "demo-app")["demo-app"]; got != "1.0-1" {
			t.Errorf("demo-app at %q, planned 1.0-1 (1.0-2 is the candidate)", got)
		}

		// A version no source has: a clear reason, nothing installed.
		res = run(t, e2, patchbay.Job{ID: "demo-missing", Action: patchbay.JobInstall,
			Packages: []patchbay.PackageVersion{{Name: "demo-app", Version: "1.0-3"}}})
		wantReason := "install failed: demo-app 1.0-3 is not available from any source; available: 1.0-2, 1.0-1"
		if res.Status != patchbay.JobFailed || res.Reason != wantReason {
			t.Errorf("result %s %q, want failed %q", res.Status, res.Reason, wantReason)
		}
		if got := installed(t, h2, "demo-app")["demo-app"]; got != "1.0-1" {
			t.Errorf("demo-app at %q after the refused job, want 1.0-1", got)
		}
	})

	t.Run("failing postinst", func(t *testing.T) {
		h := l.Hosts()[3]
		if err := repo.Publish(ctx, lab.FailingPostinst("pb-fail", "1.0-1")); err != nil {
			t.Fatal(err)
		}
		res := run(t, executor(t, h, t.TempDir()), patchbay.Job{ID: "fail-1", Action: patchbay.JobInstall, Refresh: true,
			Packages: []patchbay.PackageVersion{{Name: "pb-fail", Version: "1.0-1"}}})
		if res.Status != patchbay.JobFailed || !strings.HasPrefix(res.Reason, "install failed: apt-get install: exit 100") {
			t.Errorf("result %s %q", res.Status, res.Reason)
		}
		var install patchbay.StepResult
		for _, s := range res.Steps {
			if s.Name == "install" {
				install = s
			}
		}
		if !strings.Contains(install.Output, "pb-fail: postinst fails on purpose") {
			t.Errorf("install output lacks the postinst's message:\n%s", install.Output)
		}
		if len(res.Installed) != 1 || res.Installed[0].Version != "" {
			t.Errorf("installed %+v, want pb-fail not fully installed", res.Installed)
		}
		// Leave the host clean for what follows.
		if r, err := h.Exec(ctx, "dpkg", "--purge", "pb-fail"); err != nil || r.ExitCode != 0 {
			t.Fatalf("purge pb-fail: %v %s", err, r.Stderr)
		}
	})

	t.Run("modified conffile kept", func(t *testing.T) {
		h := l.Hosts()[3]
		e := executor(t, h, t.TempDir())
		if err := repo.Publish(ctx, lab.WithConffile("pb-conf", "1.0-1")); err != nil {
			t.Fatal(err)
		}
		if res := run(t, e, patchbay.Job{ID: "conf-1", Action: patchbay.JobInstall, Refresh: true,
			Packages: []patchbay.PackageVersion{{Name: "pb-conf", Version: "1.0-1"}}}); res.Status != patchbay.JobSucceeded {
			dump(t, res)
			t.Fatalf("result: %s", res)
		}
		local := "# edited on the host\nsetting = local\n"
		if err := h.WriteFile(ctx, lab.ConffilePath("pb-conf"), []byte(local), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := repo.Publish(ctx, lab.WithConffile("pb-conf", "1.0-2")); err != nil {
			t.Fatal(err)
		}
		res := run(t, e, patchbay.Job{ID: "conf-2", Action: patchbay.JobInstall, Refresh: true,
			Packages: []patchbay.PackageVersion{{Name: "pb-conf", Version: "1.0-2"}}})
		if res.Status != patchbay.JobSucceeded {
			dump(t, res)
			t.Fatalf("result: %s", res)
		}
		r, err := h.Exec(ctx, "cat", lab.ConffilePath("pb-conf"))
		if err != nil || string(r.Stdout) != local {
			t.Errorf("conffile after the upgrade = %q (%v), want the local edit", r.Stdout, err)
		}
		r, err = h.Exec(ctx, "cat", lab.ConffilePath("pb-conf")+".dpkg-dist")
		if err != nil || !strings.Contains(string(r.Stdout), "1.0-2") {
			t.Errorf("the maintainer's new conffile is not in .dpkg-dist: %q %v", r.Stdout, err)
		}
		audit(t, h)
	})

	t.Run("dpkg killed mid-install, agent restarted", func(t *testing.T) {
		h := l.Hosts()[3]
		dir := t.TempDir()
		if err := repo.Publish(ctx, lab.BlockingPostinst("pb-block", "1.0-1")); err != nil {
			t.Fatal(err)
		}
		if err := h.WriteFile(ctx, lab.HoldPath("pb-block"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		j := patchbay.Job{ID: "block-1", Action: patchbay.JobInstall, Refresh: true,
			Packages: []patchbay.PackageVersion{{Name: "pb-block", Version: "1.0-1"}}}
		done := make(chan patchbay.JobResult, 1)
		go func() {
			res, _ := executor(t, h, dir).Run(ctx, j)
			done <- res
		}()
		// Wait for the postinst: dpkg marks the package half-configured
		// before running it. The job file then is what a kill -9 of the
		// agent at this moment would leave.
		var crashed []byte
		deadline := time.Now().Add(2 * time.Minute)
		for {
			r, _ := h.Exec(ctx, "dpkg-query", "-W", "-f", "${db:Status-Abbrev}", "pb-block")
			if strings.TrimSpace(string(r.Stdout)) == "iF" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("pb-block never reached its postinst: %q", r.Stdout)
			}
			time.Sleep(100 * time.Millisecond)
		}
		crashed, err := os.ReadFile(filepath.Join(dir, "block-1.json"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(crashed), `"name": "install",
        "status": "running"`) {
			t.Fatalf("job file during the install does not record it running:\n%s", crashed)
		}
		if err := h.KillProcess(ctx, "dpkg"); err != nil {
			t.Fatal(err)
		}
		<-done
		// The agent died with the job file as it was; its dpkg died too.
		if err := os.WriteFile(filepath.Join(dir, "block-1.json"), crashed, 0o600); err != nil {
			t.Fatal(err)
		}
		if r, _ := h.Exec(ctx, "dpkg", "--audit"); len(strings.TrimSpace(string(r.Stdout))) == 0 {
			t.Fatal("dpkg --audit is clean after dpkg was killed mid-install; the test proves nothing")
		}
		if r, err := h.Exec(ctx, "rm", "-f", lab.HoldPath("pb-block")); err != nil || r.ExitCode != 0 {
			t.Fatal(err)
		}

		e := executor(t, h, dir)
		start := time.Now()
		results, err := e.Resume(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("FIGURE resume after dpkg was killed: %s", time.Since(start).Round(time.Millisecond))
		if len(results) != 1 {
			t.Fatalf("Resume gave %d results", len(results))
		}
		res := results[0]
		if res.Status != patchbay.JobSucceeded || !res.Resumed || !res.Repaired {
			dump(t, res)
			t.Errorf("result %s resumed=%v repaired=%v", res, res.Resumed, res.Repaired)
		}
		var repair patchbay.StepResult
		for _, s := range res.Steps {
			if s.Name == "repair" && s.Message != "nothing to repair" {
				repair = s
			}
		}
		if !strings.Contains(repair.Output, "dpkg --configure -a") || !strings.Contains(repair.Output, "pb-block") {
			t.Errorf("repair step %+v", repair)
		}
		if got := installed(t, h, "pb-block")["pb-block"]; got != "1.0-1" {
			t.Errorf("pb-block at %q", got)
		}
		audit(t, h)
		// Delivered again: the stored result, nothing runs.
		again, err := e.Run(ctx, j)
		if err != nil || !cmp.Equal(res, again) {
			t.Errorf("re-delivery = %s, %v", again, err)
		}
	})
}
