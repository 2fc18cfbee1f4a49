package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay"
)

// TestPolicyAndExceptionRoutes: policies are created, read, replaced and
// listed with the built-in ones; a rename, bad JSON or a bad pattern is a
// 400 that stores nothing; exceptions are granted, listed, read and
// revoked once; hosts may do none of it.
func TestPolicyAndExceptionRoutes(t *testing.T) {
	f := newFixture(t)
	cred := f.enrolHost(t, "0123456789abcdef0123456789abcdef", "web1")

	body, _ := json.Marshal(patchbay.Policy{Name: "prod", Classification: patchbay.ClassSecurity, MinAge: 7 * 24 * time.Hour, Reject: []string{"linux-image-*"}})
	if code, out := f.do(t, "POST", "/api/v1/policies", f.admin, body); code != http.StatusCreated || !strings.Contains(out, `"created_by": "test"`) {
		t.Fatalf("create policy: %d %s", code, out)
	}
	if code, out := f.do(t, "POST", "/api/v1/policies", f.admin, body); code != http.StatusConflict {
		t.Errorf("create twice: %d %s", code, out)
	}
	if code, out := f.do(t, "POST", "/api/v1/policies", cred, body); code != http.StatusForbidden {
		t.Errorf("create by a host: %d %s", code, out)
	}
	for name, b := range map[string]string{
		"bad pattern":   `{"name":"x","classification":"all","approve":["[a"]}`,
		"unknown field": `{"name":"x","classification":"all","approve_all":true}`,
		"truncated":     `{"name":"x"`,
	} {
		if code, out := f.do(t, "POST", "/api/v1/policies", f.admin, []byte(b)); code != http.StatusBadRequest {
			t.Errorf("%s: %d %s", name, code, out)
		}
	}
	edit, _ := json.Marshal(patchbay.Policy{Classification: patchbay.ClassAll, ApproveKEV: true})
	code, out := f.do(t, "PUT", "/api/v1/policies/prod", f.admin, edit)
	var p patchbay.Policy
	if err := json.Unmarshal([]byte(out), &p); code != http.StatusOK || err != nil || !p.ApproveKEV || p.MinAge != 0 || p.Classification != patchbay.ClassAll {
		t.Fatalf("replace policy: %d %s", code, out)
	}
	rename, _ := json.Marshal(patchbay.Policy{Name: "other", Classification: patchbay.ClassAll})
	if code, out := f.do(t, "PUT", "/api/v1/policies/prod", f.admin, rename); code != http.StatusBadRequest {
		t.Errorf("rename: %d %s", code, out)
	}
	if code, out := f.do(t, "PUT", "/api/v1/policies/security", f.admin, edit); code != http.StatusBadRequest {
		t.Errorf("edit a built-in policy: %d %s", code, out)
	}
	if code, out := f.do(t, "GET", "/api/v1/policies/nope", f.admin, nil); code != http.StatusNotFound {
		t.Errorf("unknown policy: %d %s", code, out)
	}
	code, out = f.do(t, "GET", "/api/v1/policies", f.admin, nil)
	var list []patchbay.Policy
	if err := json.Unmarshal([]byte(out), &list); code != http.StatusOK || err != nil || len(list) != 3 || list[2].Name != "prod" {
		t.Fatalf("list policies: %d %s", code, out)
	}

	req, _ := json.Marshal(patchbay.ExceptionRequest{Host: "web1", Package: "openssl", Reason: "pinned", Owner: "web",
		ExpiresAt: time.Now().Add(48 * time.Hour)})
	code, out = f.do(t, "POST", "/api/v1/exceptions", f.admin, req)
	var reply patchbay.ExceptionReply
	if err := json.Unmarshal([]byte(out), &reply); code != http.StatusCreated || err != nil || reply.Exception.ID == 0 || reply.Exception.Hostname != "web1" {
		t.Fatalf("create exception: %d %s", code, out)
	}
	noExpiry := `{"all":true,"package":"x","reason":"r","owner":"o"}`
	if code, out := f.do(t, "POST", "/api/v1/exceptions", f.admin, []byte(noExpiry)); code != http.StatusBadRequest || !strings.Contains(out, "expiry") {
		t.Errorf("no expiry: %d %s", code, out)
	}
	if code, out := f.do(t, "POST", "/api/v1/exceptions", cred, req); code != http.StatusForbidden {
		t.Errorf("exception by a host: %d %s", code, out)
	}
	if code, out := f.do(t, "GET", "/api/v1/exceptions/1", f.admin, nil); code != http.StatusOK || !strings.Contains(out, `"state": "active"`) {
		t.Errorf("get exception: %d %s", code, out)
	}
	if code, out := f.do(t, "GET", "/api/v1/exceptions/x", f.admin, nil); code != http.StatusBadRequest {
		t.Errorf("bad id: %d %s", code, out)
	}
	if code, out := f.do(t, "GET", "/api/v1/exceptions?all=maybe", f.admin, nil); code != http.StatusBadRequest {
		t.Errorf("all=maybe: %d %s", code, out)
	}
	revoke := []byte(`{"reason":"fixed upstream"}`)
	if code, out := f.do(t, "POST", "/api/v1/exceptions/1/revoke", f.admin, revoke); code != http.StatusOK || !strings.Contains(out, `"state": "revoked"`) {
		t.Errorf("revoke: %d %s", code, out)
	}
	if code, out := f.do(t, "POST", "/api/v1/exceptions/1/revoke", f.admin, revoke); code != http.StatusConflict {
		t.Errorf("revoke twice: %d %s", code, out)
	}
	if code, out := f.do(t, "GET", "/api/v1/exceptions", f.admin, nil); code != http.StatusOK || strings.TrimSpace(out) != "[]" {
		t.Errorf("active exceptions after the revoke: %d %s", code, out)
	}
	if code, out := f.do(t, "GET", "/api/v1/exceptions?all=true", f.admin, nil); code != http.StatusOK || !strings.Contains(out, `"revoked_by": "test"`) {
		t.Errorf("all exceptions: %d %s", code, out)
	}
}
