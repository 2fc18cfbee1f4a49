package api_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/patchbay/patchbay"
)

// TestFeedSourceRoutes: add, list and remove feed sources over HTTP, with
// the domain errors mapped to their statuses; a host credential may not.
func TestFeedSourceRoutes(t *testing.T) {
	f := newFixture(t)
	body := []byte(`{"url": "https://feeds.example/Debian/all.zip", "kind": "osv"}`)
	code, out := f.do(t, "POST", "/api/v1/advisory-sources", f.admin, body)
	if code != 201 {
		t.Fatalf("add: %d %s", code, out)
	}
	var src patchbay.FeedSource
	if err := json.Unmarshal([]byte(out), &src); err != nil || src.ID == 0 || src.Kind != "osv" {
		t.Fatalf("add reply %s: %v", out, err)
	}
	for _, tc := range []struct {
		name, method, path, body string
		want                     int
	}{
		{"same URL again", "POST", "/api/v1/advisory-sources", string(body), 409},
		{"unknown kind", "POST", "/api/v1/advisory-sources", `{"url": "https://feeds.example/x", "kind": "rss"}`, 400},
		{"not a URL", "POST", "/api/v1/advisory-sources", `{"url": "feeds.example/x", "kind": "kev"}`, 400},
		{"anonymous", "GET", "/api/v1/advisory-sources", "", 401},
		{"id not a number", "DELETE", "/api/v1/advisory-sources/x", "", 400},
		{"unknown id", "DELETE", "/api/v1/advisory-sources/999", "", 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := f.admin
			if tc.name == "anonymous" {
				tok = ""
			}
			var b []byte
			if tc.body != "" {
				b = []byte(tc.body)
			}
			if code, out := f.do(t, tc.method, tc.path, tok, b); code != tc.want {
				t.Errorf("%s %s: %d %s, want %d", tc.method, tc.path, code, out, tc.want)
			}
		})
	}
	code, out = f.do(t, "GET", "/api/v1/advisory-sources", f.admin, nil)
	var list []patchbay.FeedSource
	if err := json.Unmarshal([]byte(out), &list); code != 200 || err != nil || len(list) != 1 || list[0].URL != src.URL {
		t.Fatalf("list: %d %s %v", code, out, err)
	}
	if code, out := f.do(t, "DELETE", fmt.Sprintf("/api/v1/advisory-sources/%d", src.ID), f.admin, nil); code != 204 {
		t.Fatalf("remove: %d %s", code, out)
	}
	if code, out := f.do(t, "GET", "/api/v1/advisory-sources", f.admin, nil); code != 200 || out != "[]\n" && out != "[]" {
		t.Errorf("list after remove: %d %q", code, out)
	}
}
