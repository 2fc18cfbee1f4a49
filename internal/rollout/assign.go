package rollout

import (
	"cmp"
	"slices"
	"strings"

	"github.com/patchbay/patchbay"
)

// AssignRings puts each of the rollout's hosts in exactly one ring and
// returns host id → ring index. It runs once, when the plan is made; the
// result is frozen in the HostRuns.
//
// The rules, in order:
//
//   - Hosts that do not match the rollout's Target are not part of the
//     rollout and are left out of the map (an empty target matches all).
//   - Selector rings go first, in ring order: each takes every host that
//     matches it and that no earlier selector ring took. So a "canary" ring
//     of role=template takes the templates even when it is not the first
//     ring, and a host matching two selector rings is in the earlier one.
//   - Count and percentage rings then take, in ring order, from the hosts
//     left over, in a stable order: by hostname, then id. A count takes
//     that many, or all that are left if fewer are. A percentage takes that
//     share of the hosts left at that point, rounded up, so 10% of 5 hosts
//     is 1 host and a ring never ends up empty while hosts remain; 100%
//     takes all the rest.
//   - A ring may end up empty (its selector matches nothing, or nothing was
//     left); an empty ring is done at once and has no bake time.
//   - Hosts that no ring takes are an EINVALID error naming them: the plan
//     must cover every targeted host, so end with a ring of 100%.
//
// Duplicate host ids and an invalid rollout definition are EINVALID too.
func AssignRings(r patchbay.Rollout, hosts []patchbay.Host) (map[int64]int, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	targeted := make([]*patchbay.Host, 0, len(hosts))
	seen := make(map[int64]bool, len(hosts))
	for i := range hosts {
		h := &hosts[i]
		if seen[h.ID] {
			return nil, patchbay.Errorf(patchbay.EINVALID, "host %d (%s) is listed twice", h.ID, h.Hostname)
		}
		seen[h.ID] = true
		if r.Target.Matches(*h) {
			targeted = append(targeted, h)
		}
	}
	slices.SortFunc(targeted, func(a, b *patchbay.Host) int {
		return cmp.Or(strings.Compare(a.Hostname, b.Hostname), cmp.Compare(a.ID, b.ID))
	})

	ring := make(map[int64]int, len(targeted))
	for i, g := range r.Rings {
		if len(g.Selector) == 0 {
			continue
		}
		for _, h := range targeted {
			if _, taken := ring[h.ID]; !taken && g.Selector.Matches(*h) {
				ring[h.ID] = i
			}
		}
	}
	rest := make([]*patchbay.Host, 0, len(targeted)-len(ring))
	for _, h := range targeted {
		if _, taken := ring[h.ID]; !taken {
			rest = append(rest, h)
		}
	}
	for i, g := range r.Rings {
		n := 0
		switch {
		case g.Count > 0:
			n = min(g.Count, len(rest))
		case g.Percent > 0:
			n = (len(rest)*g.Percent + 99) / 100
		default:
			continue
		}
		for _, h := range rest[:n] {
			ring[h.ID] = i
		}
		rest = rest[n:]
	}
	if len(rest) > 0 {
		names := make([]string, 0, 3)
		for _, h := range rest[:min(3, len(rest))] {
			names = append(names, h.Hostname)
		}
		more := ""
		if len(rest) > len(names) {
			more = ", …"
		}
		return nil, patchbay.Errorf(patchbay.EINVALID, "%d targeted hosts are in no ring (%s%s); end with a ring of 100%% to take the rest", len(rest), strings.Join(names, ", "), more)
	}
	return ring, nil
}
