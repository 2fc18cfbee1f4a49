package agent

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/agent/job"
	"github.com/patchbay/patchbay/internal/credential"
	"github.com/patchbay/patchbay/internal/pkgmgr"
	"github.com/patchbay/patchbay/internal/pki"
)

// controlServer is a fake Patchbay server at the process boundary: the
// agent routes of the wire contract (heartbeat, inventory, the job long
// poll and result post) over real TLS, with the state a test inspects.
type controlServer struct {
	t    *testing.T
	srv  *httptest.Server
	cred string

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every change
	queue   []patchbay.Job
	posts   []patchbay.JobResult      // accepted posts, in order
	blocked []patchbay.PackageVersion // sent with every poll reply
	// withdrawOnDeliver: right after a reply delivers jobs, they are
	// withdrawn and their packages blocked, as a block added while the
	// reply was on its way.
	withdrawOnDeliver bool
	heartbeats        int
	inventories       []patchbay.Inventory
	hash              string
	// failJobs makes the next N requests to the job routes fail as a
	// server that is down behind its proxy does (502, no API error body);
	// failPosts does the same to the next N result posts only. (A closed
	// connection would do, but net/http retries some of those itself,
	// which makes the count of failures the agent sees inexact.)
	failJobs, failPosts int
	// heldDeliveries counts jobs handed to a poll that was already
	// waiting when the job was queued: picked up by the long poll.
	heldDeliveries int
	waitingPolls   int
	deliveries     map[string]int // job id -> times delivered
	polls          int
	noJobRoutes    bool // a server from before jobs: 404 on the poll
	// token is the enrolment token the agent is given ("": none);
	// enrolments counts POST /api/v1/enroll, which hands out newCred.
	token, newCred string
	enrolments     int
}

