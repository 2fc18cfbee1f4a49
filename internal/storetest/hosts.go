package storetest

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/patchbay/patchbay"
)

func testFindHost(t *testing.T, s patchbay.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	a := f.enroll("0123456789abcdef0123456789abcdef", "web1", at(0))
	b := f.enroll("machine-b", "web2", at(0))
	c := f.enroll("machine-c", "web2", at(0))

	tests := []struct {
		name    string
		ref     string
		want    int64
		code    string
		message string // checked when set
	}{
		{"id", strconv.FormatInt(b.ID, 10), b.ID, "", ""},
		{"machine-id", a.MachineID, a.ID, "", ""},
		{"hostname", "web1", a.ID, "", ""},
		{"ambiguous hostname", "web2", 0, patchbay.EINVALID,
			fmt.Sprintf("hostname web2 is ambiguous, use the id or machine-id: ids %d, %d", b.ID, c.ID)},
		{"unknown", "db9", 0, patchbay.ENOTFOUND, ""},
		{"unknown id", "999999", 0, patchbay.ENOTFOUND, ""},
		{"empty", "", 0, patchbay.EINVALID, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := s.FindHost(ctx, tt.ref)
			wantCode(t, err, tt.code)
			if tt.code != "" {
				msg := patchbay.ErrorMessage(err)
				if tt.message != "" && msg != tt.message {
					t.Errorf("message = %q, want %q", msg, tt.message)
				}
				if tt.code == patchbay.ENOTFOUND && !strings.Contains(msg, tt.ref) {
					t.Errorf("message %q does not name the reference %q", msg, tt.ref)
				}
				return
			}
			if h.ID != tt.want {
				t.Errorf("FindHost(%q) = host %d, want %d", tt.ref, h.ID, tt.want)
			}
		})
	}
}

// fleet is four hosts with different facts, for the filter tests.
type fleet struct{ alpha, bravo, charlie, alpha2 patchbay.Host }

func newFleet(t *testing.T, s patchbay.Store) fleet {
	ctx := t.Context()
	f := newFixture(t, s)
	var fl fleet
	type spec struct {
		host    *patchbay.Host
		machine string
		name    string
		osID    string
		reboot  bool
		updates []patchbay.Update
		changes patchbay.HostChanges
	}
	for _, sp := range []spec{
		{&fl.alpha, "m-alpha", "alpha", "debian", true,
			[]patchbay.Update{update("openssl", "3.0.11-1~deb12u2", "3.0.13-1~deb12u1", true), update("tzdata", "2024a-0+deb12u1", "2025b-0+deb12u1", false)},
			patchbay.HostChanges{Assets: map[string]string{"environment": "prod", "owner": "alice"}, Labels: map[string]string{"team": "a"}}},
		{&fl.bravo, "m-bravo", "bravo", "debian", false,
			[]patchbay.Update{update("tzdata", "2024a-0+deb12u1", "2025b-0+deb12u1", false)},
			patchbay.HostChanges{Assets: map[string]string{"environment": "staging"}, Labels: map[string]string{"team": "b"}}},
		{&fl.charlie, "m-charlie", "charlie", "almalinux", false, nil,
			patchbay.HostChanges{Assets: map[string]string{"environment": "prod"}, Labels: map[string]string{"team": "a", "tier": "1"}}},
		{&fl.alpha2, "m-alpha2", "alpha", "ubuntu", true, nil, patchbay.HostChanges{}},
	} {
		h := f.enroll(sp.machine, sp.name, at(0))
		inv := inventory(h, []patchbay.Package{pkg("bash", "5.2.15-2+b7")}, sp.updates)
		inv.OS.ID = sp.osID
		inv.RebootRequired = sp.reboot
		must(t, s.SaveInventory(ctx, h.ID, "", inv, nil, at(0)))
		h, err := s.UpdateHost(ctx, h.ID, sp.changes)
		must(t, err)
		*sp.host = h
	}
	return fl
}

