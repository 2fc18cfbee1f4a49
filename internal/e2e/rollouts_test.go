package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/client"
	"github.com/patchbay/patchbay/internal/e2e/e2etest"
	"github.com/patchbay/patchbay/internal/pki"
)

// killableServer is a `patchbay server` this test kills with SIGKILL and
// starts again on the same data directory and port.
type killableServer struct {
	addr, data, log string
	cmd             *exec.Cmd
}

func (s *killableServer) start(t *testing.T) {
	t.Helper()
	logf, err := os.OpenFile(s.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command(binary, "server", "--listen", s.addr, "--data", s.data)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logf.Close()
	e2etest.WaitFor(t, "server up", 20*time.Second, func() (bool, string) {
		ca, err := os.ReadFile(filepath.Join(s.data, "pki", pki.CACertFile))
		if err != nil {
			return false, err.Error()
		}
		tlsCfg, err := pki.PoolConfig(ca)
		if err != nil {
			return false, err.Error()
		}
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}, Timeout: time.Second}
		resp, err := hc.Get("https://" + s.addr + "/api/v1/health")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return true, ""
	})
}

func (s *killableServer) kill(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	s.cmd.Wait()
}

// TestRolloutSurvivesServerKill drives a rollout with the real binary: the
// CLI creates it (the plan shows the frozen versions), approves and starts
// it; hosts take their jobs through the long poll and post results with
// their credentials (as agents do). The server is killed with SIGKILL
// while the wave runs and started again: the rollout completes, every
// host got exactly one job, and the running hosts got the same job again.
func TestRolloutSurvivesServerKill(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &killableServer{addr: ln.Addr().String(), data: filepath.Join(dir, "data"), log: filepath.Join(dir, "server.log")}
	ln.Close()
	s.start(t)
	t.Cleanup(func() {
		s.cmd.Process.Signal(os.Interrupt)
		s.cmd.Wait()
		if t.Failed() {
			data, _ := os.ReadFile(s.log)
			t.Logf("server log:\n%s", lastLines(string(data), 40))
		}
	})
	admin, err := os.ReadFile(filepath.Join(s.data, "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(filepath.Join(s.data, "pki", pki.CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := pki.PoolConfig(ca)
	if err != nil {
		t.Fatal(err)
	}
	url := "https://" + s.addr
	c := client.New(url, strings.TrimSpace(string(admin)), tlsCfg)
	cfg, _ := json.Marshal(map[string]string{"server": url, "token": strings.TrimSpace(string(admin)), "ca_pem": string(ca)})
	cfgPath := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	cli := func(args ...string) string {
		t.Helper()
		out, errOut, code := run(t, append([]string{"--config", cfgPath}, args...)...)
		if code != 0 {
			t.Fatalf("patchbay %s: exit %d\n%s", strings.Join(args, " "), code, errOut)
		}
		return string(out)
	}

	ctx := context.Background()
	tok, err := c.CreateToken(ctx, patchbay.CreateTokenRequest{})
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"a-canary", "b-web", "c-web", "d-web"}
	hosts := map[string]*client.Client{}
	for i, name := range names {
		mid := fmt.Sprintf("%032x", 0xe2e0+i)
		r, err := c.Enroll(ctx, patchbay.EnrollRequest{Token: tok.Token, MachineID: mid, Hostname: name, IntervalSeconds: 3600})
		if err != nil {
			t.Fatal(err)
		}
		hosts[name] = c.WithToken(r.Credential)
		inv := patchbay.Inventory{SchemaVersion: patchbay.InventorySchemaVersion, CollectedAt: time.Now(), MachineID: mid, Hostname: name,
			OS: patchbay.OS{ID: "debian", VersionID: "12", Codename: "bookworm", Name: "Debian GNU/Linux"}, Arch: "amd64", PackageManager: "apt",
			Packages: []patchbay.Package{{Name: "openssl", Arch: "amd64", Version: "3.0.14-1~deb12u2", SourceName: "openssl", SourceVersion: "3.0.14-1~deb12u2"}},
			Updates: []patchbay.Update{{Name: "openssl", Arch: "amd64", InstalledVersion: "3.0.14-1~deb12u2", CandidateVersion: "3.0.15-1~deb12u1",
				Origin: "Debian-Security:12/stable-security", Security: true}}}
		if err := hosts[name].PutInventory(ctx, inv); err != nil {
			t.Fatal(err)
		}
	}

	plan := cli("rollouts", "create", "--name", "e2e", "--security-only", "--ring", "canary:count=1,canary",
		"--ring", "wave:percent=100,concurrency=2", "--budget", "0")
	for _, name := range names {
		if !strings.Contains(plan, name) {
			t.Errorf("plan does not show %s:\n%s", name, plan)
		}
	}
	if !strings.Contains(plan, "3.0.14-1~deb12u2  3.0.15-1~deb12u1") {
		t.Errorf("plan does not show installed → planned versions:\n%s", plan)
	}
	list := decode[[]patchbay.Rollout](t, []byte(cli("rollouts", "list", "-o", "json")))
	if len(list) != 1 {
		t.Fatalf("rollouts list: %+v", list)
	}
	id := fmt.Sprint(list[0].ID)
	cli("rollouts", "approve", id)
	cli("rollouts", "start", id)

	// take long-polls as the host and returns the ids of its rollout jobs
	// (the first host to report also gets the update's changelog job,
	// which no agent answers here); post reports a job succeeded.
	take := func(name string) []string {
		t.Helper()
		poll, err := hosts[name].PollJobs(ctx, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, j := range poll.Jobs {
			if j.Action == patchbay.JobChangelog {
				continue
			}
			ids = append(ids, j.ID)
			if len(j.Packages) != 1 || j.Packages[0].Version != "3.0.15-1~deb12u1" {
				t.Errorf("%s: job %s packages %v", name, j.ID, j.Packages)
			}
		}
		return ids
	}
	post := func(name, job string) {
		t.Helper()
		if err := hosts[name].PostJobResult(ctx, job, patchbay.JobResult{JobID: job, Action: patchbay.JobInstall, Status: patchbay.JobSucceeded,
			StartedAt: time.Now(), FinishedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	canary := take("a-canary")
	if len(canary) != 1 {
		t.Fatalf("canary jobs: %v", canary)
	}
	post("a-canary", canary[0])
	b, cjobs := take("b-web"), take("c-web")
	if len(b) != 1 || len(cjobs) != 1 {
		t.Fatalf("wave jobs after the canary: b %v, c %v", b, cjobs)
	}

	s.kill(t)
	s.start(t)

	if again := take("b-web"); len(again) != 1 || again[0] != b[0] {
		t.Fatalf("b-web after the restart: %v, want its job %s again", again, b[0])
	}
	if again := take("c-web"); len(again) != 1 || again[0] != cjobs[0] {
		t.Fatalf("c-web after the restart: %v, want its job %s again", again, cjobs[0])
	}
	post("b-web", b[0])
	post("c-web", cjobs[0])
	d := take("d-web")
	if len(d) != 1 {
		t.Fatalf("d-web jobs: %v", d)
	}
	post("d-web", d[0])
	e2etest.WaitFor(t, "the rollout completed", 15*time.Second, func() (bool, string) {
		got := decode[patchbay.RolloutDetail](t, []byte(cli("rollouts", "show", id, "-o", "json")))
		return got.Rollout.State == patchbay.RolloutCompleted, string(got.Rollout.State) + ": " + got.Status
	})
	got := decode[patchbay.RolloutDetail](t, []byte(cli("rollouts", "show", id, "-o", "json")))
	for _, h := range got.Hosts {
		if h.State != patchbay.HostSucceeded || h.Attempts != 1 || !strings.HasSuffix(h.JobID, "-a1") {
			t.Errorf("host %s: %s, %d attempts, job %s; want one successful attempt", h.Hostname, h.State, h.Attempts, h.JobID)
		}
	}
	if show := cli("rollouts", "show", id); !strings.Contains(show, "COMPLETED") || !strings.Contains(show, "4 succeeded") {
		t.Errorf("rollouts show:\n%s", show)
	}
}
