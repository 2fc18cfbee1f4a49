package api_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/service"
)

// TestEnrollImage: an agent enrolling an image names it; the host record
// is labelled kind=image and image=LABEL, and listed with that filter. A
// label outside the grammar is refused.
func TestEnrollImage(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	p, err := f.svc.Authenticate(ctx, f.admin)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := f.svc.CreateEnrollToken(patchbay.NewContext(ctx, p), service.NewEnrollToken{})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"web template", "a/b", "x;y"} {
		body, _ := json.Marshal(patchbay.EnrollRequest{Token: tok, MachineID: "0123456789abcdef0123456789abcdef", Hostname: "t", Image: bad})
		if code, out := f.do(t, "POST", "/api/v1/enroll", "", body); code != 400 {
			t.Errorf("image label %q: %d %s, want 400", bad, code, out)
		}
	}
	body, _ := json.Marshal(patchbay.EnrollRequest{Token: tok, MachineID: "0123456789abcdef0123456789abcdef", Hostname: "web-template", Image: "web-template"})
	if code, out := f.do(t, "POST", "/api/v1/enroll", "", body); code != 200 {
		t.Fatalf("enrol image: %d %s", code, out)
	}
	f.enrolHost(t, "fedcba9876543210fedcba9876543210", "web1") // a running host
	code, out := f.do(t, "GET", "/api/v1/hosts?label=kind%3Dimage", f.admin, nil)
	if code != 200 {
		t.Fatalf("list: %d %s", code, out)
	}
	var hosts []patchbay.Host
	if err := json.Unmarshal([]byte(out), &hosts); err != nil {
		var page struct {
			Hosts []patchbay.Host `json:"hosts"`
		}
		if err := json.Unmarshal([]byte(out), &page); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		hosts = page.Hosts
	}
	if len(hosts) != 1 || !hosts[0].IsImage() || hosts[0].Labels[patchbay.LabelImage] != "web-template" {
		t.Fatalf("image hosts: %s", out)
	}
}
