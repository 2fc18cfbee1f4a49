package patchbay

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseRing(t *testing.T) {
	tests := []struct {
		in   string
		want Ring
		bad  string // the error message, when the input is refused
	}{
		{in: "canary:selector=role=template,gates=web+disk,canary,bake=1h",
			want: Ring{Name: "canary", Selector: Selector{"role": "template"}, MaxConcurrency: 1, BakeTime: time.Hour,
				HealthGates: []string{"web", "disk"}, Canary: true}},
		{in: "wave1:percent=50,concurrency=2,bake=10m", want: Ring{Name: "wave1", Percent: 50, MaxConcurrency: 2, BakeTime: 10 * time.Minute}},
		{in: "rest:percent=100%,bake=2d", want: Ring{Name: "rest", Percent: 100, MaxConcurrency: 1, BakeTime: 48 * time.Hour}},
		{in: "two:selector=role=db,selector=env=prod,count=3",
			want: Ring{Name: "two", Selector: Selector{"role": "db", "env": "prod"}, Count: 3, MaxConcurrency: 1}},
		{in: " spaced : count=1 , canary ", want: Ring{Name: "spaced", Count: 1, MaxConcurrency: 1, Canary: true}},
		{in: ":percent=100", bad: `ring ":percent=100": want NAME:SPEC`},
		{in: "x:selector=role", bad: `ring x: selector=KEY=VALUE, not "selector=role"`},
		{in: "x:size=3", bad: `ring x: unknown key "size" (want selector, count, percent, concurrency, bake, gates, canary)`},
		{in: "x:count=three", bad: `ring x: count=three: strconv.Atoi: parsing "three": invalid syntax`},
		{in: "x:bake=soon", bad: `ring x: bake=soon: duration "soon": want e.g. 30m, 4h or 2d`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRing(tt.in)
			if tt.bad != "" {
				if err == nil {
					t.Fatalf("ParseRing(%q) = %+v, want an error", tt.in, got)
				}
				if ErrorCode(err) != EINVALID || ErrorMessage(err) != tt.bad {
					t.Fatalf("ParseRing(%q): %v, want invalid: %s", tt.in, err, tt.bad)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseWindowAndBudget(t *testing.T) {
	w, err := ParseWindow("cron=0 22 8-14 * 2; duration=4h; tz=Europe/London; offset=4d")
	if err != nil {
		t.Fatal(err)
	}
	want := Window{Cron: "0 22 8-14 * 2", Duration: 4 * time.Hour, TimeZone: "Europe/London", DayOffset: 4}
	if diff := cmp.Diff(want, w); diff != "" {
		t.Errorf("window (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"cron=0 22 * * 2;length=4h", "duration=forever", "offset=xd"} {
		if _, err := ParseWindow(bad); ErrorCode(err) != EINVALID {
			t.Errorf("ParseWindow(%q): %v, want invalid", bad, err)
		}
	}
	for in, want := range map[string]FailureBudget{"0": {}, "2": {Count: 2}, "10%": {Percent: 10}} {
		got, err := ParseFailureBudget(in)
		if err != nil || got != want {
			t.Errorf("ParseFailureBudget(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	if _, err := ParseFailureBudget("some"); ErrorMessage(err) != `budget "some": want a count or N%` {
		t.Errorf("ParseFailureBudget(some): %v", err)
	}
	for in, want := range map[string]time.Duration{"30m": 30 * time.Minute, "2d": 48 * time.Hour, "0": 0} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseDuration("xd"); err == nil {
		t.Error("ParseDuration(xd): no error")
	}
}
