package client

import (
	"context"
	"fmt"
	"net/url"

	"github.com/patchbay/patchbay"
)

// ListPolicies lists the built-in and stored patch policies.
func (c *Client) ListPolicies(ctx context.Context) ([]patchbay.Policy, error) {
	var out []patchbay.Policy
	return out, c.do(ctx, "GET", "/api/v1/policies", nil, &out)
}

// Policy returns one policy by name.
func (c *Client) Policy(ctx context.Context, name string) (patchbay.Policy, error) {
	var out patchbay.Policy
	return out, c.do(ctx, "GET", "/api/v1/policies/"+url.PathEscape(name), nil, &out)
}

// CreatePolicy stores a new policy.
func (c *Client) CreatePolicy(ctx context.Context, p patchbay.Policy) (patchbay.Policy, error) {
	var out patchbay.Policy
	return out, c.do(ctx, "POST", "/api/v1/policies", p, &out)
}

// UpdatePolicy replaces a stored policy's rules.
func (c *Client) UpdatePolicy(ctx context.Context, p patchbay.Policy) (patchbay.Policy, error) {
	var out patchbay.Policy
	return out, c.do(ctx, "PUT", "/api/v1/policies/"+url.PathEscape(p.Name), p, &out)
}

// ListExceptions lists the exceptions in force, or all of them.
func (c *Client) ListExceptions(ctx context.Context, all bool) ([]patchbay.Exception, error) {
	var out []patchbay.Exception
	path := "/api/v1/exceptions"
	if all {
		path += "?all=true"
	}
	return out, c.do(ctx, "GET", path, nil, &out)
}

// Exception returns one exception.
func (c *Client) Exception(ctx context.Context, id int64) (patchbay.Exception, error) {
	var out patchbay.Exception
	return out, c.do(ctx, "GET", fmt.Sprintf("/api/v1/exceptions/%d", id), nil, &out)
}

// CreateException grants an exception.
func (c *Client) CreateException(ctx context.Context, req patchbay.ExceptionRequest) (patchbay.ExceptionReply, error) {
	var out patchbay.ExceptionReply
	return out, c.do(ctx, "POST", "/api/v1/exceptions", req, &out)
}

// RevokeException revokes an exception before it expires.
func (c *Client) RevokeException(ctx context.Context, id int64, reason string) (patchbay.Exception, error) {
	var out patchbay.Exception
	return out, c.do(ctx, "POST", fmt.Sprintf("/api/v1/exceptions/%d/revoke", id), patchbay.RevokeRequest{Reason: reason}, &out)
}
