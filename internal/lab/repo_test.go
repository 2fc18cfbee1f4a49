package lab_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/lab"
	"github.com/patchbay/patchbay/internal/lab/labtest"
)

// TestRepoScenarios publishes the scenario packages into the lab
// repository and drives real apt and dpkg with them in a host.
func TestRepoScenarios(t *testing.T) {
	l := labtest.New(t, lab.Options{Hosts: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	h := l.Hosts()[0]
	repo := l.Repo()
	aptInstall := []string{"env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-q"}
	status := func(t *testing.T, name string) string {
		t.Helper()
		return mustExec(ctx, t, h, "dpkg-query", "-W", "-f", "${db:Status-Abbrev}${Version}", name)
	}

	t.Run("new version of demo-app", func(t *testing.T) {
		start := time.Now()
		if err := repo.Publish(ctx, lab.DemoApp("1.0-1")); err != nil {
			t.Fatal(err)
		}
		t.Logf("published in %s", time.Since(start).Round(time.Millisecond))
		mustExec(ctx, t, h, "apt-get", "update", "-q", "--error-on=any")
		mustExec(ctx, t, h, append(aptInstall, "demo-app")...)
		if got := status(t, "demo-app"); got != "ii 1.0-1" {
			t.Fatalf("demo-app status %q, want installed 1.0-1", got)
		}
		if got := mustExec(ctx, t, h, "demo-app"); got != "demo-app 1.0-1\n" {
			t.Errorf("demo-app prints %q", got)
		}
		if err := repo.Publish(ctx, lab.DemoApp("1.0-2")); err != nil {
			t.Fatal(err)
		}
		mustExec(ctx, t, h, "apt-get", "update", "-q", "--error-on=any")
		up := mustExec(ctx, t, h, "apt", "list", "--upgradable")
		if !strings.Contains(up, "demo-app/lab 1.0-2 all [upgradable from: 1.0-1]") {
			t.Errorf("apt list --upgradable does not offer demo-app 1.0-2:\n%s", up)
		}
		mustExec(ctx, t, h, append(aptInstall, "--only-upgrade", "demo-app")...)
		if got := status(t, "demo-app"); got != "ii 1.0-2" {
			t.Errorf("after upgrade demo-app is %q", got)
		}
	})

	t.Run("failing postinst", func(t *testing.T) {
		if err := repo.Publish(ctx, lab.FailingPostinst("demo-broken", "1.0-1")); err != nil {
			t.Fatal(err)
		}
		mustExec(ctx, t, h, "apt-get", "update", "-q")
		res, err := h.Exec(ctx, append(aptInstall, "demo-broken")...)
		if err != nil {
			t.Fatal(err)
		}
		if res.ExitCode != 100 || !strings.Contains(string(res.Stderr)+string(res.Stdout), "postinst fails on purpose") {
			t.Errorf("apt-get install exit %d, want 100 from the postinst:\n%s\n%s", res.ExitCode, res.Stdout, res.Stderr)
		}
		if got := status(t, "demo-broken"); got != "iF 1.0-1" {
			t.Errorf("demo-broken status %q, want half-configured (iF)", got)
		}
		// Leave dpkg consistent for the next scenarios.
		mustExec(ctx, t, h, "dpkg", "--purge", "--force-remove-reinstreq", "demo-broken")
	})

	t.Run("reboot required", func(t *testing.T) {
		if err := repo.Publish(ctx, lab.RebootRequired("demo-kernel", "1.0-1")); err != nil {
			t.Fatal(err)
		}
		mustExec(ctx, t, h, "apt-get", "update", "-q")
		if res, _ := h.Exec(ctx, "test", "-e", "/var/run/reboot-required"); res.ExitCode != 1 {
			t.Fatalf("reboot-required before the install (test -e exit %d)", res.ExitCode)
		}
		mustExec(ctx, t, h, append(aptInstall, "demo-kernel")...)
		if got := mustExec(ctx, t, h, "cat", "/var/run/reboot-required.pkgs"); got != "demo-kernel\n" {
			t.Errorf("reboot-required.pkgs = %q", got)
		}
		mustExec(ctx, t, h, "test", "-e", "/run/reboot-required")
		if err := h.Reboot(ctx, 0); err != nil {
			t.Fatal(err)
		}
		if res, _ := h.Exec(ctx, "test", "-e", "/run/reboot-required"); res.ExitCode != 1 {
			t.Errorf("reboot-required survived the reboot (test -e exit %d)", res.ExitCode)
		}
	})

	t.Run("modified conffile", func(t *testing.T) {
		name := "demo-conf"
		path := lab.ConffilePath(name)
		if err := repo.Publish(ctx, lab.WithConffile(name, "1.0-1")); err != nil {
			t.Fatal(err)
		}
		mustExec(ctx, t, h, "apt-get", "update", "-q")
		mustExec(ctx, t, h, append(aptInstall, name)...)
		local := "# edited by hand on the host\nsetting = local\n"
		if err := h.WriteFile(ctx, path, []byte(local), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := repo.Publish(ctx, lab.WithConffile(name, "1.0-2")); err != nil {
			t.Fatal(err)
		}
		mustExec(ctx, t, h, "apt-get", "update", "-q")
		// Without a choice dpkg would prompt; apt-get fails on no tty.
		mustExec(ctx, t, h, append(aptInstall, "-o", "Dpkg::Options::=--force-confold", name)...)
		if got := status(t, name); got != "ii 1.0-2" {
			t.Errorf("%s is %q after upgrade", name, got)
		}
		if got := mustExec(ctx, t, h, "cat", path); got != local {
			t.Errorf("conffile after upgrade with --force-confold = %q, want the local edit", got)
		}
		if got := mustExec(ctx, t, h, "cat", path+".dpkg-dist"); !strings.Contains(got, "1.0-2") {
			t.Errorf("new conffile not kept as .dpkg-dist: %q", got)
		}
	})

	t.Run("dpkg killed mid-install", func(t *testing.T) {
		name := "demo-slow"
		if err := repo.Publish(ctx, lab.BlockingPostinst(name, "1.0-1")); err != nil {
			t.Fatal(err)
		}
		mustExec(ctx, t, h, "apt-get", "update", "-q")
		mustExec(ctx, t, h, "touch", lab.HoldPath(name))
		done := make(chan int, 1)
		go func() {
			res, _ := h.Exec(ctx, append(aptInstall, name)...)
			done <- res.ExitCode
		}()
		deadline := time.Now().Add(30 * time.Second)
		for {
			st, _ := h.Exec(ctx, "dpkg-query", "-W", "-f", "${db:Status-Abbrev}", name)
			// Half-configured: dpkg is in the postinst.
			if string(st.Stdout) == "iF " && h.KillProcess(ctx, "dpkg") == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("dpkg never reached the postinst")
			}
			time.Sleep(20 * time.Millisecond)
		}
		if code := <-done; code != 100 {
			t.Errorf("apt-get install with dpkg killed exited %d, want 100", code)
		}
		if got := status(t, name); got != "iF 1.0-1" {
			t.Errorf("%s status %q after the kill, want half-configured", name, got)
		}
		if audit := mustExec(ctx, t, h, "dpkg", "--audit"); !strings.Contains(audit, name) {
			t.Errorf("dpkg --audit does not report %s:\n%s", name, audit)
		}
		mustExec(ctx, t, h, "rm", lab.HoldPath(name))
		mustExec(ctx, t, h, "dpkg", "--configure", "-a")
		if got := status(t, name); got != "ii 1.0-1" {
			t.Errorf("%s status %q after dpkg --configure -a", name, got)
		}
	})

	t.Run("unpublish", func(t *testing.T) {
		if err := repo.Unpublish(ctx, "demo-app", "1.0-2"); err != nil {
			t.Fatal(err)
		}
		mustExec(ctx, t, h, "apt-get", "update", "-q")
		pol := mustExec(ctx, t, h, "apt-cache", "madison", "demo-app")
		if strings.Contains(pol, "1.0-2 | http") || !strings.Contains(pol, "1.0-1 | http") {
			t.Errorf("after unpublishing 1.0-2, madison says:\n%s", pol)
		}
	})
}
