package service_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchbay/patchbay"
)

// received is one request a test receiver got.
type received struct {
	event, delivery, signature string
	body                       []byte
}

// receiver is a real HTTP server that records requests and answers the
// first fail of them with 500.
func receiver(t *testing.T, fail int) (*httptest.Server, func() []received) {
	var (
		mu  sync.Mutex
		got []received
		n   int
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		n++
		got = append(got, received{r.Header.Get("X-Patchbay-Event"), r.Header.Get("X-Patchbay-Delivery"), r.Header.Get("X-Patchbay-Signature"), body})
		if n <= fail {
			http.Error(w, "receiver down for maintenance", http.StatusInternalServerError)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, func() []received { mu.Lock(); defer mu.Unlock(); return append([]received(nil), got...) }
}

// TestWebhooks: a rollout started ahead of its maintenance window is
// announced once, within 24 hours of the window, naming its hosts and
// their owners; a webhook gets the rollout's log entries in order, signed
// with its secret; a receiver that fails is retried after the backoff
// with the same delivery id, and nothing is skipped; a webhook made later
// gets only what happens after; a test delivery reports the answer; bad
// requests are refused.
func TestWebhooks(t *testing.T) {
	f := newFleet(t, "h1", "h2")
	if _, err := f.svc.UpdateHost(f.admin, "h1", map[string]string{"owner": "web-team"}); err != nil {
		t.Fatal(err)
	}
	srv, got := receiver(t, 1)
	for _, bad := range []patchbay.WebhookRequest{
		{Name: "x", URL: "ftp://example.org/"},
		{Name: "x", URL: "https://user:pw@example.org/"},
		{Name: "x", URL: srv.URL, Events: []string{"host_exploded"}},
		{Name: "", URL: srv.URL},
	} {
		if _, err := f.svc.CreateWebhook(f.admin, bad); patchbay.ErrorCode(err) != patchbay.EINVALID {
			t.Errorf("CreateWebhook(%+v): %v, want invalid", bad, err)
		}
	}
	if _, err := f.svc.CreateWebhook(f.hosts["h1"], patchbay.WebhookRequest{Name: "x", URL: srv.URL}); patchbay.ErrorCode(err) != patchbay.EFORBIDDEN {
		t.Errorf("a host creating a webhook: %v", err)
	}
	hook, err := f.svc.CreateWebhook(f.admin, patchbay.WebhookRequest{Name: "ops-chat", URL: srv.URL, Events: []string{"*"}})
	if err != nil || len(hook.Secret) != 64 {
		t.Fatalf("CreateWebhook: %+v %v", hook, err)
	}
	if _, err := f.svc.CreateWebhook(f.admin, patchbay.WebhookRequest{Name: "ops-chat", URL: srv.URL}); patchbay.ErrorCode(err) != patchbay.ECONFLICT {
		t.Errorf("same name twice: %v", err)
	}

	// The window opens at 08:00 UTC, 19h58m after the fleet's clock.
	def := twoRings()
	def.Rings = []patchbay.Ring{{Name: "all", Percent: 100, MaxConcurrency: 2}}
	def.Window = &patchbay.Window{Cron: "0 8 * * *", Duration: time.Hour, TimeZone: "UTC"}
	id := f.start(def)
	f.tick(id)
	f.tick(id) // not announced twice
	log := f.rolloutLog(id, "window_announced")
	if len(log) != 1 || !strings.Contains(log[0].Detail, "in 19h58m0s") || !strings.Contains(log[0].Detail, "2 hosts to patch: h1, h2") {
		t.Fatalf("announcements: %+v", log)
	}

	// The receiver fails the first delivery: nothing moves on.
	if err := f.svc.DeliverWebhooks(t.Context()); err != nil {
		t.Fatal(err)
	}
	hooks, _ := f.svc.Webhooks(f.admin)
	if len(got()) != 1 || hooks[0].Failures != 1 || !strings.Contains(hooks[0].LastError, "500") || hooks[0].Secret != "" ||
		!hooks[0].NextAttempt.Equal(f.clock.Add(5*time.Second)) {
		t.Fatalf("after a failed delivery: %d sent, webhook %+v", len(got()), hooks[0])
	}
	if err := f.svc.DeliverWebhooks(t.Context()); err != nil || len(got()) != 1 {
		t.Fatalf("retried before the backoff: %d sent, %v", len(got()), err)
	}
	f.clock = f.clock.Add(5 * time.Second)
	if err := f.svc.DeliverWebhooks(t.Context()); err != nil {
		t.Fatal(err)
	}
	reqs := got()
	var kinds []string
	for _, r := range reqs[1:] {
		kinds = append(kinds, r.event)
		mac := hmac.New(sha256.New, []byte(hook.Secret))
		mac.Write(r.body)
		if r.signature != "sha256="+hex.EncodeToString(mac.Sum(nil)) {
			t.Errorf("%s: signature %q does not match the body", r.event, r.signature)
		}
	}
	if strings.Join(kinds, ",") != "created,approve,start,state,window_announced" {
		t.Errorf("delivered %v", kinds)
	}
	if reqs[0].delivery != reqs[1].delivery {
		t.Errorf("the retry has delivery id %q, the failed attempt %q", reqs[1].delivery, reqs[0].delivery)
	}
	var ann patchbay.WebhookDelivery
	if err := json.Unmarshal(reqs[len(reqs)-1].body, &ann); err != nil {
		t.Fatal(err)
	}
	if ann.Webhook != "ops-chat" || ann.Rollout.ID != id || ann.Rollout.State != patchbay.RolloutPaused || ann.Rollout.Counts[patchbay.HostPending] != 2 ||
		len(ann.Hosts) != 2 || ann.Hosts[0] != (patchbay.WebhookHost{Hostname: "h1", Owner: "web-team"}) {
		t.Errorf("announcement delivery: %+v", ann)
	}
	hooks, _ = f.svc.Webhooks(f.admin)
	if hooks[0].Failures != 0 || hooks[0].Delivered != 5 || hooks[0].LastError != "" {
		t.Errorf("after the retry: %+v", hooks[0])
	}

	// A webhook made now, with the default events, gets only what follows.
	srv2, got2 := receiver(t, 0)
	if _, err := f.svc.CreateWebhook(f.admin, patchbay.WebhookRequest{Name: "pager", URL: srv2.URL}); err != nil {
		t.Fatal(err)
	}
	f.act(id, "abort")
	if err := f.svc.DeliverWebhooks(t.Context()); err != nil {
		t.Fatal(err)
	}
	if r := got2(); len(r) != 1 || r[0].event != "abort" {
		var ev []string
		for _, x := range r {
			ev = append(ev, x.event)
		}
		t.Errorf("the later webhook got %v, want abort only", ev)
	}
	reply, err := f.svc.TestWebhook(f.admin, "pager")
	if err != nil || reply.Status != http.StatusOK || reply.Error != "" || got2()[len(got2())-1].event != "test" {
		t.Errorf("test delivery: %+v %v", reply, err)
	}
	if err := f.svc.DeleteWebhook(f.admin, "pager"); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.DeleteWebhook(f.admin, "pager"); patchbay.ErrorCode(err) != patchbay.ENOTFOUND {
		t.Errorf("delete twice: %v", err)
	}
}
