package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/patchbay/patchbay"
)

const webhookColumns = `id, name, url, secret, events, created_at, created_by, cursor, failures, next_attempt, last_error, delivered_at, delivered`

func scanWebhook(row interface{ Scan(...any) error }) (patchbay.Webhook, error) {
	var (
		w                        patchbay.Webhook
		events                   string
		created, next, delivered int64
	)
	if err := row.Scan(&w.ID, &w.Name, &w.URL, &w.Secret, &events, &created, &w.CreatedBy, &w.Cursor, &w.Failures,
		&next, &w.LastError, &delivered, &w.Delivered); err != nil {
		return w, err
	}
	if err := json.Unmarshal([]byte(events), &w.Events); err != nil {
		return w, fmt.Errorf("webhook %d: events: %w", w.ID, err)
	}
	w.CreatedAt, w.NextAttempt, w.DeliveredAt = fromNanos(created), fromNanos(next), fromNanos(delivered)
	return w, nil
}

// CreateWebhook stores w with its cursor at the newest rollout log entry.
func (db *DB) CreateWebhook(ctx context.Context, w patchbay.Webhook) (patchbay.Webhook, error) {
	events, err := json.Marshal(nonNil(w.Events))
	if err != nil {
		return w, err
	}
	var out patchbay.Webhook
	err = db.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = scanWebhook(tx.QueryRowContext(ctx, `INSERT INTO webhooks (name, url, secret, events, created_at, created_by, cursor)
			VALUES (?, ?, ?, ?, ?, ?, (SELECT coalesce(max(id), 0) FROM rollout_events)) RETURNING `+webhookColumns,
			w.Name, w.URL, w.Secret, string(events), nanos(w.CreatedAt), w.CreatedBy))
		return err
	})
	if isUnique(err) {
		return patchbay.Webhook{}, patchbay.Errorf(patchbay.ECONFLICT, "webhook %q exists", w.Name)
	}
	if err != nil {
		return patchbay.Webhook{}, fmt.Errorf("create webhook: %w", err)
	}
	return out, nil
}

// Webhooks lists the webhooks by name.
func (db *DB) Webhooks(ctx context.Context) ([]patchbay.Webhook, error) {
	list, err := queryAll(ctx, db.read, scanWebhook, `SELECT `+webhookColumns+` FROM webhooks ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("webhooks: %w", err)
	}
	return list, nil
}

// DeleteWebhook removes a webhook.
func (db *DB) DeleteWebhook(ctx context.Context, id int64) error {
	return db.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM webhooks WHERE id = ?`, id)
		if err != nil {
			return fmt.Errorf("delete webhook %d: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return patchbay.Errorf(patchbay.ENOTFOUND, "webhook %d not found", id)
		}
		return nil
	})
}

// RecordWebhook stores a webhook's delivery state.
func (db *DB) RecordWebhook(ctx context.Context, w patchbay.Webhook) error {
	return db.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE webhooks SET cursor = ?, failures = ?, next_attempt = ?, last_error = ?, delivered_at = ?, delivered = ?
			WHERE id = ?`, w.Cursor, w.Failures, nanos(w.NextAttempt), w.LastError, nanos(w.DeliveredAt), w.Delivered, w.ID)
		if err != nil {
			return fmt.Errorf("record webhook %d: %w", w.ID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return patchbay.Errorf(patchbay.ENOTFOUND, "webhook %d not found", w.ID)
		}
		return nil
	})
}

// RolloutEventsAfter lists rollout log entries after an id, oldest first.
func (db *DB) RolloutEventsAfter(ctx context.Context, after int64, limit int) ([]patchbay.RolloutEvent, error) {
	if limit <= 0 {
		return nil, errors.New("rollout events after: limit must be positive")
	}
	list, err := queryAll(ctx, db.read, func(row interface{ Scan(...any) error }) (patchbay.RolloutEvent, error) {
		var (
			e patchbay.RolloutEvent
			t int64
		)
		err := row.Scan(&e.ID, &e.RolloutID, &t, &e.Actor, &e.Kind, &e.HostID, &e.Detail)
		e.Time = fromNanos(t)
		return e, err
	}, `SELECT id, rollout_id, time, actor, kind, host_id, detail FROM rollout_events WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("rollout events after %d: %w", after, err)
	}
	return list, nil
}
