package hook_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay/internal/agent/check"
	"github.com/patchbay/patchbay/internal/agent/hook"
	"github.com/patchbay/patchbay/internal/pkgmgr/osexec"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// parsed is what a golden file holds: the Config Parse returned, or its
// error.
type parsed struct {
	Config *hook.Config `json:"config,omitempty"`
	Error  string       `json:"error,omitempty"`
}

// inputs are the hooks files under testdata: valid-*.json must parse,
// invalid-*.json must not.
func inputs(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob("testdata/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 40 {
		t.Fatalf("%d hooks files in testdata, want at least 40", len(files))
	}
	return files
}

func TestParseGolden(t *testing.T) {
	events := map[string]bool{}
	for _, f := range inputs(t) {
		name := filepath.Base(f)
		t.Run(strings.TrimSuffix(name, ".json"), func(t *testing.T) {
			cfg, err := hook.Parse(read(t, f))
			var got parsed
			switch {
			case strings.HasPrefix(name, "valid-"):
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if err := cfg.Validate(); err != nil {
					t.Errorf("accepted config does not validate: %v", err)
				}
				for _, h := range cfg.Hooks {
					events[h.Event] = true
				}
				got.Config = &cfg
			case strings.HasPrefix(name, "invalid-"):
				if err == nil {
					t.Fatalf("Parse accepted %s: %+v", f, cfg)
				}
				got.Error = err.Error()
			default:
				t.Fatalf("%s: name a hooks file valid-*.json or invalid-*.json", f)
			}
			checkGolden(t, filepath.Join("testdata", "golden", name), got)
		})
	}
	for _, e := range hook.Events {
		if !events[e] {
			t.Errorf("no valid hooks file has a %s hook", e)
		}
	}
}

// TestParseFull pins the file that uses every field and every event, so a
// golden file rewritten by mistake with -update does not hide a regression.
func TestParseFull(t *testing.T) {
	cfg, err := hook.Parse(read(t, "testdata/valid-full.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := hook.Config{Hooks: []hook.Spec{
		{Event: hook.PrePatch, Name: "announce", Command: []string{"/usr/local/bin/notify", "--channel", "#ops", "patching $(hostname)"}, Timeout: check.Duration(90 * time.Second)},
		{Event: hook.PreReboot, Name: "drain", Command: []string{"/usr/local/sbin/vz-migrate-all", "--to", "vz2"}, Timeout: check.Duration(30 * time.Minute)},
		{Event: hook.PostPatch, Name: "note", Command: []string{"logger", "-t", "patchbay", "patched"}},
		{Event: hook.PrePatch, Name: "lb.leave_1", Command: []string{"/usr/local/sbin/lb", "leave"}, Timeout: check.Duration(hook.MaxTimeout)},
		{Event: hook.PostReboot, Name: "restore", Command: []string{"/usr/local/sbin/vz-migrate-all", "--back"}, Timeout: check.Duration(30 * time.Minute)},
	}}
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Errorf("Parse (-want +got):\n%s", diff)
	}
}

func TestLoad(t *testing.T) {
	cfg, err := hook.Load("")
	if err != nil || len(cfg.Hooks) != 0 {
		t.Errorf(`Load(""): %+v, %v; want no hooks`, cfg, err)
	}

	missing := filepath.Join(t.TempDir(), "hooks.json")
	if _, err := hook.Load(missing); err == nil || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "read hooks file") {
		t.Errorf("Load of a missing file: %v; want a read error wrapping os.ErrNotExist", err)
	}

	cfg, err = hook.Load("testdata/valid-full.json")
	if err != nil {
		t.Fatal(err)
	}
	want, err := hook.Parse(read(t, "testdata/valid-full.json"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Errorf("Load differs from Parse (-Parse +Load):\n%s", diff)
	}

	const bad = "testdata/invalid-unknown-event.json"
	if _, err := hook.Load(bad); err == nil || !strings.Contains(err.Error(), "hooks file "+bad+": ") || !strings.Contains(err.Error(), `unknown event "pre-install"`) {
		t.Errorf("Load(%s): %v; want the path and the reason", bad, err)
	}
}

