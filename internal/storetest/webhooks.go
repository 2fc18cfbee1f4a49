package storetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/patchbay/patchbay"
)

// testWebhooks: a webhook starts at the newest rollout log entry, names
// are unique, the log reads across rollouts in id order with a limit,
// delivery state round-trips, and missing webhooks are not found.
func testWebhooks(t *testing.T, s patchbay.Store) {
	ctx := t.Context()
	first, err := s.CreateWebhook(ctx, patchbay.Webhook{Name: "chat", URL: "https://chat.example/hook", Secret: "s3cret",
		Events: []string{"host_failed", "state"}, CreatedAt: at(0), CreatedBy: "alice"})
	must(t, err)
	want := patchbay.Webhook{ID: first.ID, Name: "chat", URL: "https://chat.example/hook", Secret: "s3cret",
		Events: []string{"host_failed", "state"}, CreatedAt: at(0).UTC(), CreatedBy: "alice"}
	if diff := cmp.Diff(want, first); diff != "" {
		t.Errorf("CreateWebhook (-want +got):\n%s", diff)
	}
	_, err = s.CreateWebhook(ctx, patchbay.Webhook{Name: "chat", URL: "https://other.example/", Secret: "x", Events: []string{"*"}, CreatedAt: at(0)})
	wantCode(t, err, patchbay.ECONFLICT)

	r1, err := s.CreateRollout(ctx, testRollout(), nil, []patchbay.RolloutEvent{{Time: at(time.Second), Actor: "alice", Kind: "created"}})
	must(t, err)
	r2, err := s.CreateRollout(ctx, testRollout(), nil, []patchbay.RolloutEvent{{Time: at(2 * time.Second), Actor: "bob", Kind: "created", Detail: "two"}})
	must(t, err)
	all, err := s.RolloutEventsAfter(ctx, 0, 10)
	must(t, err)
	if len(all) != 2 || all[0].RolloutID != r1.ID || all[1].RolloutID != r2.ID || all[1].Detail != "two" || all[0].ID >= all[1].ID ||
		!all[1].Time.Equal(at(2*time.Second)) || all[0].Actor != "alice" {
		t.Fatalf("RolloutEventsAfter(0) = %+v", all)
	}
	if got, err := s.RolloutEventsAfter(ctx, all[0].ID, 10); err != nil || len(got) != 1 || got[0].ID != all[1].ID {
		t.Errorf("after the first: %+v %v", got, err)
	}
	if got, err := s.RolloutEventsAfter(ctx, 0, 1); err != nil || len(got) != 1 || got[0].ID != all[0].ID {
		t.Errorf("limit 1: %+v %v", got, err)
	}
	// A webhook made now starts after the entries already there.
	second, err := s.CreateWebhook(ctx, patchbay.Webhook{Name: "audit", URL: "http://127.0.0.1:9/", Secret: "y", Events: []string{"*"}, CreatedAt: at(3 * time.Second)})
	must(t, err)
	if second.Cursor != all[1].ID || first.Cursor != 0 {
		t.Errorf("cursors: first %d (want 0), second %d (want %d)", first.Cursor, second.Cursor, all[1].ID)
	}
	first.Cursor, first.Failures, first.NextAttempt, first.LastError, first.DeliveredAt, first.Delivered =
		all[0].ID, 2, at(time.Minute).UTC(), "503 Service Unavailable", at(30*time.Second).UTC(), 7
	must(t, s.RecordWebhook(ctx, first))
	list, err := s.Webhooks(ctx)
	must(t, err)
	if len(list) != 2 || list[0].Name != "audit" {
		t.Fatalf("Webhooks = %+v", list)
	}
	if diff := cmp.Diff(first, list[1]); diff != "" {
		t.Errorf("after RecordWebhook (-want +got):\n%s", diff)
	}
	must(t, s.DeleteWebhook(ctx, first.ID))
	wantCode(t, s.DeleteWebhook(ctx, first.ID), patchbay.ENOTFOUND)
	wantCode(t, s.RecordWebhook(ctx, first), patchbay.ENOTFOUND)
	if list, _ := s.Webhooks(ctx); len(list) != 1 {
		t.Errorf("after delete: %+v", list)
	}
}
