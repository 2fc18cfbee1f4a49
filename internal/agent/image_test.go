package agent

import (
	"context"
	"encoding/pem"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay"
)

// runImageOnce runs RunImage against cs, enrolled (state saved), with the
// real executor over pm and a NoServices that records its calls.
func runImageOnce(t *testing.T, cs *controlServer, stateDir string, pm *fakePM, guard *[]string) error {
	t.Helper()
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cs.srv.Certificate().Raw})
	if err := saveState(stateDir, state{Server: cs.srv.URL, HostID: 1, MachineID: "m1", Credential: savedCred, CAPEM: string(caPEM)}); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return RunImage(context.Background(), Config{
		Server: cs.srv.URL, StateDir: stateDir, Interval: time.Hour,
		Collector: ImageCollector{Host: &HostCollector{Root: "/", Manager: pm, Now: time.Now, Logger: logger}, Label: "web-template"},
		Jobs:      newExecutor(t, stateDir, pm), Logger: logger, Image: "web-template",
	}, Image{Root: "/srv/images/web", Label: "web-template", NoServices: func(root string) (func() error, error) {
		*guard = append(*guard, "deny "+root)
		return func() error { *guard = append(*guard, "restore"); return nil }, nil
	}})
}

func TestRunImageInstallsOffline(t *testing.T) {
	cs := newControlServer(t)
	j := installJob("r1-h1-a1")
	j.Checks = []string{"http-ok"} // not registered: an image runs none
	cs.enqueue(j)
	cs.enqueue(patchbay.Job{ID: "cl-1-1", Action: patchbay.JobChangelog, Packages: []patchbay.PackageVersion{demo2}})
	pm := newFakePM()
	var guard []string
	if err := runImageOnce(t, cs, t.TempDir(), pm, &guard); err != nil {
		t.Fatalf("RunImage: %v", err)
	}
	if strings.Join(guard, ",") != "deny /srv/images/web,restore,deny /srv/images/web,restore" {
		// once for Resume (nothing to resume), once for the job
		t.Errorf("policy-rc.d guard calls: %v", guard)
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if len(cs.posts) != 1 || cs.posts[0].JobID != "r1-h1-a1" || cs.posts[0].Status != patchbay.JobSucceeded {
		t.Fatalf("posts %+v, want r1-h1-a1 succeeded only (no changelog job on an image)", cs.posts)
	}
	var note string
	for _, s := range cs.posts[0].Steps {
		if s.Name == "checks" {
			note = s.Message
		}
	}
	if !strings.Contains(note, "skipped on an image") || !strings.Contains(note, "http-ok") {
		t.Errorf("checks note %q", note)
	}
	if len(cs.inventories) != 2 || inventoryVersion(cs.inventories[1], "demo-app") != "1.0-2" {
		t.Fatalf("inventories: %d, want the first and the one after the install", len(cs.inventories))
	}
	inv := cs.inventories[1]
	if inv.Hostname != "web-template" || inv.BootID != "" || inv.UptimeSeconds != 0 || len(inv.IPAddresses) != 0 || inv.RebootRequired {
		t.Errorf("image inventory has running-system facts: %+v", inv)
	}
}

func TestRunImageFailedJobIsAnError(t *testing.T) {
	cs := newControlServer(t)
	j := installJob("r1-h1-a1")
	j.Packages = []patchbay.PackageVersion{{Name: "demo-app", Version: "9.9-9"}}
	cs.enqueue(j)
	var guard []string
	err := runImageOnce(t, cs, t.TempDir(), newFakePM(), &guard)
	if err == nil || !strings.Contains(err.Error(), "job r1-h1-a1 (install) failed") {
		t.Fatalf("RunImage: %v, want the job's failure", err)
	}
	if guard[len(guard)-1] != "restore" {
		t.Errorf("guard not restored after the failure: %v", guard)
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if len(cs.posts) != 1 || cs.posts[0].Status != patchbay.JobFailed {
		t.Errorf("posts %+v", cs.posts)
	}
}

func TestRunImageNothingToDo(t *testing.T) {
	cs := newControlServer(t)
	var guard []string
	if err := runImageOnce(t, cs, t.TempDir(), newFakePM(), &guard); err != nil {
		t.Fatal(err)
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if len(cs.inventories) != 1 || len(cs.posts) != 0 {
		t.Errorf("inventories %d, posts %d; want 1 and 0", len(cs.inventories), len(cs.posts))
	}
}

func TestNewestKernel(t *testing.T) {
	tests := []struct {
		name string
		pkgs []patchbay.Package
		want string
	}{
		{"none", []patchbay.Package{{Name: "bash", Version: "5.2"}}, ""},
		{"metapackage only", []patchbay.Package{{Name: "linux-image-amd64", Version: "6.1.119-1"}}, ""},
		{"newest ABI", []patchbay.Package{
			{Name: "linux-image-amd64", Version: "6.1.119-1"},
			{Name: "linux-image-6.1.0-9-amd64", Version: "6.1.27-1"},
			{Name: "linux-image-6.1.0-28-amd64", Version: "6.1.119-1"},
			{Name: "linux-image-6.1.0-10-amd64", Version: "6.1.38-1"},
		}, "6.1.0-28-amd64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := newestKernel(tt.pkgs); got != tt.want {
				t.Errorf("newestKernel = %q, want %q", got, tt.want)
			}
		})
	}
}
