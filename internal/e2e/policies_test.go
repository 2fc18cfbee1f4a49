package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay"
)

// TestPoliciesAndExceptionsCLI: the policies and exceptions commands of
// the real binary against a real server: create, show, edit, list, grant,
// revoke; bad input exits 1 or 2 with a message naming the problem and
// stores nothing.
func TestPoliciesAndExceptionsCLI(t *testing.T) {
	s := startServer(t)
	cli := func(args ...string) string { return string(s.CLI(t, args...)) }
	fails := func(wantCode int, wantMsg string, args ...string) {
		t.Helper()
		_, errOut, code := run(t, append([]string{"--config", s.Config}, args...)...)
		if code != wantCode || !strings.Contains(string(errOut), wantMsg) {
			t.Errorf("patchbay %s: exit %d, stderr %q; want exit %d mentioning %q", strings.Join(args, " "), code, errOut, wantCode, wantMsg)
		}
	}

	out := cli("policies", "create", "prod", "--classification", "security", "--min-severity", "medium", "--min-age", "7d",
		"--approve-kev", "--reject", "linux-image-*", "--description", "production baseline")
	for _, want := range []string{"policy prod", "classification:  security", "min age:         7d", "reject:          linux-image-*", "approve KEV:     yes"} {
		if !strings.Contains(out, want) {
			t.Errorf("policies create output lacks %q:\n%s", want, out)
		}
	}
	p := decode[patchbay.Policy](t, s.CLI(t, "policies", "edit", "prod", "--min-age", "3d", "--approve", "openssl", "-o", "json"))
	if p.MinAge != 3*24*time.Hour || strings.Join(p.Approve, ",") != "openssl" || p.MinSeverity != patchbay.SeverityMedium || !p.ApproveKEV {
		t.Errorf("after edit: %+v (only min age and approve should change)", p)
	}
	list := decode[[]patchbay.Policy](t, s.CLI(t, "policies", "list", "-o", "json"))
	if len(list) != 3 || list[0].Name != "all" || list[1].Name != "security" || list[2].Name != "prod" {
		t.Errorf("policies list: %+v", list)
	}
	if out := cli("policies", "show", "security"); !strings.Contains(out, "(built in)") {
		t.Errorf("policies show security:\n%s", out)
	}
	fails(1, `package pattern "[x"`, "policies", "create", "bad", "--approve", "[x")
	fails(1, "built in", "policies", "edit", "all", "--min-age", "1d")
	fails(2, "give the rules to change", "policies", "edit", "prod")
	fails(2, "--min-age", "policies", "create", "x", "--min-age", "soon")
	fails(1, `policy "nope" not found`, "rollouts", "create", "--name", "r", "--policy", "nope", "--ring", "all:percent=100")
	if list := decode[[]patchbay.Policy](t, s.CLI(t, "policies", "list", "-o", "json")); len(list) != 3 {
		t.Errorf("refused commands stored policies: %+v", list)
	}

	out = cli("exceptions", "create", "--all", "--package", "openssl", "--reason", "certified on 3.0.11", "--owner", "team-web", "--expires", "30d")
	if !strings.Contains(out, "exception 1: package openssl on all hosts until") || !strings.Contains(out, "(owner team-web)") {
		t.Errorf("exceptions create output:\n%s", out)
	}
	fails(2, "--expires is required", "exceptions", "create", "--all", "--package", "x", "--reason", "r", "--owner", "o")
	fails(1, "not in the future", "exceptions", "create", "--all", "--package", "x", "--reason", "r", "--owner", "o", "--expires", "2020-01-01")
	fails(1, "more than 366 days", "exceptions", "create", "--all", "--package", "x", "--reason", "r", "--owner", "o", "--expires", "400d")
	fails(1, "exactly one scope", "exceptions", "create", "--package", "x", "--reason", "r", "--owner", "o", "--expires", "1d")
	fails(1, "needs an owner", "exceptions", "create", "--all", "--package", "x", "--reason", "r", "--expires", "1d")
	out = cli("exceptions", "list")
	if !strings.Contains(out, "active") || !strings.Contains(out, "package openssl") || !strings.Contains(out, "certified on 3.0.11") || strings.Count(out, "\n") != 2 {
		t.Errorf("exceptions list:\n%s", out)
	}
	fails(2, "--reason is required", "exceptions", "revoke", "1")
	if out := cli("exceptions", "revoke", "1", "--reason", "app upgraded"); !strings.Contains(out, "exception 1 revoked") {
		t.Errorf("revoke: %s", out)
	}
	fails(1, "revoked already", "exceptions", "revoke", "1", "--reason", "again")
	all := decode[[]patchbay.Exception](t, s.CLI(t, "exceptions", "list", "--all", "-o", "json"))
	if len(all) != 1 || all[0].State != patchbay.ExceptionRevoked || all[0].RevokeReason != "app upgraded" || all[0].CreatedBy == "" {
		t.Errorf("exceptions list --all: %+v", all)
	}
	if out := cli("exceptions", "list"); strings.Count(out, "\n") != 1 {
		t.Errorf("exceptions in force after the revoke:\n%s", out)
	}
}
