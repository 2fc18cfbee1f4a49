package client

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/patchbay/patchbay"
)

// pollMargin is how long a long poll may take beyond its wait before the
// client gives up on it: the server's own latency, a slow network.
const pollMargin = 15 * time.Second

// PollJobs long-polls for the calling host's jobs: the server answers as
// soon as a job is queued, or with none once wait is over. An empty reply
// (no jobs, or 204 No Content) is the normal end of an idle wait.
func (c *Client) PollJobs(ctx context.Context, wait time.Duration) (patchbay.JobsPoll, error) {
	secs := int64(wait / time.Second)
	ctx, cancel := context.WithTimeout(ctx, wait+pollMargin)
	defer cancel()
	var out patchbay.JobsPoll
	if err := c.do(ctx, "GET", fmt.Sprintf("/api/v1/agent/jobs?wait=%d", max(secs, 0)), nil, &out); err != nil {
		return patchbay.JobsPoll{}, err
	}
	return out, nil
}

// PostJobResult reports the result of job id. Posting the same result
// again is not an error.
func (c *Client) PostJobResult(ctx context.Context, id string, r patchbay.JobResult) error {
	return c.do(ctx, "POST", "/api/v1/agent/jobs/"+url.PathEscape(id)+"/result", r, nil)
}
