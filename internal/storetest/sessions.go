package storetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay"
)

func testUsers(t *testing.T, s patchbay.Store) {
	ctx := t.Context()
	u, err := s.CreateUser(ctx, patchbay.User{Username: "admin", PasswordHash: "h1", Role: patchbay.RoleAdmin, CreatedAt: at(0)})
	must(t, err)
	if u.ID == 0 {
		t.Fatal("CreateUser returned no id")
	}
	_, err = s.CreateUser(ctx, patchbay.User{Username: "admin", PasswordHash: "h2", Role: patchbay.RoleAdmin, CreatedAt: at(0)})
	wantCode(t, err, patchbay.ECONFLICT)
	_, err = s.CreateUser(ctx, patchbay.User{Username: "nohash", Role: patchbay.RoleAdmin})
	wantCode(t, err, patchbay.EINVALID)

	got, err := s.UserByName(ctx, "admin")
	must(t, err)
	want := patchbay.User{ID: u.ID, Username: "admin", PasswordHash: "h1", Role: patchbay.RoleAdmin, CreatedAt: at(0).UTC()}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("UserByName (-want +got):\n%s", diff)
	}
	_, err = s.UserByName(ctx, "Admin")
	wantCode(t, err, patchbay.ENOTFOUND)

	// A new password ends every session of the user.
	must(t, s.CreateSession(ctx, patchbay.Session{IDHash: "s1", UserID: u.ID, CSRFToken: "c1", CreatedAt: at(0), ExpiresAt: at(time.Hour)}))
	must(t, s.SetPassword(ctx, u.ID, "h3"))
	got, err = s.UserByName(ctx, "admin")
	must(t, err)
	if got.PasswordHash != "h3" {
		t.Errorf("password hash = %q after SetPassword, want h3", got.PasswordHash)
	}
	_, err = s.Session(ctx, "s1", at(0))
	wantCode(t, err, patchbay.ENOTFOUND)
	wantCode(t, s.SetPassword(ctx, u.ID+1000, "h"), patchbay.ENOTFOUND)
}

func testSessions(t *testing.T, s patchbay.Store) {
	ctx := t.Context()
	u, err := s.CreateUser(ctx, patchbay.User{Username: "ops", PasswordHash: "h", Role: patchbay.RoleAdmin, CreatedAt: at(0)})
	must(t, err)
	sess := patchbay.Session{IDHash: "hash-a", UserID: u.ID, CSRFToken: "csrf-a", CreatedAt: at(0), ExpiresAt: at(time.Hour)}
	must(t, s.CreateSession(ctx, sess))
	wantCode(t, s.CreateSession(ctx, sess), patchbay.ECONFLICT)
	wantCode(t, s.CreateSession(ctx, patchbay.Session{IDHash: "x", UserID: u.ID + 99, CSRFToken: "c", ExpiresAt: at(time.Hour)}), patchbay.ENOTFOUND)
	wantCode(t, s.CreateSession(ctx, patchbay.Session{IDHash: "x", UserID: u.ID, ExpiresAt: at(time.Hour)}), patchbay.EINVALID)
	must(t, s.CreateSession(ctx, patchbay.Session{IDHash: "hash-b", UserID: u.ID, CSRFToken: "csrf-b", CreatedAt: at(0), ExpiresAt: at(time.Minute)}))

	got, err := s.Session(ctx, "hash-a", at(30*time.Minute))
	must(t, err)
	want := sess
	want.Username, want.Role = "ops", patchbay.RoleAdmin
	want.CreatedAt, want.ExpiresAt = want.CreatedAt.UTC(), want.ExpiresAt.UTC()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Session (-want +got):\n%s", diff)
	}
	// Expiry is exclusive: at ExpiresAt the session is gone.
	_, err = s.Session(ctx, "hash-a", at(time.Hour))
	wantCode(t, err, patchbay.ENOTFOUND)
	_, err = s.Session(ctx, "unknown", at(0))
	wantCode(t, err, patchbay.ENOTFOUND)

	n, err := s.DeleteExpiredSessions(ctx, at(2*time.Minute))
	must(t, err)
	if n != 1 {
		t.Errorf("DeleteExpiredSessions removed %d, want 1 (hash-b)", n)
	}
	_, err = s.Session(ctx, "hash-a", at(2*time.Minute))
	must(t, err)

	must(t, s.DeleteSession(ctx, "hash-a"))
	must(t, s.DeleteSession(ctx, "hash-a")) // signing out twice is fine
	_, err = s.Session(ctx, "hash-a", at(0))
	wantCode(t, err, patchbay.ENOTFOUND)
}