func newControlServer(t *testing.T) *controlServer {
	cs := &controlServer{t: t, cred: savedCred, changed: make(chan struct{}), deliveries: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/agent/heartbeat", cs.heartbeat)
	mux.HandleFunc("PUT /api/v1/agent/inventory", cs.inventory)
	mux.HandleFunc("GET /api/v1/agent/jobs", cs.poll)
	mux.HandleFunc("POST /api/v1/agent/jobs/{id}/result", cs.result)
	cs.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "POST" && r.URL.Path == "/api/v1/enroll" {
			cs.enroll(w, r)
			return
		}
		cs.mu.Lock()
		cred := cs.cred
		cs.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+cred {
			writeError(w, http.StatusUnauthorized, patchbay.EUNAUTHORIZED, "bad credential")
			return
		}
		if strings.HasPrefix(r.URL.Path, "/api/v1/agent/jobs") && cs.failing(r) {
			http.Error(w, "502 Bad Gateway", http.StatusBadGateway)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(cs.srv.Close)
	return cs
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(patchbay.ErrorResponse{Error: patchbay.ErrorDetail{Code: code, Message: msg}})
}

func (cs *controlServer) failing(r *http.Request) bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.failJobs > 0 {
		cs.failJobs--
		return true
	}
	if r.Method == "POST" && cs.failPosts > 0 {
		cs.failPosts--
		return true
	}
	return false
}

// notify wakes waiters; cs.mu must be held.
func (cs *controlServer) notify() {
	close(cs.changed)
	cs.changed = make(chan struct{})
}

// enroll exchanges the enrolment token for a new credential, which from
// then on is the only one accepted.
func (cs *controlServer) enroll(w http.ResponseWriter, r *http.Request) {
	var req patchbay.EnrollRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Token == "" || req.Token != cs.token {
		writeError(w, http.StatusUnauthorized, patchbay.EUNAUTHORIZED, "bad enrolment token")
		return
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.enrolments++
	cs.cred = cs.newCred
	cs.notify()
	json.NewEncoder(w).Encode(patchbay.EnrollResponse{HostID: 1, Credential: cs.newCred})
}

func (cs *controlServer) heartbeat(w http.ResponseWriter, r *http.Request) {
	var hb patchbay.Heartbeat
	if err := json.NewDecoder(r.Body).Decode(&hb); err != nil {
		writeError(w, http.StatusBadRequest, patchbay.EINVALID, err.Error())
		return
	}
	cs.mu.Lock()
	send := hb.InventoryHash != cs.hash
	cs.heartbeats++
	cs.mu.Unlock()
	json.NewEncoder(w).Encode(patchbay.HeartbeatReply{SendInventory: send})
}

func (cs *controlServer) inventory(w http.ResponseWriter, r *http.Request) {
	var inv patchbay.Inventory
	if err := json.NewDecoder(r.Body).Decode(&inv); err != nil {
		writeError(w, http.StatusBadRequest, patchbay.EINVALID, err.Error())
		return
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.inventories = append(cs.inventories, inv)
	cs.hash = inv.ContentHash()
	cs.notify()
	w.WriteHeader(http.StatusNoContent)
}

// poll answers GET /api/v1/agent/jobs?wait=SECONDS: the queued jobs at
// once, else the first job queued within the wait, else 204.
func (cs *controlServer) poll(w http.ResponseWriter, r *http.Request) {
	cs.mu.Lock()
	cs.polls++
	gone := cs.noJobRoutes
	cs.notify()
	cs.mu.Unlock()
	if gone {
		http.NotFound(w, r)
		return
	}
	secs, err := strconv.Atoi(r.URL.Query().Get("wait"))
	if err != nil || secs < 0 || secs > 60 {
		writeError(w, http.StatusBadRequest, patchbay.EINVALID, "wait: 0-60 seconds")
		return
	}
	deadline := time.NewTimer(time.Duration(secs) * time.Second)
	defer deadline.Stop()
	held := false
	for {
		cs.mu.Lock()
		if len(cs.queue) > 0 {
			jobs := slices.Clone(cs.queue)
			if held {
				cs.heldDeliveries += len(jobs)
			}
			for _, j := range jobs {
				cs.deliveries[j.ID]++
			}
			blocked := cs.blocked
			if cs.withdrawOnDeliver {
				cs.queue = nil
				for _, j := range jobs {
					cs.blocked = append(cs.blocked, j.Packages...)
				}
			}
			cs.mu.Unlock()
			json.NewEncoder(w).Encode(patchbay.JobsPoll{Jobs: jobs, Blocked: blocked})
			return
		}
		if !held {
			held = true
			cs.waitingPolls++
			defer cs.endWait()
			cs.notify()
		}
		changed := cs.changed
		cs.mu.Unlock()
		select {
		case <-changed:
		case <-deadline.C:
			w.WriteHeader(http.StatusNoContent)
			return
		case <-r.Context().Done():
			return
		}
	}
}

func (cs *controlServer) endWait() {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.waitingPolls--
	cs.notify()
}

func (cs *controlServer) result(w http.ResponseWriter, r *http.Request) {
	var res patchbay.JobResult
	if err := json.NewDecoder(r.Body).Decode(&res); err != nil || res.JobID != r.PathValue("id") {
		writeError(w, http.StatusBadRequest, patchbay.EINVALID, "bad result")
		return
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.queue = slices.DeleteFunc(cs.queue, func(j patchbay.Job) bool { return j.ID == res.JobID })
	cs.posts = append(cs.posts, res)
	cs.notify()
	w.WriteHeader(http.StatusNoContent)
}

func (cs *controlServer) enqueue(j patchbay.Job) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.queue = append(cs.queue, j)
	cs.notify()
}

// waitUntil waits until cond holds (cs.mu held while it runs).
func (cs *controlServer) waitUntil(what string, cond func() bool) {
	cs.t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		cs.mu.Lock()
		ok, changed := cond(), cs.changed
		cs.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-timeout:
			cs.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// postsOf returns the accepted posts of job id (cs.mu held).
func (cs *controlServer) postsOf(id string) []patchbay.JobResult {
	var out []patchbay.JobResult
	for _, p := range cs.posts {
		if p.JobID == id {
			out = append(out, p)
		}
	}
	return out
}

// fakePM is the host's package manager at the exec boundary: installed
// and available versions in memory, dpkg's "interrupted" flag, and a
// count of installs.
type fakePM struct {
	mu          sync.Mutex
	installed   map[string]string
	available   map[string]string
	unpacked    map[string]string
	interrupted bool
	crash       bool // panic after unpacking, as a kill -9 there would
	installs    int
	// installFor keeps an install busy that long; collections that
	// happen meanwhile are counted in overlaps.
	installFor time.Duration
	installing bool
	overlaps   int
}

type crash struct{}

var _ pkgmgr.Manager = (*fakePM)(nil)
var _ pkgmgr.Installer = (*fakePM)(nil)

func newFakePM() *fakePM {
	return &fakePM{
		installed: map[string]string{"demo-app": "1.0-1"},
		available: map[string]string{"demo-app": "1.0-2"},
		unpacked:  map[string]string{},
	}
}

func (f *fakePM) Name() string                                           { return "apt" }
func (f *fakePM) Refresh(context.Context) error                          { return nil }
func (f *fakePM) Updates(context.Context) ([]patchbay.Update, error)     { return nil, nil }
func (f *fakePM) RebootRequired(context.Context) (bool, []string, error) { return false, nil, nil }

func (f *fakePM) Packages(context.Context) ([]patchbay.Package, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.installing {
		f.overlaps++
	}
	var out []patchbay.Package
	for n, v := range f.installed {
		out = append(out, patchbay.Package{Name: n, Arch: "amd64", Version: v, SourceName: n, SourceVersion: v})
	}
	return out, nil
}

func (f *fakePM) Validate(pkgs []patchbay.PackageVersion) error {
	for _, p := range pkgs {
		if strings.ContainsAny(p.Name+p.Version, " ;") {
			return patchbay.Errorf(patchbay.EINVALID, "invalid package %q", p.String())
		}
	}
	return nil
}

func (f *fakePM) Install(_ context.Context, pkgs []patchbay.PackageVersion) ([]byte, error) {
	if f.installFor > 0 {
		f.mu.Lock()
		f.installing = true
		f.mu.Unlock()
		time.Sleep(f.installFor)
		defer func() {
			f.mu.Lock()
			f.installing = false
			f.mu.Unlock()
		}()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.installs++
	for _, p := range pkgs {
		if f.available[p.Name] != p.Version {
			return nil, errors.New(p.String() + " is not available from any source")
		}
	}
	for _, p := range pkgs {
		f.unpacked[p.Name] = p.Version
		delete(f.installed, p.Name)
	}
	f.interrupted = true
	if f.crash {
		panic(crash{})
	}
	return f.configure(), nil
}

func (f *fakePM) configure() []byte {
	var out []byte
	for n, v := range f.unpacked {
		out = append(out, "Setting up "+n+" ("+v+") ...\n"...)
		f.installed[n] = v
		delete(f.unpacked, n)
	}
	f.interrupted = false
	return out
}

func (f *fakePM) Repair(context.Context) (bool, []byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.interrupted {
		return false, nil, nil
	}
	return true, f.configure(), nil
}

func (f *fakePM) Installed(_ context.Context, pkgs []patchbay.PackageVersion) ([]patchbay.PackageVersion, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]patchbay.PackageVersion, len(pkgs))
	for i, p := range pkgs {
		out[i] = patchbay.PackageVersion{Name: p.Name, Arch: p.Arch, Version: f.installed[p.Name]}
	}
	return out, nil
}

func (f *fakePM) installCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.installs
}

// sleeps records the agent's waits. Waits of a minute or more (the
// check-in interval) are real, so the only check-ins after the first are
// the ones a job asks for; shorter ones (backoff) pass 1000 times faster.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	if d < time.Minute {
		d /= 1000
	}
	return sleep(ctx, d)
}

