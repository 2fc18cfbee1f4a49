package service

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/patchbay/patchbay"
)

// Webhook delivery: a loop (RunNotifier) walks each webhook's cursor
// through the rollout logs, POSTs each entry it subscribes to, in order,
// and moves on only once the receiver answered 2xx, so every entry is
// delivered at least once (X-Patchbay-Delivery is the same on a retry, for
// receivers that must not act twice). A failing receiver is retried with
// backoff, 5 s doubling up to an hour, and holds up only its own webhook.

const (
	webhookBatch      = 100
	webhookMinBackoff = 5 * time.Second
	webhookMaxBackoff = time.Hour
	// DefaultAnnounceBefore is how long before a rollout's maintenance
	// window opens its hosts are announced.
	DefaultAnnounceBefore = 24 * time.Hour
)

// CreateWebhook adds a webhook; its secret is in the reply, and only
// there.
func (s *Service) CreateWebhook(ctx context.Context, req patchbay.WebhookRequest) (patchbay.Webhook, error) {
	p, err := requireUser(ctx)
	if err != nil {
		return patchbay.Webhook{}, err
	}
	if err := req.Validate(); err != nil {
		return patchbay.Webhook{}, err
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	w, err := s.store.CreateWebhook(ctx, patchbay.Webhook{Name: req.Name, URL: req.URL, Events: req.Events,
		Secret: hex.EncodeToString(secret), CreatedAt: s.now(), CreatedBy: p.Name})
	if err != nil {
		return patchbay.Webhook{}, err
	}
	s.logger.InfoContext(ctx, "webhook created", "webhook", w.Name, "url", w.URL, "by", p.Name)
	s.wakeNotifier()
	return w, nil
}

// Webhooks lists the webhooks with their delivery state, without secrets.
func (s *Service) Webhooks(ctx context.Context) ([]patchbay.Webhook, error) {
	if _, err := requireUser(ctx); err != nil {
		return nil, err
	}
	list, err := s.store.Webhooks(ctx)
	for i := range list {
		list[i].Secret = ""
	}
	return list, err
}

// DeleteWebhook removes a webhook by id or name.
func (s *Service) DeleteWebhook(ctx context.Context, ref string) error {
	p, err := requireUser(ctx)
	if err != nil {
		return err
	}
	w, err := s.findWebhook(ctx, ref)
	if err != nil {
		return err
	}
	if err := s.store.DeleteWebhook(ctx, w.ID); err != nil {
		return err
	}
	s.logger.InfoContext(ctx, "webhook deleted", "webhook", w.Name, "by", p.Name)
	return nil
}

// TestWebhook sends the webhook a delivery of kind "test" now, outside its
// cursor, and says how the receiver answered.
func (s *Service) TestWebhook(ctx context.Context, ref string) (patchbay.WebhookTestReply, error) {
	p, err := requireUser(ctx)
	if err != nil {
		return patchbay.WebhookTestReply{}, err
	}
	w, err := s.findWebhook(ctx, ref)
	if err != nil {
		return patchbay.WebhookTestReply{}, err
	}
	d := patchbay.WebhookDelivery{Webhook: w.Name, Event: patchbay.RolloutEvent{Time: s.now(), Actor: p.Name, Kind: "test",
		Detail: "a test delivery from patchbay webhooks test"}}
	d.Rollout.Counts = map[patchbay.HostRunState]int{}
	start := time.Now()
	status, err := s.post(ctx, w, fmt.Sprintf("%d-test-%d", w.ID, s.now().UnixNano()), d)
	reply := patchbay.WebhookTestReply{Status: status, Took: time.Since(start)}
	if err != nil {
		reply.Error = err.Error()
	}
	return reply, nil
}

func (s *Service) findWebhook(ctx context.Context, ref string) (patchbay.Webhook, error) {
	list, err := s.store.Webhooks(ctx)
	if err != nil {
		return patchbay.Webhook{}, err
	}
	for _, w := range list {
		if w.Name == ref || fmt.Sprint(w.ID) == ref {
			return w, nil
		}
	}
	return patchbay.Webhook{}, patchbay.Errorf(patchbay.ENOTFOUND, "webhook %q not found", ref)
}

func (s *Service) wakeNotifier() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// RunNotifier delivers webhooks every interval, and at once when a
// webhook is made or a rollout log grows, until ctx ends.
func (s *Service) RunNotifier(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := s.DeliverWebhooks(ctx); err != nil && ctx.Err() == nil {
			s.logger.ErrorContext(ctx, "webhooks", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.notify:
		}
	}
}

// DeliverWebhooks runs one round: each webhook that is due gets the log
// entries after its cursor, in order, until one fails or none is left.
func (s *Service) DeliverWebhooks(ctx context.Context) error {
	hooks, err := s.store.Webhooks(ctx)
	if err != nil {
		return err
	}
	for _, w := range hooks {
		if w.NextAttempt.After(s.now()) {
			continue
		}
		if err := s.deliver(ctx, w); err != nil {
			return err
		}
	}
	return nil
}

// deliver sends w what it has not had yet.
func (s *Service) deliver(ctx context.Context, w patchbay.Webhook) error {
	rollouts := map[int64]*rolloutNow{} // one read of each rollout a round
	for {
		events, err := s.store.RolloutEventsAfter(ctx, w.Cursor, webhookBatch)
		if err != nil || len(events) == 0 {
			return err
		}
		before := w.Cursor
		for _, e := range events {
			if !w.Subscribed(e.Kind) {
				w.Cursor = e.ID
				continue
			}
			d, err := s.delivery(ctx, w, e, rollouts)
			if err != nil {
				return err
			}
			if _, err := s.post(ctx, w, fmt.Sprintf("%d-%d", w.ID, e.ID), d); err != nil {
				w.Failures++
				w.LastError = err.Error()
				w.NextAttempt = s.now().Add(min(webhookMinBackoff<<min(w.Failures-1, 20), webhookMaxBackoff))
				s.logger.WarnContext(ctx, "webhook delivery failed", "webhook", w.Name, "event_id", e.ID, "failures", w.Failures,
					"retry_at", w.NextAttempt, "err", err)
				return s.store.RecordWebhook(ctx, w)
			}
			w.Cursor, w.Failures, w.LastError, w.NextAttempt = e.ID, 0, "", time.Time{}
			w.Delivered++
			w.DeliveredAt = s.now()
		}
		if w.Cursor != before {
			if err := s.store.RecordWebhook(ctx, w); err != nil {
				return err
			}
		}
		if len(events) < webhookBatch {
			return nil
		}
	}
}

// delivery builds the body for entry e: the entry, its rollout now, and
// for a window announcement the pending hosts with their owners (looked
// up only then).
func (s *Service) delivery(ctx context.Context, w patchbay.Webhook, e patchbay.RolloutEvent, cache map[int64]*rolloutNow) (patchbay.WebhookDelivery, error) {
	now, ok := cache[e.RolloutID]
	if !ok {
		r, err := s.store.Rollout(ctx, e.RolloutID)
		if patchbay.ErrorCode(err) == patchbay.ENOTFOUND {
			r = patchbay.Rollout{ID: e.RolloutID}
		} else if err != nil {
			return patchbay.WebhookDelivery{}, err
		}
		runs, err := s.store.HostRuns(ctx, e.RolloutID)
		if err != nil && patchbay.ErrorCode(err) != patchbay.ENOTFOUND {
			return patchbay.WebhookDelivery{}, err
		}
		now = &rolloutNow{r: r, runs: runs, counts: map[patchbay.HostRunState]int{}}
		for _, h := range runs {
			now.counts[h.State]++
		}
		cache[e.RolloutID] = now
	}
	d := patchbay.WebhookDelivery{Webhook: w.Name, Event: e}
	d.Rollout.ID, d.Rollout.Name, d.Rollout.State, d.Rollout.Counts = e.RolloutID, now.r.Name, now.r.State, now.counts
	if e.Kind != "window_announced" {
		return d, nil
	}
	if now.pending == nil {
		now.pending = []patchbay.WebhookHost{}
		for _, h := range now.runs {
			if h.State != patchbay.HostPending {
				continue
			}
			owner := ""
			if host, err := s.store.Host(ctx, h.HostID); err == nil {
				owner = host.Assets.Owner
			}
			now.pending = append(now.pending, patchbay.WebhookHost{Hostname: h.Hostname, Owner: owner})
		}
	}
	d.Hosts = now.pending
	return d, nil
}

// rolloutNow is a rollout as one delivery round read it: its host runs
// and counts, and (once a window announcement needs them) its pending
// hosts with owners.
type rolloutNow struct {
	r       patchbay.Rollout
	runs    []patchbay.HostRun
	counts  map[patchbay.HostRunState]int
	pending []patchbay.WebhookHost
}

// post sends one delivery, signed, and returns the receiver's status; an
// answer other than 2xx is an error that quotes the start of its body.
func (s *Service) post(ctx context.Context, w patchbay.Webhook, id string, d patchbay.WebhookDelivery) (int, error) {
	body, err := json.Marshal(d)
	if err != nil {
		return 0, err
	}
	mac := hmac.New(sha256.New, []byte(w.Secret))
	mac.Write(body)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "patchbay-webhook")
	req.Header.Set("X-Patchbay-Event", d.Event.Kind)
	req.Header.Set("X-Patchbay-Delivery", id)
	req.Header.Set("X-Patchbay-Signature", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := s.webhookClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(snippet))
	}
	return resp.StatusCode, nil
}