func FuzzParse(f *testing.F) {
	for _, file := range inputs(f) {
		f.Add(read(f, file))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := hook.Parse(data)
		if err != nil {
			return
		}
		// Whatever parses is valid: known events, well-formed names unique
		// per event, a command, a timeout in range.
		if err := cfg.Validate(); err != nil {
			t.Fatalf("parsed config does not validate: %v", err)
		}
		for _, h := range cfg.Hooks {
			if !slices.Contains(hook.Events, h.Event) {
				t.Fatalf("hook %+v: event not in hook.Events", h)
			}
			if len(h.Command) == 0 || h.Command[0] == "" {
				t.Fatalf("hook %+v has no command", h)
			}
			if h.Timeout < 0 || time.Duration(h.Timeout) > hook.MaxTimeout {
				t.Fatalf("hook %+v: timeout out of range", h)
			}
		}

		// Written back out, it reads back the same.
		b, err := json.Marshal(cfg)
		if err != nil {
			t.Fatalf("marshal %+v: %v", cfg, err)
		}
		again, err := hook.Parse(b)
		if err != nil {
			t.Fatalf("re-encoded config %s does not parse: %v", b, err)
		}
		if diff := cmp.Diff(cfg, again); diff != "" {
			t.Fatalf("round trip through %s changed the config (-first +second):\n%s", b, diff)
		}

		// For splits the hooks by event, each in the file's order.
		set := hook.New(cfg, osexec.Runner{})
		var all []hook.Spec
		for _, e := range hook.Events {
			got := set.For(e)
			var want []hook.Spec
			for _, h := range cfg.Hooks {
				if h.Event == e {
					want = append(want, h)
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("For(%s) (-want +got):\n%s", e, diff)
			}
			all = append(all, got...)
		}
		if len(all) != len(cfg.Hooks) {
			t.Fatalf("For over every event gives %d hooks, the file has %d", len(all), len(cfg.Hooks))
		}
	})
}

func TestSetFor(t *testing.T) {
	a := hook.Spec{Event: hook.PreReboot, Name: "a", Command: []string{"a"}}
	b := hook.Spec{Event: hook.PrePatch, Name: "b", Command: []string{"b"}}
	c := hook.Spec{Event: hook.PreReboot, Name: "c", Command: []string{"c"}}
	d := hook.Spec{Event: hook.PostReboot, Name: "a", Command: []string{"d"}}
	e := hook.Spec{Event: hook.PreReboot, Name: "0", Command: []string{"e"}}
	set := hook.New(hook.Config{Hooks: []hook.Spec{a, b, c, d, e}}, osexec.Runner{})

	tests := []struct {
		event string
		want  []hook.Spec
	}{
		{hook.PrePatch, []hook.Spec{b}},
		{hook.PostPatch, nil},
		{hook.PreReboot, []hook.Spec{a, c, e}}, // the file's order, not by name
		{hook.PostReboot, []hook.Spec{d}},
		{"reboot", nil},
		{"", nil},
	}
	for _, tt := range tests {
		t.Run(tt.event, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, set.For(tt.event)); diff != "" {
				t.Errorf("For(%q) (-want +got):\n%s", tt.event, diff)
			}
		})
	}

	var none *hook.Set
	if got := none.For(hook.PrePatch); got != nil {
		t.Errorf("nil Set: For = %v, want nil", got)
	}
	if got := hook.New(hook.Config{}, osexec.Runner{}).For(hook.PrePatch); got != nil {
		t.Errorf("empty Set: For = %v, want nil", got)
	}
}

func TestStepName(t *testing.T) {
	if got, want := (hook.Spec{Event: hook.PostReboot, Name: "restore"}).StepName(), "hook:post-reboot:restore"; got != want {
		t.Errorf("StepName = %q, want %q", got, want)
	}
}

