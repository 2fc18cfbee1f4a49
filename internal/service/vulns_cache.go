package service

import (
	"context"
	"sync"

	"github.com/patchbay/patchbay"
)

// advCache keeps, for the whole service, what evaluation learns about an
// (ecosystem, package) pair: its advisories, cut down to what matching
// reads (id, withdrawal and the pair's own affected entries), and the
// outcome of matching each installed version against them. Stored
// advisories are JSON, and decoding them was half of every evaluation run;
// with the cache a pair is read and decoded once, and a version matched
// once, until an import changes the pair.
//
// Coherence. An import commits, then invalidates the pairs it changed,
// then evaluates the hosts that have them. Invalidation bumps gen; a fill
// that read the store before an invalidation (its gen is older) is used by
// its own run but not kept, so no entry older than the last commit that
// changed its pair survives. The run that read it holds the host's lock,
// so the import's own evaluation of that host comes after and corrects it.
type advCache struct {
	mu    sync.Mutex
	gen   uint64
	pairs map[patchbay.EcoPackage]*pairEntry
}

// pairEntry is the cached state of one pair. advs is never changed once
// the entry is made; results is guarded by advCache.mu.
type pairEntry struct {
	advs    []patchbay.Advisory
	results map[string]*matchResult // by installed version
}

// matchResult is the outcome of matching one version against one pair.
type matchResult struct {
	hits []hit
	errs int // advisories whose version rules could not read it
}

// entries returns the entries of pairs, reading the missing ones from the
// store (pairs without advisories get an empty entry).
func (c *advCache) entries(ctx context.Context, store patchbay.AdvisoryStore, pairs []patchbay.EcoPackage, out map[patchbay.EcoPackage]*pairEntry) error {
	var miss []patchbay.EcoPackage
	c.mu.Lock()
	gen := c.gen
	for _, ep := range pairs {
		if e, ok := c.pairs[ep]; ok {
			out[ep] = e
		} else {
			miss = append(miss, ep)
		}
	}
	c.mu.Unlock()
	if len(miss) == 0 {
		return nil
	}
	got, err := store.AdvisoriesFor(ctx, miss)
	if err != nil {
		return err
	}
	fresh := make(map[patchbay.EcoPackage]*pairEntry, len(miss))
	for _, ep := range miss {
		e := &pairEntry{results: map[string]*matchResult{}}
		for _, a := range got[ep] {
			e.advs = append(e.advs, slim(a, ep))
		}
		fresh[ep] = e
		out[ep] = e
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return nil
	}
	if c.pairs == nil {
		c.pairs = map[patchbay.EcoPackage]*pairEntry{}
	}
	for ep, e := range fresh {
		if old, ok := c.pairs[ep]; ok { // filled meanwhile by another run: keep one
			out[ep] = old
			continue
		}
		c.pairs[ep] = e
	}
	return nil
}

// slim keeps what match.Check reads of a for the pair ep.
func slim(a patchbay.Advisory, ep patchbay.EcoPackage) patchbay.Advisory {
	s := patchbay.Advisory{ID: a.ID, Withdrawn: a.Withdrawn}
	for _, af := range a.Affected {
		if af.Ecosystem == ep.Ecosystem && af.Package == ep.Package {
			s.Affected = append(s.Affected, af)
		}
	}
	return s
}

// result returns the cached outcome of version on e, if any.
func (c *advCache) result(e *pairEntry, version string) (*matchResult, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := e.results[version]
	return m, ok
}

// keep records the outcome of version on e.
func (c *advCache) keep(e *pairEntry, version string, m *matchResult) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.results[version] = m
}

// invalidate forgets pairs (nil: everything).
func (c *advCache) invalidate(pairs []patchbay.EcoPackage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if pairs == nil {
		c.pairs = nil
		return
	}
	for _, ep := range pairs {
		delete(c.pairs, ep)
	}
}