// testListHostsSortSearchCount covers what the UI's host list needs beyond
// the API's filters: sorting, hostname search, the active filter and
// counting.
func testListHostsSortSearchCount(t *testing.T, s patchbay.Store) {
	ctx := t.Context()
	fl := newFleet(t, s)
	a, b, c, a2 := fl.alpha.ID, fl.bravo.ID, fl.charlie.ID, fl.alpha2.ID
	// bravo checks in an hour later than the rest: at(time.Hour) it is
	// the only active host.
	_, err := s.Heartbeat(ctx, b, patchbay.Heartbeat{}, at(time.Hour))
	must(t, err)
	now := at(time.Hour + time.Second)

	tests := []struct {
		name string
		f    patchbay.HostFilter
		want []int64
	}{
		{"by hostname desc", patchbay.HostFilter{Sort: patchbay.SortHostname, Desc: true}, []int64{c, b, a2, a}},
		{"by os", patchbay.HostFilter{Sort: patchbay.SortOS}, []int64{c, a, b, a2}},
		{"by updates desc, ties by hostname", patchbay.HostFilter{Sort: patchbay.SortUpdates, Desc: true}, []int64{a, b, a2, c}},
		{"by security updates desc", patchbay.HostFilter{Sort: patchbay.SortSecurityUpdates, Desc: true, Limit: 1}, []int64{a}},
		{"by reboot", patchbay.HostFilter{Sort: patchbay.SortReboot}, []int64{b, c, a, a2}},
		{"by last seen desc", patchbay.HostFilter{Sort: patchbay.SortLastSeen, Desc: true, Limit: 1}, []int64{b}},
		{"by packages", patchbay.HostFilter{Sort: patchbay.SortPackages}, []int64{a, a2, b, c}},
		{"search is a case-insensitive substring", patchbay.HostFilter{Search: "LPH"}, []int64{a, a2}},
		{"search takes % literally", patchbay.HostFilter{Search: "%"}, []int64{}},
		{"active", patchbay.HostFilter{Status: patchbay.HostActive, Now: now}, []int64{b}},
		{"stale", patchbay.HostFilter{Stale: true, Now: now}, []int64{a, a2, c}},
		{"search with filters and page", patchbay.HostFilter{Search: "a", NeedsReboot: true, Limit: 1, Offset: 1}, []int64{a2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hosts, err := s.ListHosts(ctx, tt.f)
			must(t, err)
			if diff := cmp.Diff(tt.want, hostIDs(hosts)); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
			// CountHosts counts what the filter selects, whatever the page.
			all := tt.f
			all.Limit, all.Offset = 0, 0
			hosts, err = s.ListHosts(ctx, all)
			must(t, err)
			n, err := s.CountHosts(ctx, tt.f)
			must(t, err)
			if n != len(hosts) {
				t.Errorf("CountHosts = %d, ListHosts without a page = %d hosts", n, len(hosts))
			}
		})
	}
	_, err = s.ListHosts(ctx, patchbay.HostFilter{Sort: "name; DROP TABLE hosts"})
	wantCode(t, err, patchbay.EINVALID)
	_, err = s.CountHosts(ctx, patchbay.HostFilter{Status: patchbay.HostActive})
	wantCode(t, err, patchbay.EINVALID)
}
