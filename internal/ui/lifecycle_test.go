package ui_test

import (
	"fmt"
	"github.com/patchbay/patchbay"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestRetireAndDormantPages: the dormant report lists a host unseen for
// over 14 days with its owner and days unseen, and proposes one unseen
// for over 90 days for retirement; the host page's retire form retires a
// host (it leaves the host list, the page says by whom and why), and the
// unretire form takes it back; the dashboard counts dormant hosts.
func TestRetireAndDormantPages(t *testing.T) {
	f := newFixture(t)
	now := f.clock.now()
	f.clock.set(now.Add(-100 * 24 * time.Hour))
	f.addHost(t, hostSpec{name: "ancient", assets: map[string]string{"owner": "dave"}})
	f.clock.set(now.Add(-20 * 24 * time.Hour))
	f.addHost(t, hostSpec{name: "sleepy", updates: []patchbay.Update{secUpdate("openssl")}})
	f.clock.set(now)
	web := f.addHost(t, hostSpec{name: "web1"})
	b := f.browser(t)
	token := b.signIn()

	r := b.get("/reports/dormant")
	mustContain(t, r.body, "Dormant hosts <span class=\"muted\">2</span>", "1 proposed for retirement.",
		">ancient</a>", "<td>dave</td>", `<td class="num">100</td>`, ">sleepy</a>", `<span class="muted">no owner</span>`, `<td class="num">20</td>`,
		`<span class="badge warn">retire</span>`, "after 90d", "for 14d")
	if r := b.get("/"); r.status != http.StatusOK {
		t.Fatal(r.status)
	} else {
		mustContain(t, r.body, `<a href="/reports/dormant"><span class="n warn">2</span> dormant</a>`)
	}

	path := fmt.Sprintf("/hosts/%d", web.ID)
	mustContain(t, b.get(path).body, `action="`+path+`/retire"`, "Retire host")
	r = b.post(path+"/retire", url.Values{"csrf": {token}, "reason": {"  replaced by web2 "}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != path+"#retired" {
		t.Fatalf("retire: %d to %q:\n%s", r.status, r.header.Get("Location"), r.body)
	}
	page := b.get(path)
	mustContain(t, page.body, `<span class="badge retired" id="status">retired</span>`, "by admin: replaced by web2.", `action="`+path+`/unretire"`,
		"retired by admin: replaced by web2") // the timeline entry
	if list := b.get("/hosts"); strings.Contains(list.body, ">web1</a>") {
		t.Error("the host list shows a retired host")
	}
	mustContain(t, b.get("/hosts?status=retired").body, ">web1</a>")
	if r := b.post(path+"/retire", url.Values{"csrf": {token}}); r.status != http.StatusConflict {
		t.Errorf("retire twice: %d", r.status)
	}
	if r := b.post(path+"/retire", url.Values{"reason": {"no csrf"}}); r.status != http.StatusForbidden {
		t.Errorf("retire without a CSRF token: %d", r.status)
	}
	r = b.post(path+"/unretire", url.Values{"csrf": {token}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("unretire: %d:\n%s", r.status, r.body)
	}
	mustContain(t, b.get("/hosts").body, ">web1</a>")
}
