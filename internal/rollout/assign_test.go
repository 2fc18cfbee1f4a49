package rollout

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay"
)

// fleet returns n hosts named web01… with ids counting down, so that id
// order and hostname order differ; template lists the ids with role=template.
func fleet(n int, template ...int64) []patchbay.Host {
	hosts := make([]patchbay.Host, n)
	for i := range hosts {
		hosts[i] = patchbay.Host{ID: int64(n - i), Hostname: fmt.Sprintf("web%02d", i+1), Labels: map[string]string{"site": "a"}}
		hosts[i].Assets.Environment = "prod"
	}
	for i := range hosts {
		for _, id := range template {
			if hosts[i].ID == id {
				hosts[i].Assets.Role = "template"
			}
		}
	}
	return hosts
}

func sel(t testing.TB, s string) patchbay.Selector {
	t.Helper()
	v, err := patchbay.ParseSelector(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// byRing turns AssignRings' map into ring → hostnames, easier to read.
func byRing(hosts []patchbay.Host, m map[int64]int) map[int][]string {
	out := map[int][]string{}
	for _, h := range hosts { // hosts are in hostname order
		if r, ok := m[h.ID]; ok {
			out[r] = append(out[r], h.Hostname)
		}
	}
	return out
}

func TestAssignRings(t *testing.T) {
	ring := func(name string, f func(*patchbay.Ring)) patchbay.Ring {
		g := patchbay.Ring{Name: name, MaxConcurrency: 1}
		f(&g)
		return g
	}
	canary := ring("canary", func(g *patchbay.Ring) { g.Selector = patchbay.Selector{"role": "template"} })
	count := func(n int) patchbay.Ring {
		return ring(fmt.Sprintf("count%d", n), func(g *patchbay.Ring) { g.Count = n })
	}
	percent := func(p int) patchbay.Ring {
		return ring(fmt.Sprintf("pct%d", p), func(g *patchbay.Ring) { g.Percent = p })
	}
	for _, tc := range []struct {
		name   string
		target string
		rings  []patchbay.Ring
		hosts  []patchbay.Host
		want   map[int][]string
	}{
		{
			name:  "selector first, then count and the rest",
			rings: []patchbay.Ring{canary, count(2), percent(100)},
			hosts: fleet(6, 2), // id 2 is web05
			want:  map[int][]string{0: {"web05"}, 1: {"web01", "web02"}, 2: {"web03", "web04", "web06"}},
		},
		{
			name:  "a selector ring takes its hosts even when it is not first",
			rings: []patchbay.Ring{count(1), canary, percent(100)},
			hosts: fleet(4, 4), // id 4 is web01
			want:  map[int][]string{0: {"web02"}, 1: {"web01"}, 2: {"web03", "web04"}},
		},
		{
			name:  "percentages of the remaining hosts round up",
			rings: []patchbay.Ring{canary, percent(10), percent(50), percent(100)},
			hosts: fleet(12, 12), // web01 is the template; 11 left: ceil(1.1)=2, ceil(4.5)=5, 4
			want: map[int][]string{
				0: {"web01"}, 1: {"web02", "web03"},
				2: {"web04", "web05", "web06", "web07", "web08"},
				3: {"web09", "web10", "web11", "web12"},
			},
		},
		{
			name:  "a count larger than what is left takes the rest",
			rings: []patchbay.Ring{count(2), count(5)},
			hosts: fleet(4),
			want:  map[int][]string{0: {"web01", "web02"}, 1: {"web03", "web04"}},
		},
		{
			name:  "rings can be empty",
			rings: []patchbay.Ring{canary, count(3), percent(100)},
			hosts: fleet(2),
			want:  map[int][]string{1: {"web01", "web02"}},
		},
		{
			name:  "a host matching two selectors is in the earlier ring",
			rings: []patchbay.Ring{canary, ring("prod", func(g *patchbay.Ring) { g.Selector = patchbay.Selector{"env": "prod"} })},
			hosts: fleet(3, 1),
			want:  map[int][]string{0: {"web03"}, 1: {"web01", "web02"}},
		},
		{
			name:   "hosts outside the target are not in the rollout",
			target: "role=template",
			rings:  []patchbay.Ring{percent(100)},
			hosts:  fleet(5, 1, 3),
			want:   map[int][]string{0: {"web03", "web05"}},
		},
		{
			name:  "no hosts",
			rings: []patchbay.Ring{canary, percent(100)},
			hosts: nil,
			want:  map[int][]string{},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := patchbay.Rollout{Name: "r", Target: sel(t, tc.target), Rings: tc.rings}
			m, err := AssignRings(r, tc.hosts)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, byRing(tc.hosts, m)); diff != "" {
				t.Errorf("rings (-want +got):\n%s", diff)
			}
			targeted := 0
			for _, h := range tc.hosts {
				if r.Target.Matches(h) {
					targeted++
				}
			}
			if len(m) != targeted {
				t.Errorf("%d hosts assigned; want each of the %d targeted hosts once", len(m), targeted)
			}
		})
	}
}

func TestAssignRingsStable(t *testing.T) {
	r := patchbay.Rollout{Name: "r", Rings: []patchbay.Ring{
		{Name: "a", Count: 3, MaxConcurrency: 1},
		{Name: "b", Percent: 100, MaxConcurrency: 1},
	}}
	hosts := fleet(10)
	// Two hosts with the same name: the lower id goes first.
	hosts = append(hosts, patchbay.Host{ID: 100, Hostname: "web01"})
	want, err := AssignRings(r, hosts)
	if err != nil {
		t.Fatal(err)
	}
	if want[1] != 1 || want[100] != 0 {
		t.Errorf("duplicate hostname web01: ids 1 and 100 in rings %d and %d; want the lower id in the earlier ring", want[1], want[100])
	}
	reversed := make([]patchbay.Host, len(hosts))
	for i, h := range hosts {
		reversed[len(hosts)-1-i] = h
	}
	got, err := AssignRings(r, reversed)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("input order changed the rings (-first +reversed):\n%s", diff)
	}
}

func TestAssignRingsErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rings []patchbay.Ring
		hosts []patchbay.Host
		msg   string
	}{
		{"hosts left over", []patchbay.Ring{{Name: "a", Count: 2, MaxConcurrency: 1}}, fleet(6), "4 targeted hosts are in no ring (web03, web04, web05, …)"},
		{"duplicate id", []patchbay.Ring{{Name: "a", Percent: 100, MaxConcurrency: 1}}, append(fleet(2), patchbay.Host{ID: 1, Hostname: "x"}), "host 1 (x) is listed twice"},
		{"no rings", nil, fleet(1), "needs at least one ring"},
		{"ring without a rule", []patchbay.Ring{{Name: "a", MaxConcurrency: 1}}, fleet(1), "exactly one of"},
		{"ring with two rules", []patchbay.Ring{{Name: "a", Count: 1, Percent: 5, MaxConcurrency: 1}}, fleet(1), "exactly one of"},
		{"no concurrency", []patchbay.Ring{{Name: "a", Percent: 100}}, fleet(1), "max concurrency"},
		{"same name twice", []patchbay.Ring{{Name: "a", Count: 1, MaxConcurrency: 1}, {Name: "a", Percent: 100, MaxConcurrency: 1}}, fleet(1), `name "a" is used twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := AssignRings(patchbay.Rollout{Name: "r", Rings: tc.rings}, tc.hosts)
			if patchbay.ErrorCode(err) != patchbay.EINVALID || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("AssignRings: %v; want an %s error saying %q", err, patchbay.EINVALID, tc.msg)
			}
		})
	}
}
