package client

import (
	"context"
	"fmt"
	"net/url"

	"github.com/patchbay/patchbay"
)

// ImportAdvisories posts one batch of advisories; the server stores it in
// one transaction and re-evaluates the hosts it touches.
func (c *Client) ImportAdvisories(ctx context.Context, advs []patchbay.Advisory) (patchbay.AdvisoryImportReply, error) {
	var out patchbay.AdvisoryImportReply
	return out, c.do(ctx, "POST", "/api/v1/advisories", patchbay.AdvisoryImportRequest{Advisories: advs}, &out)
}

// ImportKEV replaces the server's KEV catalog.
func (c *Client) ImportKEV(ctx context.Context, entries []patchbay.KEVEntry) error {
	return c.do(ctx, "PUT", "/api/v1/kev", patchbay.KEVImportRequest{Entries: entries}, nil)
}

// ListAdvisories lists advisories.
func (c *Client) ListAdvisories(ctx context.Context, f patchbay.AdvisoryFilter) ([]patchbay.Advisory, error) {
	v := url.Values{}
	for k, s := range map[string]string{"cve": f.CVE, "ecosystem": f.Ecosystem, "package": f.Package, "source": f.Source} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if f.Limit > 0 {
		v.Set("limit", fmt.Sprint(f.Limit))
	}
	if f.Offset > 0 {
		v.Set("offset", fmt.Sprint(f.Offset))
	}
	var out []patchbay.Advisory
	return out, c.do(ctx, "GET", "/api/v1/advisories?"+v.Encode(), nil, &out)
}

// Advisory returns one advisory.
func (c *Client) Advisory(ctx context.Context, id string) (patchbay.Advisory, error) {
	var out patchbay.Advisory
	return out, c.do(ctx, "GET", "/api/v1/advisories/"+url.PathEscape(id), nil, &out)
}

// VulnQuery are the filters of Findings; Host is a host reference.
type VulnQuery struct {
	Host     string
	Severity string   // this or worse
	KEV      bool     // only CVEs in the KEV catalog
	Fixable  bool     // only findings with a fixed version
	Labels   []string // "k=v"
	CVE      string
	Resolved bool
	Limit    int
}

// Findings lists findings across the fleet, or of one host.
func (c *Client) Findings(ctx context.Context, q VulnQuery) ([]patchbay.Finding, error) {
	v := url.Values{}
	for k, s := range map[string]string{"severity": q.Severity, "cve": q.CVE} {
		if s != "" {
			v.Set(k, s)
		}
	}
	for k, on := range map[string]bool{"kev": q.KEV, "fixable": q.Fixable, "resolved": q.Resolved} {
		if on {
			v.Set(k, "true")
		}
	}
	for _, l := range q.Labels {
		v.Add("label", l)
	}
	if q.Limit > 0 {
		v.Set("limit", fmt.Sprint(q.Limit))
	}
	path := "/api/v1/vulns?"
	if q.Host != "" {
		path = hostPath(q.Host, "/findings?")
	}
	var out []patchbay.Finding
	return out, c.do(ctx, "GET", path+v.Encode(), nil, &out)
}

// Vuln returns one CVE across the fleet.
func (c *Client) Vuln(ctx context.Context, cve string) (patchbay.Vuln, error) {
	var out patchbay.Vuln
	return out, c.do(ctx, "GET", "/api/v1/vulns/"+url.PathEscape(cve), nil, &out)
}

// EvaluateFleet asks the server to re-evaluate every host.
func (c *Client) EvaluateFleet(ctx context.Context) (patchbay.EvalStats, error) {
	var out patchbay.EvalStats
	return out, c.do(ctx, "POST", "/api/v1/vulns/evaluate", nil, &out)
}

// FeedSources lists the server's advisory feed sources.
func (c *Client) FeedSources(ctx context.Context) ([]patchbay.FeedSource, error) {
	var out []patchbay.FeedSource
	return out, c.do(ctx, "GET", "/api/v1/advisory-sources", nil, &out)
}

// AddFeedSource adds an advisory feed source.
func (c *Client) AddFeedSource(ctx context.Context, url, kind string) (patchbay.FeedSource, error) {
	var out patchbay.FeedSource
	return out, c.do(ctx, "POST", "/api/v1/advisory-sources", patchbay.FeedSourceRequest{URL: url, Kind: kind}, &out)
}

// RemoveFeedSource removes an advisory feed source.
func (c *Client) RemoveFeedSource(ctx context.Context, id int64) error {
	return c.do(ctx, "DELETE", fmt.Sprintf("/api/v1/advisory-sources/%d", id), nil, nil)
}
