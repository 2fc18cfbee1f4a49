package cli

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay"
)

func TestParseRing(t *testing.T) {
	tests := []struct {
		in   string
		want patchbay.Ring
		bad  bool
	}{
		{in: "canary:selector=role=template,gates=web+disk,canary,bake=1h",
			want: patchbay.Ring{Name: "canary", Selector: patchbay.Selector{"role": "template"}, MaxConcurrency: 1, BakeTime: time.Hour,
				HealthGates: []string{"web", "disk"}, Canary: true}},
		{in: "wave1:percent=50,concurrency=2,bake=10m", want: patchbay.Ring{Name: "wave1", Percent: 50, MaxConcurrency: 2, BakeTime: 10 * time.Minute}},
		{in: "rest:percent=100%,bake=2d", want: patchbay.Ring{Name: "rest", Percent: 100, MaxConcurrency: 1, BakeTime: 48 * time.Hour}},
		{in: "two:selector=role=db,selector=env=prod,count=3",
			want: patchbay.Ring{Name: "two", Selector: patchbay.Selector{"role": "db", "env": "prod"}, Count: 3, MaxConcurrency: 1}},
		{in: ":percent=100", bad: true},
		{in: "x:selector=role", bad: true},
		{in: "x:size=3", bad: true},
		{in: "x:count=three", bad: true},
		{in: "x:bake=soon", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseRing(tt.in)
			if tt.bad {
				if err == nil {
					t.Fatalf("parseRing(%q) = %+v, want an error", tt.in, got)
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
	w, err := parseWindow("cron=0 22 8-14 * 2; duration=4h; tz=Europe/London; offset=4d")
	if err != nil {
		t.Fatal(err)
	}
	want := patchbay.Window{Cron: "0 22 8-14 * 2", Duration: 4 * time.Hour, TimeZone: "Europe/London", DayOffset: 4}
	if diff := cmp.Diff(want, w); diff != "" {
		t.Errorf("window (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"cron=0 22 * * 2;length=4h", "duration=forever", "offset=xd"} {
		if _, err := parseWindow(bad); err == nil {
			t.Errorf("parseWindow(%q): no error", bad)
		}
	}
	for in, want := range map[string]patchbay.FailureBudget{"0": {}, "2": {Count: 2}, "10%": {Percent: 10}} {
		got, err := parseBudget(in)
		if err != nil || got != want {
			t.Errorf("parseBudget(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	if _, err := parseBudget("some"); err == nil {
		t.Error("parseBudget(some): no error")
	}
}
