package cli

import (
	"bytes"
	"strings"
	"testing"
)

// The rollout flags are parsed by the domain's shared parsers (the web
// UI's form uses them too); a bad value is still a usage error (exit 2)
// named after its flag, caught before any server is contacted.
func TestRolloutsCreateFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--ring", ":percent=100"}, `error: --ring ":percent=100": want NAME:SPEC`},
		{[]string{"--ring", "x:size=3"}, `error: --ring x: unknown key "size"`},
		{[]string{"--ring", "x:bake=soon"}, `error: --ring x: bake=soon: duration "soon": want e.g. 30m, 4h or 2d`},
		{[]string{"--ring", "all:percent=100", "--budget", "some"}, `error: --budget "some": want a count or N%`},
		{[]string{"--ring", "all:percent=100", "--window", "length=4h"}, `error: --window: unknown key "length"`},
		{[]string{"--ring", "all:percent=100", "--host-timeout", "soon"}, `error: --host-timeout: duration "soon"`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append([]string{"rollouts", "create", "--name", "x", "--server", "https://127.0.0.1:1", "--token", "t"}, tc.args...)
			if code := Run(t.Context(), args, strings.NewReader(""), &stdout, &stderr); code != exitUsage {
				t.Fatalf("exit code %d, want %d; stderr:\n%s", code, exitUsage, stderr.String())
			}
			if !strings.HasPrefix(stderr.String(), tc.want) {
				t.Errorf("stderr = %q, want it to start with %q", stderr.String(), tc.want)
			}
		})
	}
}
