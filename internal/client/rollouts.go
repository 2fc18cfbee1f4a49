package client

import (
	"context"
	"fmt"
	"net/url"

	"github.com/patchbay/patchbay"
)

// CreateRollout creates a draft rollout and returns it with its plan.
func (c *Client) CreateRollout(ctx context.Context, def patchbay.Rollout) (patchbay.RolloutDetail, error) {
	var out patchbay.RolloutDetail
	return out, c.do(ctx, "POST", "/api/v1/rollouts", def, &out)
}

// ListRollouts lists rollouts, newest first.
func (c *Client) ListRollouts(ctx context.Context) ([]patchbay.Rollout, error) {
	var out []patchbay.Rollout
	return out, c.do(ctx, "GET", "/api/v1/rollouts", nil, &out)
}

// Rollout returns a rollout with its hosts, counts and log.
func (c *Client) Rollout(ctx context.Context, id int64) (patchbay.RolloutDetail, error) {
	var out patchbay.RolloutDetail
	return out, c.do(ctx, "GET", fmt.Sprintf("/api/v1/rollouts/%d", id), nil, &out)
}

// RolloutAction posts one of plan, approve, start, pause, resume, abort.
func (c *Client) RolloutAction(ctx context.Context, id int64, action string) (patchbay.RolloutDetail, error) {
	var out patchbay.RolloutDetail
	return out, c.do(ctx, "POST", fmt.Sprintf("/api/v1/rollouts/%d/%s", id, url.PathEscape(action)), nil, &out)
}

// RolloutHostAction posts retry or skip for one host of a rollout.
func (c *Client) RolloutHostAction(ctx context.Context, id int64, host, action string) (patchbay.RolloutDetail, error) {
	var out patchbay.RolloutDetail
	return out, c.do(ctx, "POST", fmt.Sprintf("/api/v1/rollouts/%d/hosts/%s/%s", id, url.PathEscape(host), url.PathEscape(action)), nil, &out)
}

// RollbackRollout creates a draft rollout undoing rollout id, limited to
// one host or one ring when host or ring is set.
func (c *Client) RollbackRollout(ctx context.Context, id int64, host, ring string) (patchbay.RolloutDetail, error) {
	var out patchbay.RolloutDetail
	body := map[string]string{}
	if host != "" {
		body["host"] = host
	}
	if ring != "" {
		body["ring"] = ring
	}
	return out, c.do(ctx, "POST", fmt.Sprintf("/api/v1/rollouts/%d/rollback", id), body, &out)
}
