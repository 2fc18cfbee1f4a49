package ui

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/patchbay/patchbay"
)

// hostsPageSize is how many hosts one page of the list shows.
const hostsPageSize = 50

// hostsQuery is the host list's state, all of it in the URL so that a
// filtered, sorted page can be bookmarked and works without JavaScript.
type hostsQuery struct {
	Search   string
	Labels   string // "key=value key2=value2"
	OS       string
	Status   string // "", "away" (stale or dormant), or a patchbay.HostStatus
	Security bool
	Updates  bool
	Reboot   bool
	Sort     patchbay.HostSort
	Desc     bool
	Page     int
}

func parseHostsQuery(q url.Values) (hostsQuery, patchbay.HostFilter, error) {
	hq := hostsQuery{
		Search: strings.TrimSpace(q.Get("q")), Labels: strings.TrimSpace(q.Get("label")), OS: strings.TrimSpace(q.Get("os")),
		Status: q.Get("status"), Security: q.Get("security") == "1", Updates: q.Get("updates") == "1",
		Reboot: q.Get("reboot") == "1", Sort: patchbay.HostSort(q.Get("sort")), Desc: q.Get("desc") == "1", Page: 1,
	}
	f := patchbay.HostFilter{Search: hq.Search, OSID: hq.OS, SecurityUpdates: hq.Security, HasUpdates: hq.Updates,
		NeedsReboot: hq.Reboot, Desc: hq.Desc, Limit: hostsPageSize}
	if hq.Sort == "" {
		hq.Sort = patchbay.SortHostname
	}
	if !slices.Contains(patchbay.HostSorts, hq.Sort) {
		return hq, f, patchbay.Errorf(patchbay.EINVALID, "unknown sort %q", hq.Sort)
	}
	f.Sort = hq.Sort
	switch st := patchbay.HostStatus(hq.Status); {
	case st == "":
	case st == "away":
		f.Stale = true
	case slices.Contains(patchbay.HostStatuses, st):
		f.Status = st
	default:
		return hq, f, patchbay.Errorf(patchbay.EINVALID, "status %q: want active, stale, dormant, retired or away", hq.Status)
	}
	if hq.Labels != "" {
		f.Labels = map[string]string{}
		for _, kv := range strings.FieldsFunc(hq.Labels, func(r rune) bool { return r == ' ' || r == ',' }) {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return hq, f, patchbay.Errorf(patchbay.EINVALID, "label %q: want key=value", kv)
			}
			f.Labels[k] = v
		}
	}
	if p := q.Get("page"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 1_000_000 {
			return hq, f, patchbay.Errorf(patchbay.EINVALID, "page %q: want a positive number", p)
		}
		hq.Page = n
	}
	f.Offset = (hq.Page - 1) * hostsPageSize
	return hq, f, nil
}

// values renders the query back to URL parameters, leaving defaults out.
func (hq hostsQuery) values() url.Values {
	v := url.Values{}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	flag := func(k string, b bool) {
		if b {
			v.Set(k, "1")
		}
	}
	set("q", hq.Search)
	set("label", hq.Labels)
	set("os", hq.OS)
	set("status", hq.Status)
	flag("security", hq.Security)
	flag("updates", hq.Updates)
	flag("reboot", hq.Reboot)
	if hq.Sort != patchbay.SortHostname {
		set("sort", string(hq.Sort))
	}
	flag("desc", hq.Desc)
	if hq.Page > 1 {
		v.Set("page", strconv.Itoa(hq.Page))
	}
	return v
}

func (hq hostsQuery) href() string {
	if e := hq.values().Encode(); e != "" {
		return "/hosts?" + e
	}
	return "/hosts"
}

// SortHref is the link of a column header: sort by col, back to page 1;
// a second click on the current column reverses it.
func (hq hostsQuery) SortHref(col string) string {
	n := hq
	n.Page = 1
	if string(hq.Sort) == col {
		n.Desc = !hq.Desc
	} else {
		n.Sort, n.Desc = patchbay.HostSort(col), false
	}
	return n.href()
}

// AriaSort is the aria-sort value of a column header.
func (hq hostsQuery) AriaSort(col string) string {
	switch {
	case string(hq.Sort) != col:
		return "none"
	case hq.Desc:
		return "descending"
	}
	return "ascending"
}

// PageHref links to page n with the same filters and sort.
func (hq hostsQuery) PageHref(n int) string {
	p := hq
	p.Page = n
	return p.href()
}

type hostsPage struct {
	Q                 hostsQuery
	Hosts             []patchbay.Host
	Total             int
	From, To, Pages   int
	PrevPage, NextPag int
}

// hosts: GET /hosts — filters, sort and page all in the query string; the
// page is cut in SQL, so 10,000 hosts cost one page of rows and a count.
func (u *UI) hosts(w http.ResponseWriter, r *http.Request) error {
	hq, f, err := parseHostsQuery(r.URL.Query())
	if err != nil {
		return err
	}
	res, err := u.svc.ListHostsPage(r.Context(), f)
	if err != nil {
		return err
	}
	p := hostsPage{Q: hq, Hosts: res.Hosts, Total: res.Total}
	p.Pages = max(1, (res.Total+hostsPageSize-1)/hostsPageSize)
	if len(res.Hosts) > 0 {
		p.From = f.Offset + 1
		p.To = f.Offset + len(res.Hosts)
	}
	if hq.Page > 1 {
		p.PrevPage = min(hq.Page-1, p.Pages)
	}
	if hq.Page < p.Pages {
		p.NextPag = hq.Page + 1
	}
	return u.render(w, r, http.StatusOK, "hosts", view{Title: "Hosts", Nav: "hosts", Data: p})
}

func hostHref(id int64) string { return "/hosts/" + strconv.FormatInt(id, 10) }
