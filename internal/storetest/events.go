package storetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/patchbay/patchbay"
)

// ignoreEventID compares events without their store-assigned id.
func ignoreEventID() cmp.Option { return cmpopts.IgnoreFields(patchbay.Event{}, "ID") }

func testEvents(t *testing.T, s patchbay.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	a := f.enroll("m-a", "a", at(-time.Hour))
	b := f.enroll("m-b", "b", at(-time.Hour))

	ev := func(d time.Duration, kind patchbay.EventKind, pkgName, from, to string) patchbay.Event {
		return patchbay.Event{Time: at(d), Kind: kind, Package: pkgName, Arch: "amd64", OldVersion: from, NewVersion: to, Cause: patchbay.CauseObserved}
	}
	installed := ev(0, patchbay.EventPackageInstalled, "curl", "", "7.88.1-10+deb12u5")
	openssl := ev(time.Minute, patchbay.EventPackageUpgraded, "openssl", "3.0.11-1~deb12u2", "3.0.13-1~deb12u1")
	libssl := ev(time.Minute, patchbay.EventPackageUpgraded, "libssl3", "3.0.11-1~deb12u2", "3.0.13-1~deb12u1")
	kernel := patchbay.Event{Time: at(2 * time.Minute), Kind: patchbay.EventKernelChanged, OldVersion: "6.1.0-18-amd64", NewVersion: "6.1.0-31-amd64", Cause: patchbay.CauseObserved}
	// An event without a time takes the time of the transaction.
	baseline := patchbay.Event{Kind: patchbay.EventInventoryBaseline, Detail: "2 packages"}

	invA := inventory(a, []patchbay.Package{pkg("curl", "7.88.1-10+deb12u5")}, nil)
	must(t, s.SaveInventory(ctx, a.ID, "", invA, []patchbay.Event{baseline}, at(-30*time.Minute)))
	must(t, s.SaveInventory(ctx, a.ID, invA.ContentHash(), invA, []patchbay.Event{installed, openssl, libssl, kernel}, at(3*time.Minute)))
	invB := inventory(b, nil, nil)
	must(t, s.SaveInventory(ctx, b.ID, "", invB, []patchbay.Event{ev(time.Minute, patchbay.EventPackageUpgraded, "openssl", "1", "2")}, at(3*time.Minute)))

	enrolled := patchbay.Event{Time: at(-time.Hour), Kind: patchbay.EventEnrolled, Cause: patchbay.CauseEnrolment, Detail: "enrolled with token fleet"}
	baseline.Time = at(-30 * time.Minute)
	all := []patchbay.Event{kernel, libssl, openssl, installed, baseline, enrolled}
	for i := range all {
		all[i].HostID = a.ID
	}
	kernelE, libsslE, opensslE, installedE, baselineE, enrolledE := all[0], all[1], all[2], all[3], all[4], all[5]

	tests := []struct {
		name string
		f    patchbay.EventFilter
		want []patchbay.Event
	}{
		{"newest first, later id first at equal times", patchbay.EventFilter{HostID: a.ID}, all},
		{"since, inclusive", patchbay.EventFilter{HostID: a.ID, Since: at(time.Minute)}, []patchbay.Event{kernelE, libsslE, opensslE}},
		{"package", patchbay.EventFilter{HostID: a.ID, Package: "openssl"}, []patchbay.Event{opensslE}},
		{"one kind", patchbay.EventFilter{HostID: a.ID, Kinds: []patchbay.EventKind{patchbay.EventPackageUpgraded}}, []patchbay.Event{libsslE, opensslE}},
		{"two kinds", patchbay.EventFilter{HostID: a.ID, Kinds: []patchbay.EventKind{patchbay.EventKernelChanged, patchbay.EventEnrolled}}, []patchbay.Event{kernelE, enrolledE}},
		{"limit", patchbay.EventFilter{HostID: a.ID, Limit: 2}, []patchbay.Event{kernelE, libsslE}},
		{"combined", patchbay.EventFilter{HostID: a.ID, Since: at(-45 * time.Minute), Kinds: []patchbay.EventKind{patchbay.EventInventoryBaseline, patchbay.EventPackageInstalled}, Limit: 5},
			[]patchbay.Event{installedE, baselineE}},
		{"no match", patchbay.EventFilter{HostID: a.ID, Package: "vim"}, []patchbay.Event{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Events(ctx, tt.f)
			must(t, err)
			if diff := cmp.Diff(tt.want, got, ignoreEventID(), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}

	got, err := s.Events(ctx, patchbay.EventFilter{HostID: a.ID})
	must(t, err)
	seen := map[int64]bool{}
	for _, e := range got {
		if e.ID == 0 || seen[e.ID] {
			t.Errorf("event ids not assigned or not unique: %+v", got)
			break
		}
		seen[e.ID] = true
	}
	if len(got) == len(all) && got[1].ID <= got[2].ID {
		t.Errorf("at equal times the later event should come first: ids %d, %d", got[1].ID, got[2].ID)
	}

	_, err = s.Events(ctx, patchbay.EventFilter{})
	wantCode(t, err, patchbay.EINVALID)
}
