package client

import (
	"context"
	"fmt"
	"net/url"

	"github.com/patchbay/patchbay"
)

// AcquireLease asks for a disruption lease for job id (agents): granted,
// or refused with the budget that is full and its holders.
func (c *Client) AcquireLease(ctx context.Context, id string) (patchbay.LeaseReply, error) {
	var out patchbay.LeaseReply
	return out, c.do(ctx, "POST", "/api/v1/agent/jobs/"+url.PathEscape(id)+"/lease", nil, &out)
}

// AddDisruptionBudget adds a budget ("LABEL" or "LABEL=VALUE", at most max
// hosts disrupted at once).
func (c *Client) AddDisruptionBudget(ctx context.Context, req patchbay.DisruptionBudgetRequest) (patchbay.DisruptionBudget, error) {
	var out patchbay.DisruptionBudget
	return out, c.do(ctx, "POST", "/api/v1/disruption-budgets", req, &out)
}

// Disruption lists the budgets and the leases in force.
func (c *Client) Disruption(ctx context.Context) (patchbay.DisruptionStatus, error) {
	var out patchbay.DisruptionStatus
	return out, c.do(ctx, "GET", "/api/v1/disruption-budgets", nil, &out)
}

// RemoveDisruptionBudget removes a budget.
func (c *Client) RemoveDisruptionBudget(ctx context.Context, id int64) error {
	return c.do(ctx, "DELETE", fmt.Sprintf("/api/v1/disruption-budgets/%d", id), nil, nil)
}

// ReleaseLease ends the lease of a host (by name or id).
func (c *Client) ReleaseLease(ctx context.Context, host string) (patchbay.DisruptionLease, error) {
	var out patchbay.DisruptionLease
	return out, c.do(ctx, "DELETE", "/api/v1/disruption-leases/"+url.PathEscape(host), nil, &out)
}
