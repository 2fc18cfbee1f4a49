package patchbay

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Block forbids one version of a package everywhere (the Debian 12.3 ext4
// drill): no plan takes it, running rollouts that planned it halt, queued
// jobs that would install it are withdrawn before they run, and agents
// refuse to install it even from a stale job. A block lasts until it is
// removed; rows are kept.
type Block struct {
	ID        int64     `json:"id"`
	Package   string    `json:"package"` // binary package name, any architecture
	Version   string    `json:"version"`
	Reason    string    `json:"reason"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
	RemovedAt time.Time `json:"removed_at"`
	RemovedBy string    `json:"removed_by,omitempty"`
}

// Active reports whether the block is in force.
func (b Block) Active() bool { return b.RemovedAt.IsZero() }

// Matches reports whether the block forbids p.
func (b Block) Matches(p PackageVersion) bool { return p.Name == b.Package && p.Version == b.Version }

// String is "name=version".
func (b Block) String() string { return b.Package + "=" + b.Version }

// Validate checks a new block: a package name and a version without
// spaces, and a reason.
func (b Block) Validate() error {
	switch {
	case b.Package == "" || b.Version == "":
		return Errorf(EINVALID, "a block needs PACKAGE=VERSION")
	case strings.ContainsAny(b.Package+b.Version, " \t\n=*?[/"):
		return Errorf(EINVALID, "block %s=%s: an exact package name and version, without spaces or patterns", b.Package, b.Version)
	case len(b.Package) > 200 || len(b.Version) > 200:
		return Errorf(EINVALID, "block: package or version longer than 200 characters")
	case strings.TrimSpace(b.Reason) == "":
		return Errorf(EINVALID, "a block needs a reason")
	case len(b.Reason) > 2000:
		return Errorf(EINVALID, "block reason: longer than 2000 characters")
	}
	return nil
}

// ParseBlock reads "PACKAGE=VERSION".
func ParseBlock(s string) (Block, error) {
	name, version, ok := strings.Cut(strings.TrimSpace(s), "=")
	if !ok || name == "" || version == "" {
		return Block{}, Errorf(EINVALID, "block %q: want PACKAGE=VERSION (e.g. linux-image-6.1.0-14-amd64=6.1.64-1)", s)
	}
	return Block{Package: name, Version: version}, nil
}

// BlockedBy returns the first block in blocks that forbids p.
func BlockedBy(blocks []Block, p PackageVersion) (Block, bool) {
	for _, b := range blocks {
		if b.Active() && b.Matches(p) {
			return b, true
		}
	}
	return Block{}, false
}

// Describe says why p is blocked, for plans, refusals and logs.
func (b Block) Describe() string {
	return fmt.Sprintf("%s is blocked fleet-wide (block %d by %s: %s)", b.String(), b.ID, b.CreatedBy, b.Reason)
}

// BlockRequest adds a block: "PACKAGE=VERSION" and why.
type BlockRequest struct {
	Block  string `json:"block"`
	Reason string `json:"reason"`
}

// BlockReply is a new block and what it stopped: rollouts halted, hosts
// already running a job that installs it (the agents refuse it if they
// have not started it yet).
type BlockReply struct {
	Block   Block    `json:"block"`
	Halted  []string `json:"halted"`
	Running []string `json:"running"`
}

// BlockStore keeps blocks.
type BlockStore interface {
	// CreateBlock stores a block; the same version blocked already is
	// ECONFLICT.
	CreateBlock(ctx context.Context, b Block) (Block, error)
	// ListBlocks lists blocks in force (all: removed ones too), newest
	// first.
	ListBlocks(ctx context.Context, all bool) ([]Block, error)
	// RemoveBlock ends a block in force.
	RemoveBlock(ctx context.Context, id int64, who string, now time.Time) (Block, error)
}