func testListHostsFilters(t *testing.T, s patchbay.Store) {
	ctx := t.Context()
	fl := newFleet(t, s)
	a, b, c, a2 := fl.alpha.ID, fl.bravo.ID, fl.charlie.ID, fl.alpha2.ID

	tests := []struct {
		name string
		f    patchbay.HostFilter
		want []int64
	}{
		{"all, by hostname then id", patchbay.HostFilter{}, []int64{a, a2, b, c}},
		{"free label", patchbay.HostFilter{Labels: map[string]string{"team": "a"}}, []int64{a, c}},
		{"two free labels", patchbay.HostFilter{Labels: map[string]string{"team": "a", "tier": "1"}}, []int64{c}},
		{"asset field", patchbay.HostFilter{Labels: map[string]string{"environment": "prod"}}, []int64{a, c}},
		{"asset alias env", patchbay.HostFilter{Labels: map[string]string{"env": "staging"}}, []int64{b}},
		{"owner", patchbay.HostFilter{Labels: map[string]string{"owner": "alice"}}, []int64{a}},
		{"unknown label", patchbay.HostFilter{Labels: map[string]string{"nope": "x"}}, []int64{}},
		{"os id", patchbay.HostFilter{OSID: "debian"}, []int64{a, b}},
		{"needs reboot", patchbay.HostFilter{NeedsReboot: true}, []int64{a, a2}},
		{"has updates", patchbay.HostFilter{HasUpdates: true}, []int64{a, b}},
		{"security updates", patchbay.HostFilter{SecurityUpdates: true}, []int64{a}},
		{"combined", patchbay.HostFilter{Labels: map[string]string{"team": "a", "env": "prod"}, OSID: "debian", NeedsReboot: true}, []int64{a}},
		{"combined, no match", patchbay.HostFilter{Labels: map[string]string{"team": "b"}, SecurityUpdates: true}, []int64{}},
		{"limit", patchbay.HostFilter{Limit: 2}, []int64{a, a2}},
		{"limit and offset", patchbay.HostFilter{Limit: 2, Offset: 2}, []int64{b, c}},
		{"offset only", patchbay.HostFilter{Offset: 3}, []int64{c}},
		{"offset past the end", patchbay.HostFilter{Offset: 10}, []int64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hosts, err := s.ListHosts(ctx, tt.f)
			must(t, err)
			if diff := cmp.Diff(tt.want, hostIDs(hosts)); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
		})
	}

	// The list carries the same hosts as Host.
	hosts, err := s.ListHosts(ctx, patchbay.HostFilter{})
	must(t, err)
	for _, h := range hosts {
		want, err := s.Host(ctx, h.ID)
		must(t, err)
		if diff := cmp.Diff(want, h, hostOpts()); diff != "" {
			t.Errorf("ListHosts host %d differs from Host (-Host +ListHosts):\n%s", h.ID, diff)
		}
	}
	if diff := cmp.Diff(fl.alpha, hosts[0], hostOpts()); diff != "" {
		t.Errorf("alpha (-UpdateHost +ListHosts):\n%s", diff)
	}
	if fl.alpha.UpdatesCount != 2 || fl.alpha.SecurityUpdatesCount != 1 || !fl.alpha.RebootRequired || fl.alpha.PackagesCount != 1 {
		t.Errorf("alpha counts = packages %d, updates %d, security %d, reboot %v; want 1, 2, 1, true",
			fl.alpha.PackagesCount, fl.alpha.UpdatesCount, fl.alpha.SecurityUpdatesCount, fl.alpha.RebootRequired)
	}

	_, err = s.ListHosts(ctx, patchbay.HostFilter{Limit: -1})
	wantCode(t, err, patchbay.EINVALID)
}