// backoffs returns the recorded waits between 1 s and the job loop's cap:
// job-loop backoffs (empty-poll gaps are shorter, check-in intervals
// longer).
func (s *sleeps) backoffs() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []time.Duration
	for _, d := range s.d {
		if d >= time.Second && d <= jobBackoffCap {
			out = append(out, d)
		}
	}
	return out
}

type testAgent struct {
	stateDir string
	pm       *fakePM
	sleeps   *sleeps
	stop     func()
}

func newExecutor(t *testing.T, stateDir string, pm *fakePM) *job.Executor {
	t.Helper()
	e, err := job.New(job.Config{Dir: filepath.Join(stateDir, "jobs"), Manager: pm, Installer: pm})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// savedCred is the credential startAgent saves as the agent's.
const savedCred = "pbh_test"

// startAgent runs an agent enrolled with cs (its state saved as after an
// enrolment) on stateDir, with the real executor over pm.
func startAgent(t *testing.T, cs *controlServer, stateDir string, pm *fakePM) *testAgent {
	t.Helper()
	return startAgentEvery(t, cs, stateDir, pm, time.Hour)
}

// startAgentEvery is startAgent with a check-in interval (below a minute
// it passes 1000 times faster, see sleeps).
func startAgentEvery(t *testing.T, cs *controlServer, stateDir string, pm *fakePM, interval time.Duration) *testAgent {
	t.Helper()
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cs.srv.Certificate().Raw})
	if err := saveState(stateDir, state{Server: cs.srv.URL, HostID: 1, MachineID: "m1", Credential: savedCred, CAPEM: string(caPEM)}); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ta := &testAgent{stateDir: stateDir, pm: pm, sleeps: &sleeps{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{
			Server: cs.srv.URL, Token: cs.token, StateDir: stateDir, Interval: interval, RefreshInterval: time.Hour,
			Collector: &HostCollector{Root: "/", Manager: pm, Now: time.Now, Logger: logger},
			Jobs:      newExecutor(t, stateDir, pm), JobWait: 5 * time.Second,
			Sleep: ta.sleeps.sleep, Logger: logger,
		})
	}()
	var once sync.Once
	ta.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("agent: %v", err)
			}
		})
	}
	t.Cleanup(ta.stop)
	return ta
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func (ta *testAgent) unsentMarkers(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(ta.stateDir, unsentDir))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

