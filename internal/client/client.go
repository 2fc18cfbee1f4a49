// Package client is the typed Go client of Patchbay's /api/v1, used by the
// CLI and the agent.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/patchbay/patchbay"
)

// Client talks to one Patchbay server.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// New returns a client for the server at baseURL ("https://host:8080")
// with a bearer credential (may be empty for enrolment) and TLS settings.
func New(baseURL, token string, tlsConfig *tls.Config) *Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConfig
	tr.MaxIdleConnsPerHost = 4
	// A connection that went dead without a reset (a cut network, a host
	// that vanished) would hold every request on it until TCP gives up:
	// ping it after 10 s without a frame, and drop it if no answer comes
	// within 5 s, so that an agent's check-ins resume soon after the
	// network does.
	tr.HTTP2 = &http.HTTP2Config{SendPingTimeout: 10 * time.Second, PingTimeout: 5 * time.Second}
	return &Client{
		base:  strings.TrimRight(baseURL, "/"),
		token: token,
		http:  &http.Client{Transport: tr, Timeout: 5 * time.Minute},
	}
}

// WithToken returns a copy of c that sends token.
func (c *Client) WithToken(token string) *Client {
	cc := *c
	cc.token = token
	return &cc
}

// do sends a request with an optional JSON body and decodes a JSON reply
// into out (if not nil). API errors come back as *patchbay.Error.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var eb patchbay.ErrorResponse
		if json.Unmarshal(data, &eb) == nil && eb.Error.Code != "" {
			return &patchbay.Error{Code: eb.Error.Code, Message: eb.Error.Message}
		}
		return &patchbay.Error{Code: codeForStatus(resp.StatusCode), Message: fmt.Sprintf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, strings.TrimSpace(string(data)))}
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		_, err := io.Copy(io.Discard, resp.Body)
		return err
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode reply: %w", method, path, err)
	}
	// Read to the end so the connection is reused and the server's last
	// write does not fail.
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

// Health checks the server's public health endpoint.
func (c *Client) Health(ctx context.Context) error {
	return c.do(ctx, "GET", "/api/v1/health", nil, nil)
}

// Enroll exchanges an enrolment token for a host credential.
func (c *Client) Enroll(ctx context.Context, req patchbay.EnrollRequest) (patchbay.EnrollResponse, error) {
	var out patchbay.EnrollResponse
	return out, c.do(ctx, "POST", "/api/v1/enroll", req, &out)
}

// Heartbeat sends a check-in.
func (c *Client) Heartbeat(ctx context.Context, hb patchbay.Heartbeat) (patchbay.HeartbeatReply, error) {
	var out patchbay.HeartbeatReply
	return out, c.do(ctx, "POST", "/api/v1/agent/heartbeat", hb, &out)
}

// PutInventory uploads a full inventory.
func (c *Client) PutInventory(ctx context.Context, inv patchbay.Inventory) error {
	return c.do(ctx, "PUT", "/api/v1/agent/inventory", inv, nil)
}

// HostQuery are the filters of ListHosts.
type HostQuery struct {
	Labels          []string // "k=v"
	OS              string
	Status          patchbay.HostStatus // exactly this status (retired hosts only so)
	Stale           bool                // stale or dormant
	NeedsReboot     bool
	HasUpdates      bool
	SecurityUpdates bool
	Limit, Offset   int
}

// ListHosts lists hosts.
func (c *Client) ListHosts(ctx context.Context, q HostQuery) ([]patchbay.Host, error) {
	v := url.Values{}
	for _, l := range q.Labels {
		v.Add("label", l)
	}
	if q.OS != "" {
		v.Set("os", q.OS)
	}
	if q.Status != "" {
		v.Set("status", string(q.Status))
	}
	for name, on := range map[string]bool{"stale": q.Stale, "needs_reboot": q.NeedsReboot, "has_updates": q.HasUpdates, "security_updates": q.SecurityUpdates} {
		if on {
			v.Set(name, "true")
		}
	}
	if q.Limit > 0 {
		v.Set("limit", fmt.Sprint(q.Limit))
	}
	if q.Offset > 0 {
		v.Set("offset", fmt.Sprint(q.Offset))
	}
	var out []patchbay.Host
	return out, c.do(ctx, "GET", "/api/v1/hosts?"+v.Encode(), nil, &out)
}

func hostPath(ref string, rest string) string {
	return "/api/v1/hosts/" + url.PathEscape(ref) + rest
}