func testListHostsStale(t *testing.T, s patchbay.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	// Check-in intervals: 60 s (from enrolment), none (StatusAt assumes
	// 300 s), one hour (set by a heartbeat an hour ago).
	minute := f.enroll("m-minute", "minute", at(0))
	hour := f.enroll("m-hour", "hour", at(0))
	_, err := s.Heartbeat(ctx, hour.ID, patchbay.Heartbeat{IntervalSeconds: 3600}, at(-time.Hour))
	must(t, err)
	must(t, s.CreateEnrollToken(ctx, patchbay.EnrollToken{ID: "no-interval", Hash: "h", CreatedAt: at(0)}))
	none, _, err := s.Enroll(ctx, patchbay.Enrollment{TokenID: "no-interval", TokenHash: "h", MachineID: "m-none",
		Hostname: "none", CredentialHash: "cred-none"}, at(0))
	must(t, err)
	// An image (labelled so at enrolment) is never stale: it is only seen
	// when it is inventoried.
	must(t, s.CreateEnrollToken(ctx, patchbay.EnrollToken{ID: "image", Hash: "h", CreatedAt: at(0)}))
	img, _, err := s.Enroll(ctx, patchbay.Enrollment{TokenID: "image", TokenHash: "h", MachineID: "m-image",
		Hostname: "tmpl", CredentialHash: "cred-image", IntervalSecs: 60, Labels: patchbay.ImageLabels("tmpl")}, at(0))
	must(t, err)
	if !img.IsImage() || img.Labels[patchbay.LabelImage] != "tmpl" {
		t.Fatalf("image enrolled with labels %v", img.Labels)
	}

	tests := []struct {
		name string
		now  time.Time
		want []int64
	}{
		{"all fresh", at(time.Minute), []int64{}},
		{"exactly three intervals is not stale", at(3 * time.Minute), []int64{}},
		{"just past three intervals", at(3*time.Minute + time.Nanosecond), []int64{minute.ID}},
		{"default interval", at(15*time.Minute + time.Nanosecond), []int64{minute.ID, none.ID}},
		{"long interval", at(2*time.Hour + time.Nanosecond), []int64{hour.ID, minute.ID, none.ID}},
		{"long interval, not yet", at(2 * time.Hour), []int64{minute.ID, none.ID}},
		{"dormant ones are stale too", at(50 * time.Hour), []int64{hour.ID, minute.ID, none.ID}},
	}
	// Dormant after 90 minutes unseen (the hourly host was seen an hour
	// before the others).
	lc := patchbay.Lifecycle{DormantAfter: 90 * time.Minute}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hosts, err := s.ListHosts(ctx, patchbay.HostFilter{Stale: true, Now: tt.now})
			must(t, err)
			if diff := cmp.Diff(tt.want, hostIDs(hosts)); diff != "" {
				t.Errorf("stale ids (-want +got):\n%s", diff)
			}
			// The SQL filters and Host.StatusAt agree, status by status.
			all, err := s.ListHosts(ctx, patchbay.HostFilter{})
			must(t, err)
			for _, st := range []patchbay.HostStatus{patchbay.HostActive, patchbay.HostStale, patchbay.HostDormant} {
				byStatus := []int64{}
				for _, h := range all {
					if h.StatusAt(tt.now, lc) == st {
						byStatus = append(byStatus, h.ID)
					}
				}
				hosts, err := s.ListHosts(ctx, patchbay.HostFilter{Status: st, Now: tt.now, DormantAfter: lc.DormantAfter})
				must(t, err)
				if diff := cmp.Diff(byStatus, hostIDs(hosts)); diff != "" {
					t.Errorf("status %s: filter disagrees with StatusAt (-StatusAt +filter):\n%s", st, diff)
				}
				n, err := s.CountHosts(ctx, patchbay.HostFilter{Status: st, Now: tt.now, DormantAfter: lc.DormantAfter})
				must(t, err)
				if n != len(byStatus) {
					t.Errorf("status %s: CountHosts = %d, want %d", st, n, len(byStatus))
				}
			}
		})
	}
	_, err = s.ListHosts(ctx, patchbay.HostFilter{Status: "gone", Now: at(0)})
	wantCode(t, err, patchbay.EINVALID)
	_, err = s.ListHosts(ctx, patchbay.HostFilter{Stale: true})
	wantCode(t, err, patchbay.EINVALID)
}