// script writes an executable shell script to a temporary directory and
// returns its path.
func script(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hook.sh")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRun(t *testing.T) {
	ctx := context.Background()
	set := hook.New(hook.Config{}, osexec.Runner{})

	t.Run("exit 0", func(t *testing.T) {
		h := hook.Spec{Event: hook.PrePatch, Name: "hello", Command: []string{script(t, `echo "to stderr" >&2; echo "hello $1"; echo "[$2]"`), "world", "two words"}}
		out, err := set.Run(ctx, h, "job-1")
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		// stdout then stderr, whatever order they were written in; argv
		// reaches the script unsplit (no shell in between).
		if got, want := string(out), "hello world\n[two words]\nto stderr\n"; got != want {
			t.Errorf("output %q, want %q", got, want)
		}
	})

	t.Run("exit 0 with no output", func(t *testing.T) {
		h := hook.Spec{Event: hook.PostPatch, Name: "quiet", Command: []string{script(t, "exit 0")}}
		out, err := set.Run(ctx, h, "job-1")
		if err != nil || len(out) != 0 {
			t.Errorf("Run: %q, %v; want no output and no error", out, err)
		}
	})

	t.Run("environment", func(t *testing.T) {
		h := hook.Spec{Event: hook.PreReboot, Name: "drain", Command: []string{script(t,
			`echo "event=$PATCHBAY_HOOK_EVENT"; echo "name=$PATCHBAY_HOOK_NAME"; echo "job=$PATCHBAY_JOB_ID"`)}}
		out, err := set.Run(ctx, h, "7f3c-job")
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if got, want := string(out), "event=pre-reboot\nname=drain\njob=7f3c-job\n"; got != want {
			t.Errorf("output %q, want %q", got, want)
		}
	})

	t.Run("non-zero exit", func(t *testing.T) {
		h := hook.Spec{Event: hook.PostReboot, Name: "restore", Command: []string{script(t, "echo partner down >&2; exit 3")}}
		out, err := set.Run(ctx, h, "job-1")
		if err == nil {
			t.Fatal("Run succeeded, want an error")
		}
		if got, want := err.Error(), "post-reboot hook restore exited with status 3"; got != want {
			t.Errorf("error %q, want %q", got, want)
		}
		if got, want := string(out), "partner down\n"; got != want {
			t.Errorf("output %q, want %q (kept on failure)", got, want)
		}
	})

	t.Run("killed by a signal", func(t *testing.T) {
		h := hook.Spec{Event: hook.PrePatch, Name: "suicide", Command: []string{script(t, "kill -9 $$")}}
		_, err := set.Run(ctx, h, "job-1")
		if err == nil || !strings.Contains(err.Error(), "exited with status 137") {
			t.Errorf("Run: %v; want exit status 137 (128+SIGKILL)", err)
		}
	})

	t.Run("timeout", func(t *testing.T) {
		h := hook.Spec{Event: hook.PreReboot, Name: "slow", Command: []string{script(t, "echo started; sleep 30; echo finished")},
			Timeout: check.Duration(200 * time.Millisecond)}
		start := time.Now()
		out, err := set.Run(ctx, h, "job-1")
		if elapsed := time.Since(start); elapsed > 20*time.Second {
			t.Errorf("Run returned after %s: the hook was not killed at its timeout", elapsed)
		}
		if err == nil {
			t.Fatal("Run succeeded, want a timeout")
		}
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "timed out after 200ms") ||
			!strings.HasPrefix(err.Error(), "pre-reboot hook slow: ") {
			t.Errorf("error %q, want a timeout of pre-reboot hook slow after 200ms", err)
		}
		if got := string(out); got != "started\n" {
			t.Errorf("output %q, want what the hook wrote before it was killed", got)
		}
	})

	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(ctx)
		cancel()
		h := hook.Spec{Event: hook.PrePatch, Name: "never", Command: []string{script(t, "sleep 30")}}
		_, err := set.Run(ctx, h, "job-1")
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run with a cancelled context: %v; want context.Canceled", err)
		}
	})

	t.Run("not runnable", func(t *testing.T) {
		dir := t.TempDir()
		notExec := filepath.Join(dir, "not-exec.sh")
		if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{filepath.Join(dir, "missing"), notExec, "no-such-hook-command-on-path"} {
			h := hook.Spec{Event: hook.PostPatch, Name: "gone", Command: []string{path}}
			_, err := set.Run(ctx, h, "job-1")
			if err == nil || !strings.HasPrefix(err.Error(), "post-patch hook gone: ") || !strings.Contains(err.Error(), filepath.Base(path)) {
				t.Errorf("Run(%s): %v; want an error naming the hook and the command", path, err)
			}
		}
	})
}

func checkGolden(t *testing.T, path string, got any) {
	t.Helper()
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), string(b)); diff != "" {
		t.Errorf("%s differs from the golden file (-want +got):\n%s", path, diff)
	}
}

func read(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
