package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/e2e/e2etest"
)

// TestWebhooksCLI: through the real binary, a webhook is added (its
// secret printed once), refused with exit 2 for a bad URL, tested, gets
// the "created" entry of a new rollout from the server's delivery loop,
// is listed with what it delivered, and removed.
func TestWebhooksCLI(t *testing.T) {
	var (
		mu  sync.Mutex
		got []patchbay.WebhookDelivery
	)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var d patchbay.WebhookDelivery
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &d); err != nil || r.Header.Get("X-Patchbay-Signature") == "" {
			http.Error(w, "bad delivery", http.StatusBadRequest)
			return
		}
		mu.Lock()
		got = append(got, d)
		mu.Unlock()
	}))
	defer rcv.Close()
	s := startServer(t)
	tok := decode[patchbay.CreateTokenResponse](t, s.CLI(t, "tokens", "create", "-o", "json"))
	root := newFakeRoot(t, "0123456789abcdef0123456789abcdef", "hook-host")
	if out, code := s.agentOnce(t, root.dir, filepath.Join(t.TempDir(), "state"), tok.Token); code != 0 {
		t.Fatalf("agent: exit %d\n%s", code, out)
	}

	if _, errOut, code := run(t, "--config", s.Config, "webhooks", "add", "x", "ftp://example.org/"); code != 2 || !strings.Contains(string(errOut), "want an http:// or https:// URL") {
		t.Errorf("bad url: exit %d, %s", code, errOut)
	}
	out := string(s.CLI(t, "webhooks", "add", "ops-chat", rcv.URL, "--event", "*"))
	if !strings.Contains(out, "webhook 1 (ops-chat): "+rcv.URL+" gets *") || !strings.Contains(out, "secret (shown only now") {
		t.Errorf("webhooks add said:\n%s", out)
	}
	if out := string(s.CLI(t, "webhooks", "test", "ops-chat")); !strings.Contains(out, "webhook ops-chat answered 200") {
		t.Errorf("webhooks test said: %s", out)
	}
	s.CLI(t, "rollouts", "create", "--name", "hooked", "--policy", "all", "--ring", "all:percent=100")
	e2etest.WaitFor(t, "the created entry delivered", 20*time.Second, func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		for _, d := range got {
			if d.Event.Kind == "created" && d.Rollout.Name == "hooked" {
				return true, ""
			}
		}
		return false, ""
	})
	list := decode[[]patchbay.Webhook](t, s.CLI(t, "webhooks", "list", "-o", "json"))
	if len(list) != 1 || list[0].Delivered < 1 || list[0].Secret != "" || list[0].Failures != 0 {
		t.Errorf("webhooks list: %+v", list)
	}
	s.CLI(t, "webhooks", "remove", "ops-chat")
	if _, errOut, code := run(t, "--config", s.Config, "webhooks", "test", "ops-chat"); code != 1 || !strings.Contains(string(errOut), `webhook "ops-chat" not found`) {
		t.Errorf("test of a removed webhook: exit %d, %s", code, errOut)
	}
}