func testUpdateHost(t *testing.T, s patchbay.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	h := f.enroll("m-1", "web1", at(0))

	tests := []struct {
		name       string
		c          patchbay.HostChanges
		wantAssets patchbay.Assets
		wantLabels map[string]string
		code       string
	}{
		{"set assets and labels",
			patchbay.HostChanges{Assets: map[string]string{"owner": "alice", "env": "prod", "location": "fra1"},
				Labels: map[string]string{"team": "a", "tier": "1"}},
			patchbay.Assets{Owner: "alice", Environment: "prod", Location: "fra1"},
			map[string]string{"team": "a", "tier": "1"}, ""},
		{"change a label, keep the others",
			patchbay.HostChanges{Labels: map[string]string{"team": "b"}},
			patchbay.Assets{Owner: "alice", Environment: "prod", Location: "fra1"},
			map[string]string{"team": "b", "tier": "1"}, ""},
		{"empty value removes a label and clears an asset",
			patchbay.HostChanges{Assets: map[string]string{"owner": ""}, Labels: map[string]string{"tier": ""}},
			patchbay.Assets{Environment: "prod", Location: "fra1"},
			map[string]string{"team": "b"}, ""},
		{"asset key among labels sets the asset",
			patchbay.HostChanges{Labels: map[string]string{"role": "db", "criticality": "high"}},
			patchbay.Assets{Environment: "prod", Location: "fra1", Role: "db", Criticality: "high"},
			map[string]string{"team": "b"}, ""},
		{"unknown asset field changes nothing",
			patchbay.HostChanges{Assets: map[string]string{"colour": "red"}, Labels: map[string]string{"team": "c"}},
			patchbay.Assets{Environment: "prod", Location: "fra1", Role: "db", Criticality: "high"},
			map[string]string{"team": "b"}, patchbay.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.UpdateHost(ctx, h.ID, tt.c)
			wantCode(t, err, tt.code)
			if err == nil {
				if diff := cmp.Diff(tt.wantAssets, got.Assets); diff != "" {
					t.Errorf("returned assets (-want +got):\n%s", diff)
				}
			}
			stored, err := s.Host(ctx, h.ID)
			must(t, err)
			if diff := cmp.Diff(tt.wantAssets, stored.Assets); diff != "" {
				t.Errorf("stored assets (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantLabels, stored.Labels, hostOpts()); diff != "" {
				t.Errorf("stored labels (-want +got):\n%s", diff)
			}
		})
	}
	_, err := s.UpdateHost(ctx, h.ID+1000, patchbay.HostChanges{Labels: map[string]string{"a": "b"}})
	wantCode(t, err, patchbay.ENOTFOUND)
}

func testHeartbeat(t *testing.T, s patchbay.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	h := f.enroll("m-1", "web1", at(0))

	type want struct {
		boot     string
		uptime   int64
		interval int64
	}
	tests := []struct {
		name string
		hb   patchbay.Heartbeat
		want want
	}{
		{"first boot id is not a reboot", patchbay.Heartbeat{BootID: "boot-1", UptimeSeconds: 60, IntervalSeconds: 120}, want{"boot-1", 60, 120}},
		{"same boot id, no interval keeps it", patchbay.Heartbeat{BootID: "boot-1", UptimeSeconds: 180}, want{"boot-1", 180, 120}},
		{"new boot id is a reboot", patchbay.Heartbeat{BootID: "boot-2", UptimeSeconds: 5, IntervalSeconds: 300}, want{"boot-2", 5, 300}},
		{"empty boot id keeps the stored one", patchbay.Heartbeat{UptimeSeconds: 65}, want{"boot-2", 65, 300}},
	}
	for i, tt := range tests {
		now := at(time.Duration(i+1) * time.Minute)
		got, err := s.Heartbeat(ctx, h.ID, tt.hb, now)
		must(t, err)
		stored, err := s.Host(ctx, h.ID)
		must(t, err)
		if diff := cmp.Diff(stored, got, hostOpts()); diff != "" {
			t.Errorf("%s: returned host differs from stored (-stored +returned):\n%s", tt.name, diff)
		}
		gotWant := want{stored.BootID, stored.UptimeSeconds, stored.IntervalSeconds}
		if gotWant != tt.want || !stored.LastSeen.Equal(now) {
			t.Errorf("%s: host = %+v, last seen %v; want %+v, %v", tt.name, gotWant, stored.LastSeen, tt.want, now)
		}
	}
	events, err := s.Events(ctx, patchbay.EventFilter{HostID: h.ID, Kinds: []patchbay.EventKind{patchbay.EventReboot}})
	must(t, err)
	wantEvents := []patchbay.Event{{HostID: h.ID, Time: at(3 * time.Minute), Kind: patchbay.EventReboot,
		OldVersion: "boot-1", NewVersion: "boot-2", Cause: patchbay.CauseObserved}}
	if diff := cmp.Diff(wantEvents, events, ignoreEventID()); diff != "" {
		t.Errorf("reboot events (-want +got):\n%s", diff)
	}
	_, err = s.Heartbeat(ctx, h.ID+1000, patchbay.Heartbeat{}, at(0))
	wantCode(t, err, patchbay.ENOTFOUND)
}
