package client

import (
	"context"
	"fmt"

	"github.com/patchbay/patchbay"
)

// AddBlock blocks a version fleet-wide.
func (c *Client) AddBlock(ctx context.Context, req patchbay.BlockRequest) (patchbay.BlockReply, error) {
	var out patchbay.BlockReply
	return out, c.do(ctx, "POST", "/api/v1/blocks", req, &out)
}

// ListBlocks lists the blocks in force, or all of them.
func (c *Client) ListBlocks(ctx context.Context, all bool) ([]patchbay.Block, error) {
	var out []patchbay.Block
	path := "/api/v1/blocks"
	if all {
		path += "?all=true"
	}
	return out, c.do(ctx, "GET", path, nil, &out)
}

// RemoveBlock ends a block.
func (c *Client) RemoveBlock(ctx context.Context, id int64) (patchbay.Block, error) {
	var out patchbay.Block
	return out, c.do(ctx, "DELETE", fmt.Sprintf("/api/v1/blocks/%d", id), nil, &out)
}
