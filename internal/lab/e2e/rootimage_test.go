package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/client"
	"github.com/patchbay/patchbay/internal/e2e/e2etest"
	"github.com/patchbay/patchbay/internal/lab"
	"github.com/patchbay/patchbay/internal/lab/labtest"
)

// imageMachineID is the machine id given to the image, whose own
// /etc/machine-id is empty (as in a template).
const imageMachineID = "0123456789abcdef0123456789abcdef"

// TestRootImagePatched: a copy of the lab's base image, a template that is
// not running, with demo-app 1.0-1 installed. `patchbay agent --root COPY
// --once` enrols it as an image and reports its inventory (1.0-2 pending,
// from a file: source in the image); a rollout approves 1.0-2 for it; a
// second `--once` installs it offline, chrooted, with no service allowed
// to start. Afterwards the image's dpkg database says 1.0-2, no mount is
// left under the copy, the policy-rc.d the agent put in is gone, and the
// credential is outside the image.
func TestRootImagePatched(t *testing.T) {
	labtest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	f := startServer(t)
	f.lab = labtest.New(t, lab.Options{Hosts: 0, NoMirror: true})
	c := f.Client(t)
	repo := f.lab.Repo()
	// 1.0-2's postinst asks policy-rc.d, as invoke-rc.d would before
	// starting a service, and records the answer in the image.
	v2 := lab.DemoApp("1.0-2")
	v2.Postinst = "rc=0; /usr/sbin/policy-rc.d demo-app start || rc=$?\necho \"$rc\" > /var/lib/demo-app-policy-rc\n"
	if err := repo.Publish(ctx, lab.DemoApp("1.0-1"), v2); err != nil {
		t.Fatal(err)
	}

	// The image: a copy of the base rootfs whose only apt source is a copy
	// of the lab suite inside it (the served repository is in the lab's
	// network namespace, which a chroot on this machine cannot reach).
	img := filepath.Join(t.TempDir(), "web-template")
	runCmd(t, "cp", "-a", f.lab.Base().Rootfs, img)
	runCmd(t, "cp", "-a", filepath.Join(repo.Dir(), lab.LabSuite), filepath.Join(img, "srv", "lab"))
	write(t, filepath.Join(img, "etc/apt/sources.list"), "deb [trusted=yes] file:/srv/lab ./\n")
	// The base image denies services for its hosts; a template has no
	// policy-rc.d of its own.
	if err := os.Remove(filepath.Join(img, "usr/sbin/policy-rc.d")); err != nil {
		t.Fatal(err)
	}
	// demo-app 1.0-1, installed with apt inside the image through the
	// agent's own chroot helper.
	runCmd(t, binary, "agent-chroot-exec", img, "/", "--", "apt-get", "-q", "update")
	runCmd(t, binary, "agent-chroot-exec", img, "/", "--", "apt-get", "-q", "-y", "install", "demo-app=1.0-1")
	if got := imageVersion(t, img, "demo-app"); got != "1.0-1" {
		t.Fatalf("image prepared with demo-app %q, want 1.0-1", got)
	}
	checkNoMounts(t, img)

	tok := e2etest.Decode[patchbay.CreateTokenResponse](t, f.CLI(t, "tokens", "create", "--uses", "1", "-o", "json"))
	state := filepath.Join(t.TempDir(), "image-state")
	agentOnce := func() (string, error) {
		cmd := exec.CommandContext(ctx, binary, "agent", "--server", f.URL, "--token", tok.Token,
			"--root", img, "--once", "--machine-id", imageMachineID, "--state-dir", state)
		out, err := cmd.CombinedOutput()
		t.Logf("agent --root --once:\n%s", out)
		return string(out), err
	}

	// First run: enrolment and inventory only.
	if out, err := agentOnce(); err != nil {
		t.Fatalf("first --once: %v", err)
	} else if strings.Contains(out, "job started") {
		t.Errorf("first --once ran a job")
	}
	hosts, err := c.ListHosts(ctx, client.HostQuery{Labels: []string{"kind=image"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(hosts) != 1 || hosts[0].MachineID != imageMachineID || hosts[0].Hostname != "web-template" ||
		hosts[0].Labels["image"] != "web-template" || hosts[0].BootID != "" || hosts[0].RebootRequired {
		t.Fatalf("image hosts: %+v", hosts)
	}
	h := hosts[0]
	waitCandidate(ctx, t, c, "demo-app", "1.0-2", 1)
	if _, err := os.Stat(filepath.Join(state, "state.json")); err != nil {
		t.Errorf("credential not in --state-dir: %v", err)
	}
	if out, _ := exec.Command("grep", "-rl", tok.Token[:16], img+"/etc", img+"/var/lib").CombinedOutput(); len(out) > 0 {
		t.Errorf("the image holds the enrolment token: %s", out)
	}

	f.CLI(t, "policies", "create", "demo-only", "--classification", "none", "--approve", "demo-app")
	d, err := c.CreateRollout(ctx, patchbay.Rollout{Name: "template", Policy: "demo-only",
		Rings: []patchbay.Ring{{Name: "all", Percent: 100, MaxConcurrency: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Hosts) != 1 || d.Hosts[0].HostID != h.ID || !planHas(d.Hosts[0].Patches, "demo-app", "1.0-2") || len(d.Hosts[0].Patches) != 1 {
		t.Fatalf("plan: %+v", d.Hosts)
	}
	act(ctx, t, c, d.Rollout.ID, "approve", "start")
	e2etest.WaitFor(t, "the image's job to be queued", time.Minute, func() (bool, string) {
		if d, err = c.Rollout(ctx, d.Rollout.ID); err != nil {
			return false, err.Error()
		}
		return d.Hosts[0].State == patchbay.HostRunning, string(d.Hosts[0].State)
	})

	// Second run: the approved version, installed offline.
	if out, err := agentOnce(); err != nil {
		t.Fatalf("second --once: %v", err)
	} else if !strings.Contains(out, `msg="job finished" job_id=r1-`) || !strings.Contains(out, "status=succeeded") {
		t.Errorf("second --once ran no successful rollout job")
	} else if strings.Contains(out, "action=changelog") {
		t.Errorf("the server gave the image a changelog job")
	}
	if got := imageVersion(t, img, "demo-app"); got != "1.0-2" {
		t.Errorf("image has demo-app %q after --once, want 1.0-2", got)
	}
	checkNoMounts(t, img)
	if _, err := os.Lstat(filepath.Join(img, "usr/sbin/policy-rc.d")); !os.IsNotExist(err) {
		t.Errorf("policy-rc.d left in the image: %v", err)
	}
	// The postinst ran inside the image, and found services denied.
	if rc, err := os.ReadFile(filepath.Join(img, "var/lib/demo-app-policy-rc")); err != nil || strings.TrimSpace(string(rc)) != "101" {
		t.Errorf("policy-rc.d during the install answered %q (%v), want 101", rc, err)
	}
	if _, err := os.Stat("/var/lib/demo-app-policy-rc"); err == nil {
		t.Errorf("the postinst ran on this machine, not in the image")
	}

	end := waitRolloutEnd(ctx, t, c, d.Rollout.ID)
	if end.Rollout.State != patchbay.RolloutCompleted || end.Hosts[0].State != patchbay.HostSucceeded {
		t.Errorf("rollout %s, host %s (%s)", end.Rollout.State, end.Hosts[0].State, end.Hosts[0].Reason)
	}
	// The server has the new inventory: nothing pending for demo-app.
	e2etest.WaitFor(t, "the image's new inventory", 30*time.Second, func() (bool, string) {
		ups, err := c.HostUpdates(ctx, fmt.Sprint(h.ID))
		if err != nil {
			return false, err.Error()
		}
		for _, u := range ups {
			if u.Name == "demo-app" {
				return false, "demo-app still pending: " + u.CandidateVersion
			}
		}
		return true, ""
	})
	// The helper's mounts live in its own namespace only: visible to the
	// command, never to this machine, and gone with it, even on SIGKILL.
	sleeper := exec.Command(binary, "agent-chroot-exec", img, "/", "--", "sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	inside := filepath.Join(img, "proc")
	e2etest.WaitFor(t, "the chrooted command's own mounts", 10*time.Second, func() (bool, string) {
		// Its root is the image, and its mountinfo lists only the mounts
		// reachable from that root: proc and dev there are the helper's.
		if r, err := os.Readlink(fmt.Sprintf("/proc/%d/root", sleeper.Process.Pid)); err != nil || r != img {
			return false, fmt.Sprintf("root %q %v", r, err)
		}
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", sleeper.Process.Pid))
		if err != nil {
			return false, err.Error()
		}
		return strings.Contains(string(data), " /proc ") && strings.Contains(string(data), " /dev "), string(data)
	})
	checkNoMounts(t, img)
	if err := sleeper.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	sleeper.Wait()
	checkNoMounts(t, img)
	if entries, _ := os.ReadDir(inside); len(entries) != 0 {
		t.Errorf("the image's proc directory is not empty after the kill: %d entries", len(entries))
	}

	// An image is never stale, however long it goes unseen.
	stale, err := c.ListHosts(ctx, client.HostQuery{Stale: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stale {
		if s.ID == h.ID {
			t.Errorf("the image is listed as stale")
		}
	}
}

// imageVersion is name's version in the image's dpkg database ("" when
// not installed).
func imageVersion(t *testing.T, root, name string) string {
	t.Helper()
	out, err := exec.Command("dpkg-query", "--admindir="+filepath.Join(root, "var/lib/dpkg"), "-W", "-f", "${Version}", name).Output()
	if err != nil {
		return ""
	}
	return string(out)
}

// checkNoMounts fails the test when a mount point of this namespace is
// at or under root.
func checkNoMounts(t *testing.T, root string) {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if fs := strings.Fields(l); len(fs) > 4 && (fs[4] == root || strings.HasPrefix(fs[4], root+"/")) {
			t.Errorf("mount left under the image: %s", l)
		}
	}
}

func runCmd(t *testing.T, argv ...string) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out.String())
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