var demo2 = patchbay.PackageVersion{Name: "demo-app", Version: "1.0-2"}

func installJob(id string) patchbay.Job {
	return patchbay.Job{ID: id, Action: patchbay.JobInstall, Packages: []patchbay.PackageVersion{demo2}}
}

func inventoryVersion(inv patchbay.Inventory, name string) string {
	for _, p := range inv.Packages {
		if p.Name == name {
			return p.Version
		}
	}
	return ""
}

func TestJobDeliveredRunAndPosted(t *testing.T) {
	cs := newControlServer(t)
	ta := startAgent(t, cs, t.TempDir(), newFakePM())
	// The first check-in sends the inventory; the agent then idles for
	// an hour, and its long poll is waiting on the server.
	cs.waitUntil("first inventory and a waiting poll", func() bool { return len(cs.inventories) == 1 && cs.waitingPolls == 1 })

	cs.enqueue(installJob("j1"))
	cs.waitUntil("result of j1", func() bool { return len(cs.postsOf("j1")) == 1 })
	cs.mu.Lock()
	res, held := cs.postsOf("j1")[0], cs.heldDeliveries
	cs.mu.Unlock()
	if res.Status != patchbay.JobSucceeded || res.Action != patchbay.JobInstall {
		t.Fatalf("result %v", res)
	}
	if diff := cmp.Diff([]patchbay.PackageVersion{demo2}, res.Installed); diff != "" {
		t.Errorf("installed (-want +got):\n%s", diff)
	}
	if held != 1 {
		t.Errorf("job delivered by a poll that was waiting: %d times, want 1 (picked up by the long poll)", held)
	}
	if n := ta.pm.installCount(); n != 1 {
		t.Errorf("package manager installed %d times", n)
	}
	// The install job triggered a check-in at once (the next scheduled
	// one is an hour away): the server sees the new version.
	cs.waitUntil("inventory after the install", func() bool {
		return len(cs.inventories) == 2 && inventoryVersion(cs.inventories[1], "demo-app") == "1.0-2"
	})
	// Back to polling: the job's round, marker removal included, is over.
	cs.waitUntil("the next poll", func() bool { return cs.waitingPolls == 1 })
	if m := ta.unsentMarkers(t); len(m) != 0 {
		t.Errorf("unsent markers left: %v", m)
	}
}

