package job

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay"
)

// fakeChangelogs answers changelog reads; the lab test reads real ones
// with real apt.
type fakeChangelogs struct {
	file  patchbay.ChangelogFile
	err   error
	calls int
}

func (f *fakeChangelogs) Changelog(_ context.Context, pkgs []patchbay.PackageVersion) (patchbay.ChangelogFile, error) {
	f.calls++
	return f.file, f.err
}

func changelogJob(id string) patchbay.Job {
	return patchbay.Job{ID: id, Action: patchbay.JobChangelog, Packages: []patchbay.PackageVersion{{Name: "tzdata", Version: "2025b-0+deb12u1"}}}
}

func TestChangelogJob(t *testing.T) {
	file := patchbay.ChangelogFile{Package: "tzdata", Version: "2025b-0+deb12u1", Source: "tzdata", SourceVersion: "2025b-0+deb12u1",
		Path: "usr/share/doc/tzdata/changelog.Debian.gz", Text: "tzdata (2025b-0+deb12u1) bookworm; urgency=medium\n"}
	tests := []struct {
		name       string
		reader     *fakeChangelogs // nil: none configured
		wantStatus patchbay.JobStatus
		wantReason string
		wantFile   *patchbay.ChangelogFile
		wantSteps  []string
	}{
		{name: "read", reader: &fakeChangelogs{file: file}, wantStatus: patchbay.JobSucceeded, wantFile: &file,
			wantSteps: []string{"changelog=succeeded"}},
		{name: "download fails", reader: &fakeChangelogs{err: errors.New("apt-get download tzdata=2025b-0+deb12u1: exit 100: E: Can't find a source")},
			wantStatus: patchbay.JobFailed, wantReason: "changelog failed: apt-get download", wantSteps: []string{"changelog=failed"}},
		{name: "no reader: refused before anything runs", wantStatus: patchbay.JobFailed, wantReason: "refused: this host's package manager cannot read changelogs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pm := newFake()
			cfg := Config{Dir: t.TempDir(), Manager: pm, Installer: pm, Now: func() time.Time { return clock }}
			if tt.reader != nil {
				cfg.Changelogs = tt.reader
			}
			e, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			res, err := e.Run(context.Background(), changelogJob("cl-1-1"))
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tt.wantStatus || !strings.HasPrefix(res.Reason, tt.wantReason) || tt.wantReason == "" && res.Reason != "" {
				t.Errorf("status %s, reason %q; want %s, %q", res.Status, res.Reason, tt.wantStatus, tt.wantReason)
			}
			if diff := cmp.Diff(tt.wantFile, res.Changelog); diff != "" {
				t.Errorf("changelog (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantSteps, stepNames(res)); diff != "" {
				t.Errorf("steps (-want +got):\n%s", diff)
			}
			if len(pm.calls) != 0 {
				t.Errorf("a changelog job called the package manager: %v", pm.calls)
			}
		})
	}
}

// TestChangelogJobResumed: an agent stopped while reading a changelog
// reads it again when it restarts (nothing on the host changed).
func TestChangelogJobResumed(t *testing.T) {
	dir := t.TempDir()
	pm := newFake()
	r := &fakeChangelogs{file: patchbay.ChangelogFile{Package: "tzdata", Text: "x"}}
	e, err := New(Config{Dir: dir, Manager: pm, Installer: pm, Changelogs: r, Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	// What a kill during the step leaves: the step on disk, running.
	rec := &record{Job: changelogJob("cl-2-1"), Result: patchbay.JobResult{JobID: "cl-2-1", Action: patchbay.JobChangelog, Status: patchbay.JobRunning,
		Steps: []patchbay.StepResult{{Name: "changelog", Status: patchbay.JobRunning, StartedAt: clock}}, StartedAt: clock}}
	if err := e.save(rec); err != nil {
		t.Fatal(err)
	}
	results, err := e.Resume(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 || results[0].Status != patchbay.JobSucceeded || !results[0].Resumed || results[0].Changelog == nil || r.calls != 1 {
		t.Fatalf("resumed: %+v (reads %d)", results, r.calls)
	}
	if diff := cmp.Diff([]string{"changelog=failed", "changelog=succeeded"}, stepNames(results[0])); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
}
