package client

import (
	"context"
	"net/url"

	"github.com/patchbay/patchbay"
)

// CreateWebhook adds a webhook; the reply holds its secret.
func (c *Client) CreateWebhook(ctx context.Context, req patchbay.WebhookRequest) (patchbay.Webhook, error) {
	var out patchbay.Webhook
	return out, c.do(ctx, "POST", "/api/v1/webhooks", req, &out)
}

// Webhooks lists the webhooks.
func (c *Client) Webhooks(ctx context.Context) ([]patchbay.Webhook, error) {
	var out []patchbay.Webhook
	return out, c.do(ctx, "GET", "/api/v1/webhooks", nil, &out)
}

// DeleteWebhook removes a webhook by id or name.
func (c *Client) DeleteWebhook(ctx context.Context, ref string) error {
	return c.do(ctx, "DELETE", "/api/v1/webhooks/"+url.PathEscape(ref), nil, nil)
}

// TestWebhook sends a test delivery.
func (c *Client) TestWebhook(ctx context.Context, ref string) (patchbay.WebhookTestReply, error) {
	var out patchbay.WebhookTestReply
	return out, c.do(ctx, "POST", "/api/v1/webhooks/"+url.PathEscape(ref)+"/test", nil, &out)
}