// TestCheckInsWaitForJobs: check-ins come every millisecond while an
// install takes 300 ms, yet no collection reads the package manager
// during the install (side by side they would fight over apt's locks and
// read a half-changed system); heartbeats go on meanwhile, and the
// inventory follows the install.
func TestCheckInsWaitForJobs(t *testing.T) {
	cs := newControlServer(t)
	pm := newFakePM()
	pm.installFor = 300 * time.Millisecond
	startAgentEvery(t, cs, t.TempDir(), pm, time.Second)
	cs.waitUntil("a waiting poll", func() bool { return cs.waitingPolls == 1 })
	cs.enqueue(installJob("j1"))
	// Heartbeats do not wake waitUntil: poll.
	poll := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(2 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	installing := func() bool { pm.mu.Lock(); defer pm.mu.Unlock(); return pm.installing }
	heartbeats := func() int { cs.mu.Lock(); defer cs.mu.Unlock(); return cs.heartbeats }
	poll("the install to start", installing)
	beats := heartbeats()
	poll("heartbeats during the install", func() bool { return heartbeats() >= beats+3 || !installing() })
	if !installing() && heartbeats() < beats+3 {
		t.Errorf("%d heartbeats during a 300 ms install with check-ins every millisecond", heartbeats()-beats)
	}
	cs.waitUntil("result of j1", func() bool { return len(cs.postsOf("j1")) == 1 })
	cs.waitUntil("inventory after the install", func() bool {
		n := len(cs.inventories)
		return n > 0 && inventoryVersion(cs.inventories[n-1], "demo-app") == "1.0-2"
	})
	pm.mu.Lock()
	defer pm.mu.Unlock()
	if pm.overlaps != 0 {
		t.Errorf("%d collections read the package manager while it installed", pm.overlaps)
	}
}

// TestBlockedVersionRefused: a job that would install a version the
// server blocked is refused before anything runs, whether the block came
// with the job's own poll or was kept on disk from an earlier run (a
// stale job, delivered by a server that no longer says so).
func TestBlockedVersionRefused(t *testing.T) {
	cs := newControlServer(t)
	cs.blocked = []patchbay.PackageVersion{{Name: "demo-app", Version: "1.0-2"}}
	dir := t.TempDir()
	ta := startAgent(t, cs, dir, newFakePM())
	cs.waitUntil("a waiting poll", func() bool { return cs.waitingPolls == 1 })
	cs.enqueue(installJob("j1"))
	cs.waitUntil("result of j1", func() bool { return len(cs.postsOf("j1")) == 1 })
	res := cs.postsOf("j1")[0]
	if res.Status != patchbay.JobFailed || !strings.Contains(res.Reason, "demo-app=1.0-2 is blocked fleet-wide") || len(res.Steps) != 0 {
		t.Errorf("result %+v", res)
	}
	if n := ta.pm.installCount(); n != 0 {
		t.Fatalf("package manager ran %d installs of a blocked version", n)
	}
	ta.stop()

	// Restarted, and the server's replies no longer carry the list: the
	// agent still remembers it.
	cs.mu.Lock()
	cs.blocked = nil
	cs.queue = nil
	cs.mu.Unlock()
	ta = startAgent(t, cs, dir, newFakePM())
	cs.waitUntil("a waiting poll", func() bool { return cs.waitingPolls == 1 })
	cs.enqueue(installJob("j2"))
	cs.waitUntil("result of j2", func() bool { return len(cs.postsOf("j2")) == 1 })
	if res := cs.postsOf("j2")[0]; res.Status != patchbay.JobFailed || !strings.Contains(res.Reason, "blocked") {
		t.Errorf("after a restart: %+v", res)
	}
	if n := ta.pm.installCount(); n != 0 {
		t.Errorf("installs after the restart: %d", n)
	}

	// Unblocked (an empty list, not a missing one): it installs.
	cs.mu.Lock()
	cs.blocked = []patchbay.PackageVersion{}
	cs.queue = nil
	cs.mu.Unlock()
	cs.enqueue(installJob("j3")) // the poll that brings j3 carries the empty list
	cs.waitUntil("result of j3", func() bool { return len(cs.postsOf("j3")) == 1 })
	if res := cs.postsOf("j3")[0]; res.Status != patchbay.JobSucceeded {
		t.Errorf("after the unblock: %+v", res)
	}
}

// TestStaleDeliveryNotRun: a poll reply that delivered an install job is
// out of date by the time the agent reads it (the job was withdrawn, its
// version blocked): the agent asks again before installing and runs
// nothing.
func TestStaleDeliveryNotRun(t *testing.T) {
	cs := newControlServer(t)
	cs.withdrawOnDeliver = true
	ta := startAgent(t, cs, t.TempDir(), newFakePM())
	cs.waitUntil("a waiting poll", func() bool { return cs.waitingPolls == 1 })
	cs.mu.Lock()
	before := cs.polls
	cs.mu.Unlock()
	cs.enqueue(installJob("j1"))
	// The delivering poll, the confirming one, and the next long poll.
	cs.waitUntil("the agent back to polling", func() bool { return cs.polls >= before+2 && cs.waitingPolls == 1 })
	if n := ta.pm.installCount(); n != 0 {
		t.Errorf("installed %d times from a stale delivery", n)
	}
	if posts := cs.postsOf("j1"); len(posts) != 0 {
		t.Errorf("posted %+v for a job it did not run", posts)
	}
}

func TestRepeatedDeliveryRepostsStoredResult(t *testing.T) {
	cs := newControlServer(t)
	ta := startAgent(t, cs, t.TempDir(), newFakePM())
	cs.enqueue(installJob("j1"))
	cs.waitUntil("result of j1", func() bool { return len(cs.postsOf("j1")) == 1 })

	// The server delivers j1 again (it lost the post, say).
	cs.enqueue(installJob("j1"))
	cs.waitUntil("second result of j1", func() bool { return len(cs.postsOf("j1")) == 2 })
	cs.mu.Lock()
	posts := cs.postsOf("j1")
	cs.mu.Unlock()
	if diff := cmp.Diff(posts[0], posts[1]); diff != "" {
		t.Errorf("re-posted result differs from the stored one (-first +second):\n%s", diff)
	}
	if n := ta.pm.installCount(); n != 1 {
		t.Errorf("package manager installed %d times for one job id", n)
	}
}

func TestServerDownBacksOffThenDelivers(t *testing.T) {
	cs := newControlServer(t)
	cs.failJobs = 3 // the first three polls find no server
	cs.enqueue(installJob("j1"))
	ta := startAgent(t, cs, t.TempDir(), newFakePM())
	cs.waitUntil("result of j1", func() bool { return len(cs.postsOf("j1")) == 1 })

	// Exponential backoff from 2 s with full jitter in the upper half:
	// the n-th failure waits between 2^(n-1) s and 2^n s.
	got := ta.sleeps.backoffs()
	if len(got) != 3 {
		t.Fatalf("backoffs %v, want 3", got)
	}
	for i, d := range got {
		lo, hi := time.Second<<i, 2*time.Second<<i
		if d < lo || d > hi {
			t.Errorf("backoff %d = %v, want within [%v, %v]", i+1, d, lo, hi)
		}
	}

	// The result post of a second job fails twice; the result waits on
	// disk and is posted once the server takes it, without running the
	// job again.
	cs.mu.Lock()
	cs.failPosts = 2
	cs.mu.Unlock()
	j2 := patchbay.Job{ID: "j2", Action: patchbay.JobRefresh}
	cs.enqueue(j2)
	cs.waitUntil("result of j2", func() bool { return len(cs.postsOf("j2")) == 1 })
	if got := ta.sleeps.backoffs(); len(got) != 5 {
		t.Errorf("backoffs %v, want 5 (two more for the failed posts)", got)
	}
	cs.mu.Lock()
	res, delivered := cs.postsOf("j2")[0], cs.deliveries["j2"]
	cs.mu.Unlock()
	if delivered != 1 {
		t.Errorf("j2 delivered %d times; its result should have been posted from disk, not after a redelivery", delivered)
	}
	if res.Status != patchbay.JobSucceeded || res.Resumed {
		t.Errorf("result %v", res)
	}
	if n := ta.pm.installCount(); n != 1 {
		t.Errorf("package manager installed %d times", n)
	}
	// Back to polling: the job's round, marker removal included, is over.
	cs.waitUntil("the next poll", func() bool { return cs.waitingPolls == 1 })
	if m := ta.unsentMarkers(t); len(m) != 0 {
		t.Errorf("unsent markers left: %v", m)
	}
}

func TestRestartMidJobPostsResumedResult(t *testing.T) {
	cs := newControlServer(t)
	stateDir := t.TempDir()
	pm := newFakePM()
	j := installJob("j1")
	cs.enqueue(j) // delivered to the agent that dies; still queued

	// The agent is killed during the install: dpkg unpacked, nothing
	// configured, the job file says "install running".
	pm.crash = true
	func() {
		defer func() {
			if r := recover(); r != (crash{}) {
				t.Fatalf("no crash: %v", r)
			}
		}()
		newExecutor(t, stateDir, pm).Run(context.Background(), j)
	}()
	pm.crash = false

	ta := startAgent(t, cs, stateDir, pm)
	cs.waitUntil("result of j1", func() bool { return len(cs.postsOf("j1")) == 1 })
	cs.mu.Lock()
	res, delivered := cs.postsOf("j1")[0], cs.deliveries["j1"]
	cs.mu.Unlock()
	if delivered != 0 {
		t.Errorf("j1 delivered %d times to the restarted agent; Resume's result should have been posted before the first poll", delivered)
	}
	if res.Status != patchbay.JobSucceeded || !res.Resumed || !res.Repaired {
		t.Errorf("result %v (resumed %v, repaired %v)", res, res.Resumed, res.Repaired)
	}
	if diff := cmp.Diff([]patchbay.PackageVersion{demo2}, res.Installed); diff != "" {
		t.Errorf("installed (-want +got):\n%s", diff)
	}
	if n := ta.pm.installCount(); n != 1 {
		t.Errorf("package manager installed %d times; the restarted agent must not install again", n)
	}
	// The resumed install triggered a check-in with the new version.
	cs.waitUntil("inventory after the resumed install", func() bool {
		return len(cs.inventories) > 0 && inventoryVersion(cs.inventories[len(cs.inventories)-1], "demo-app") == "1.0-2"
	})
}

func TestInvalidJobRefusedAndReported(t *testing.T) {
	cs := newControlServer(t)
	ta := startAgent(t, cs, t.TempDir(), newFakePM())
	cs.enqueue(patchbay.Job{ID: "j1", Action: "shell", Checks: []string{"x"}})
	cs.enqueue(patchbay.Job{ID: "j2", Action: patchbay.JobCheck, Checks: []string{"nagios-disk"}})
	cs.waitUntil("results", func() bool { return len(cs.postsOf("j1")) == 1 && len(cs.postsOf("j2")) == 1 })
	cs.mu.Lock()
	r1, r2 := cs.postsOf("j1")[0], cs.postsOf("j2")[0]
	cs.mu.Unlock()
	if r1.Status != patchbay.JobFailed || !strings.Contains(r1.Reason, `unknown action "shell"`) {
		t.Errorf("unknown action: %v", r1)
	}
	if r2.Status != patchbay.JobFailed || !strings.Contains(r2.Reason, `check "nagios-disk" is not registered`) {
		t.Errorf("unregistered check: %v", r2)
	}
	if n := ta.pm.installCount(); n != 0 {
		t.Errorf("package manager ran %d times", n)
	}
}

func (s *sleeps) long() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, d := range s.d {
		if d >= time.Minute {
			n++
		}
	}
	return n
}

