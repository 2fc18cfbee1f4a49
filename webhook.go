package patchbay

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"time"
)

// A Webhook receives the entries of every rollout's log whose kind it
// subscribes to, as signed JSON POSTs, in log order, at least once. This is
// how Patchbay tells people what it is doing: a rollout started or halted,
// a host failed, a maintenance window is about to open on hosts they own.
type Webhook struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	URL       string    `json:"url"`
	Events    []string  `json:"events"` // rollout log kinds; "*": all
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
	// Secret signs each delivery (X-Patchbay-Signature: sha256=HMAC of
	// the body); it is shown once, when the webhook is created.
	Secret string `json:"secret,omitempty"`
	// Cursor is the id of the last rollout log entry dealt with (sent,
	// or not subscribed to).
	Cursor int64 `json:"cursor"`
	// Failures counts the failed attempts at the entry after Cursor; the
	// next is not before NextAttempt.
	Failures    int       `json:"failures"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	DeliveredAt time.Time `json:"delivered_at,omitzero"` // of the last successful delivery
	Delivered   int64     `json:"delivered"`             // deliveries so far
}

// WebhookEvents are the rollout log kinds a webhook may subscribe to, and
// DefaultWebhookEvents those it gets when it names none.
var (
	WebhookEvents = []string{"created", "approve", "start", "pause", "resume", "abort", "state",
		"host_failed", "host_succeeded", "host_held", "host_missed", "host_rebooted", "host_skipped",
		"window_announced", "retry", "skip"}
	DefaultWebhookEvents = []string{"start", "abort", "state", "host_failed", "window_announced"}
)

// Subscribed reports whether the webhook takes log entries of kind.
func (w Webhook) Subscribed(kind string) bool {
	return slices.Contains(w.Events, "*") || slices.Contains(w.Events, kind)
}

// WebhookRequest creates a webhook.
type WebhookRequest struct {
	Name   string   `json:"name"`
	URL    string   `json:"url"`
	Events []string `json:"events"` // nil: DefaultWebhookEvents
}

// Validate checks the name, an http(s) URL without credentials in it, and
// the event kinds, and fills in the default events.
func (r *WebhookRequest) Validate() error {
	r.Name, r.URL = strings.TrimSpace(r.Name), strings.TrimSpace(r.URL)
	if err := ValidateName("webhook", r.Name); err != nil {
		return err
	}
	u, err := url.Parse(r.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Errorf(EINVALID, "webhook url %q: want an http:// or https:// URL", r.URL)
	}
	if u.User != nil {
		return Errorf(EINVALID, "webhook url: put no credentials in it (deliveries are signed with the webhook's secret)")
	}
	if len(r.Events) == 0 {
		r.Events = slices.Clone(DefaultWebhookEvents)
	}
	for _, e := range r.Events {
		if e != "*" && !slices.Contains(WebhookEvents, e) {
			return Errorf(EINVALID, "webhook event %q: want * or one of %s", e, strings.Join(WebhookEvents, ", "))
		}
	}
	slices.Sort(r.Events)
	r.Events = slices.Compact(r.Events)
	return nil
}

// WebhookDelivery is the body of a webhook POST: one rollout log entry,
// with the rollout as it is when the entry is sent.
type WebhookDelivery struct {
	Webhook string       `json:"webhook"`
	Event   RolloutEvent `json:"event"`
	Rollout struct {
		ID     int64                `json:"id"`
		Name   string               `json:"name"`
		State  RolloutState         `json:"state"`
		Counts map[HostRunState]int `json:"counts"`
	} `json:"rollout"`
	// Hosts are, for a window announcement, the pending hosts (those the
	// window will touch): name and owner.
	Hosts []WebhookHost `json:"hosts,omitempty"`
}

// WebhookTestReply says how a receiver answered a test delivery.
type WebhookTestReply struct {
	Status int           `json:"status"` // HTTP status; 0 when there was no answer
	Took   time.Duration `json:"took"`
	Error  string        `json:"error,omitempty"`
}

// WebhookHost is a host named in a delivery.
type WebhookHost struct {
	Hostname string `json:"hostname"`
	Owner    string `json:"owner,omitempty"`
}

// WebhookStore keeps webhooks and where each is in the rollout logs.
type WebhookStore interface {
	// CreateWebhook stores w with its cursor at the newest rollout log
	// entry (a new webhook gets what happens from now on); a name in use
	// is ECONFLICT.
	CreateWebhook(ctx context.Context, w Webhook) (Webhook, error)
	// Webhooks lists the webhooks by name, with their secrets.
	Webhooks(ctx context.Context) ([]Webhook, error)
	DeleteWebhook(ctx context.Context, id int64) error
	// RolloutEventsAfter lists the entries of every rollout's log with an
	// id greater than after, oldest first, at most limit.
	RolloutEventsAfter(ctx context.Context, after int64, limit int) ([]RolloutEvent, error)
	// RecordWebhook stores a webhook's delivery state: Cursor, Failures,
	// NextAttempt, LastError, DeliveredAt and Delivered of w.
	RecordWebhook(ctx context.Context, w Webhook) error
}