// Host returns one host.
func (c *Client) Host(ctx context.Context, ref string) (patchbay.Host, error) {
	var out patchbay.Host
	return out, c.do(ctx, "GET", hostPath(ref, ""), nil, &out)
}

// RetireHost retires a host, with a reason for its timeline.
func (c *Client) RetireHost(ctx context.Context, ref, reason string) (patchbay.Host, error) {
	var out patchbay.Host
	return out, c.do(ctx, "POST", hostPath(ref, "/retire"), map[string]string{"reason": reason}, &out)
}

// UnretireHost takes a retired host back.
func (c *Client) UnretireHost(ctx context.Context, ref string) (patchbay.Host, error) {
	var out patchbay.Host
	return out, c.do(ctx, "POST", hostPath(ref, "/unretire"), nil, &out)
}

// DormantReport lists the dormant hosts.
func (c *Client) DormantReport(ctx context.Context) (patchbay.DormantReport, error) {
	var out patchbay.DormantReport
	return out, c.do(ctx, "GET", "/api/v1/reports/dormant", nil, &out)
}

// SLAReport reads the SLA report; since ("90d") and sla
// ("critical=7d,...") may be "" for the server's defaults.
func (c *Client) SLAReport(ctx context.Context, since, sla string) (patchbay.SLAReport, error) {
	v := url.Values{}
	if since != "" {
		v.Set("since", since)
	}
	if sla != "" {
		v.Set("sla", sla)
	}
	var out patchbay.SLAReport
	return out, c.do(ctx, "GET", "/api/v1/reports/sla?"+v.Encode(), nil, &out)
}

// SetHost sets asset fields and labels.
func (c *Client) SetHost(ctx context.Context, ref string, set map[string]string) (patchbay.Host, error) {
	var out patchbay.Host
	return out, c.do(ctx, "PATCH", hostPath(ref, ""), map[string]any{"set": set}, &out)
}

// HostPackages lists a host's packages.
func (c *Client) HostPackages(ctx context.Context, ref string) ([]patchbay.Package, error) {
	var out []patchbay.Package
	return out, c.do(ctx, "GET", hostPath(ref, "/packages"), nil, &out)
}

// HostUpdates lists a host's pending updates with the CVEs each fixes.
func (c *Client) HostUpdates(ctx context.Context, ref string) ([]patchbay.HostUpdate, error) {
	var out []patchbay.HostUpdate
	return out, c.do(ctx, "GET", hostPath(ref, "/updates"), nil, &out)
}

// HostHistory returns a host's events; since is like "7d" (empty: all).
func (c *Client) HostHistory(ctx context.Context, ref, since, pkg string, limit int) ([]patchbay.Event, error) {
	v := url.Values{}
	if since != "" {
		v.Set("since", since)
	}
	if pkg != "" {
		v.Set("package", pkg)
	}
	if limit > 0 {
		v.Set("limit", fmt.Sprint(limit))
	}
	var out []patchbay.Event
	return out, c.do(ctx, "GET", hostPath(ref, "/history?"+v.Encode()), nil, &out)
}

// CreateToken makes an enrolment token.
func (c *Client) CreateToken(ctx context.Context, req patchbay.CreateTokenRequest) (patchbay.CreateTokenResponse, error) {
	var out patchbay.CreateTokenResponse
	return out, c.do(ctx, "POST", "/api/v1/tokens", req, &out)
}

// ListTokens lists enrolment tokens.
func (c *Client) ListTokens(ctx context.Context) ([]patchbay.EnrollToken, error) {
	var out []patchbay.EnrollToken
	return out, c.do(ctx, "GET", "/api/v1/tokens", nil, &out)
}

// RevokeToken revokes an enrolment token.
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	return c.do(ctx, "DELETE", "/api/v1/tokens/"+url.PathEscape(id), nil, nil)
}

// codeForStatus names the error of a reply that carried no error body
// (a proxy in the way, say).
func codeForStatus(status int) string {
	switch status {
	case http.StatusBadRequest:
		return patchbay.EINVALID
	case http.StatusUnauthorized:
		return patchbay.EUNAUTHORIZED
	case http.StatusForbidden:
		return patchbay.EFORBIDDEN
	case http.StatusNotFound:
		return patchbay.ENOTFOUND
	case http.StatusConflict:
		return patchbay.ECONFLICT
	case http.StatusRequestEntityTooLarge:
		return patchbay.ETOOLARGE
	}
	return patchbay.EINTERNAL
}