// TestServerWithoutJobRoutes: an agent of this version talking to an
// older server asks for jobs again at the check-in pace, not every few
// seconds.
func TestServerWithoutJobRoutes(t *testing.T) {
	cs := newControlServer(t)
	cs.noJobRoutes = true
	ta := startAgent(t, cs, t.TempDir(), newFakePM())
	// Two long waits: the check-in loop's interval and the job loop's
	// after its refused poll.
	deadline := time.Now().Add(20 * time.Second)
	for ta.sleeps.long() < 2 {
		if time.Now().After(deadline) {
			cs.mu.Lock()
			defer cs.mu.Unlock()
			t.Fatalf("job loop did not wait an interval after a 404 poll: %d polls, backoffs %v", cs.polls, ta.sleeps.backoffs())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.polls != 1 || len(ta.sleeps.backoffs()) != 0 {
		t.Errorf("%d polls, backoffs %v; want one poll and then an interval", cs.polls, ta.sleeps.backoffs())
	}
}

// TestRefusedCredentialEnrolsOnce: the server no longer accepts the saved
// credential (the machine was enrolled again, say). Both loops are
// refused; the agent enrols again once, with the token it has, and jobs
// flow with the new credential.
func TestRefusedCredentialEnrolsOnce(t *testing.T) {
	cs := newControlServer(t)
	cs.token = credential.NewEnroll(pki.CAHash(cs.srv.Certificate().Raw)).String()
	cs.newCred = "pbh_new"
	cs.cred = "pbh_revoked" // neither the saved one nor the next
	cs.enqueue(patchbay.Job{ID: "j1", Action: patchbay.JobRefresh})
	ta := startAgent(t, cs, t.TempDir(), newFakePM())

	cs.waitUntil("result of j1", func() bool { return len(cs.postsOf("j1")) == 1 })
	cs.waitUntil("an inventory", func() bool { return len(cs.inventories) > 0 })
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.enrolments != 1 {
		t.Errorf("%d enrolments, want 1", cs.enrolments)
	}
	if st, _, err := loadState(ta.stateDir); err != nil || st.Credential != "pbh_new" {
		t.Errorf("saved credential %q (%v), want the new one", st.Credential, err)
	}
}
