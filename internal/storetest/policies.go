package storetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay"
)

// testPolicies: a stored policy round-trips with its rules normalised; a
// taken name is ECONFLICT, an unknown one ENOTFOUND; an update replaces the
// rules and keeps who created it.
func testPolicies(t *testing.T, s patchbay.Store) {
	ctx := t.Context()
	p := patchbay.Policy{Name: "prod-baseline", Description: "security, high and up, after 7 days",
		Classification: patchbay.ClassSecurity, MinSeverity: patchbay.SeverityHigh, MinAge: 7 * 24 * time.Hour,
		Approve: []string{"openssl", "libssl*", "openssl"}, Reject: []string{"linux-image-*"}, ApproveKEV: true,
		CreatedAt: at(0), CreatedBy: "alice"}
	got, err := s.CreatePolicy(ctx, p)
	must(t, err)
	want := p.Normalize()
	want.ID, want.CreatedAt, want.UpdatedAt, want.UpdatedBy = got.ID, at(0).UTC(), at(0).UTC(), "alice"
	if got.ID == 0 {
		t.Fatal("CreatePolicy returned no id")
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CreatePolicy (-want +got):\n%s", diff)
	}
	if want.Approve[0] != "libssl*" || len(want.Approve) != 2 {
		t.Fatalf("Normalize kept %v", want.Approve)
	}
	_, err = s.CreatePolicy(ctx, p)
	wantCode(t, err, patchbay.ECONFLICT)
	bad := p
	bad.Name, bad.Approve = "bad", []string{"[unclosed"}
	_, err = s.CreatePolicy(ctx, bad)
	wantCode(t, err, patchbay.EINVALID)
	_, err = s.Policy(ctx, "nope")
	wantCode(t, err, patchbay.ENOTFOUND)

	second := patchbay.Policy{Name: "all-weekly", Classification: patchbay.ClassAll, MinAge: 24 * time.Hour, CreatedAt: at(time.Hour), CreatedBy: "bob"}
	_, err = s.CreatePolicy(ctx, second)
	must(t, err)
	list, err := s.ListPolicies(ctx)
	must(t, err)
	if len(list) != 2 || list[0].Name != "all-weekly" || list[1].Name != "prod-baseline" {
		t.Errorf("ListPolicies = %+v, want all-weekly, prod-baseline", list)
	}

	edit := got
	edit.MinSeverity, edit.Reject, edit.UpdatedAt, edit.UpdatedBy = "", nil, at(2*time.Hour), "carol"
	edited, err := s.UpdatePolicy(ctx, edit)
	must(t, err)
	if edited.MinSeverity != "" || len(edited.Reject) != 0 || edited.Reject == nil || edited.CreatedBy != "alice" ||
		edited.UpdatedBy != "carol" || !edited.UpdatedAt.Equal(at(2*time.Hour)) || edited.ID != got.ID {
		t.Errorf("UpdatePolicy = %+v", edited)
	}
	again, err := s.Policy(ctx, "prod-baseline")
	must(t, err)
	if diff := cmp.Diff(edited, again); diff != "" {
		t.Errorf("Policy after update (-want +got):\n%s", diff)
	}
	edit.Name = "ghost"
	_, err = s.UpdatePolicy(ctx, edit)
	wantCode(t, err, patchbay.ENOTFOUND)
}

// testExceptions: exceptions round-trip with their scope; the active list
// leaves out expired and revoked ones; revoking twice is ECONFLICT; a host
// exception needs a host that exists; a new one must expire in the future.
func testExceptions(t *testing.T, s patchbay.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	h := f.enroll("m-a", "web1", at(0))
	day := 24 * time.Hour

	hostExc := patchbay.Exception{Scope: patchbay.ScopeHost, HostID: h.ID, Package: "openssl", Reason: "app pinned to 3.0.11",
		Owner: "team-web", ExpiresAt: at(30 * day), CreatedAt: at(0), CreatedBy: "alice"}
	e1, err := s.CreateException(ctx, hostExc)
	must(t, err)
	want := hostExc
	want.ID, want.Hostname, want.State = e1.ID, "web1", patchbay.ExceptionActive
	want.ExpiresAt, want.CreatedAt = at(30*day).UTC(), at(0).UTC()
	if diff := cmp.Diff(want, e1); diff != "" {
		t.Errorf("CreateException (-want +got):\n%s", diff)
	}
	e2, err := s.CreateException(ctx, patchbay.Exception{Scope: patchbay.ScopeSelector, Selector: patchbay.Selector{"env": "prod"},
		Advisory: "CVE-2024-6387", Reason: "mitigated by firewall", Owner: "secops", ExpiresAt: at(2 * day), CreatedAt: at(time.Hour), CreatedBy: "bob"})
	must(t, err)
	if e2.Selector["env"] != "prod" || e2.Hostname != "" || e2.HostID != 0 {
		t.Errorf("selector exception = %+v", e2)
	}
	e3, err := s.CreateException(ctx, patchbay.Exception{Scope: patchbay.ScopeAll, Package: "linux-image-*", Reason: "kernel freeze",
		Owner: "ops", ExpiresAt: at(10 * day), CreatedAt: at(2 * time.Hour), CreatedBy: "carol"})
	must(t, err)

	// Refused: a host that does not exist, an expiry in the past, no reason.
	_, err = s.CreateException(ctx, patchbay.Exception{Scope: patchbay.ScopeHost, HostID: 9999, Package: "x", Reason: "r", Owner: "o",
		ExpiresAt: at(day), CreatedAt: at(0)})
	wantCode(t, err, patchbay.ENOTFOUND)
	_, err = s.CreateException(ctx, patchbay.Exception{Scope: patchbay.ScopeAll, Package: "x", Reason: "r", Owner: "o",
		ExpiresAt: at(-time.Minute), CreatedAt: at(0)})
	wantCode(t, err, patchbay.EINVALID)

	ids := func(list []patchbay.Exception) []int64 {
		var out []int64
		for _, e := range list {
			out = append(out, e.ID)
		}
		return out
	}
	active, err := s.ListExceptions(ctx, at(3*time.Hour), false)
	must(t, err)
	if diff := cmp.Diff([]int64{e3.ID, e2.ID, e1.ID}, ids(active)); diff != "" {
		t.Errorf("active exceptions (-want +got):\n%s", diff)
	}
	// Two days later e2 has expired: by itself, nothing written.
	active, err = s.ListExceptions(ctx, at(2*day), false)
	must(t, err)
	if diff := cmp.Diff([]int64{e3.ID, e1.ID}, ids(active)); diff != "" {
		t.Errorf("active exceptions after e2 expired (-want +got):\n%s", diff)
	}
	got, err := s.Exception(ctx, e2.ID, at(2*day))
	must(t, err)
	if got.State != patchbay.ExceptionExpired {
		t.Errorf("e2 state at its expiry = %s, want expired", got.State)
	}

	r, err := s.RevokeException(ctx, e3.ID, "dave", "freeze over", at(3*day))
	must(t, err)
	if r.State != patchbay.ExceptionRevoked || r.RevokedBy != "dave" || r.RevokeReason != "freeze over" || !r.RevokedAt.Equal(at(3*day)) {
		t.Errorf("revoked = %+v", r)
	}
	_, err = s.RevokeException(ctx, e3.ID, "dave", "again", at(3*day))
	wantCode(t, err, patchbay.ECONFLICT)
	_, err = s.RevokeException(ctx, 9999, "dave", "x", at(3*day))
	wantCode(t, err, patchbay.ENOTFOUND)
	active, err = s.ListExceptions(ctx, at(3*day), false)
	must(t, err)
	if diff := cmp.Diff([]int64{e1.ID}, ids(active)); diff != "" {
		t.Errorf("active exceptions after the revoke (-want +got):\n%s", diff)
	}
	all, err := s.ListExceptions(ctx, at(3*day), true)
	must(t, err)
	if diff := cmp.Diff([]int64{e3.ID, e2.ID, e1.ID}, ids(all)); diff != "" {
		t.Errorf("all exceptions (-want +got):\n%s", diff)
	}
	_, err = s.Exception(ctx, 9999, at(0))
	wantCode(t, err, patchbay.ENOTFOUND)
}

// testUpdatesFirstSeen: a candidate version is first seen with the first
// inventory that reports it, on any host; a later report of the same
// version (elsewhere, or again) keeps the first time; a new candidate is
// seen anew.
func testUpdatesFirstSeen(t *testing.T, s patchbay.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	a := f.enroll("m-a", "a", at(0))
	b := f.enroll("m-b", "b", at(0))
	ssl1 := update("libssl3", "3.0.11-1~deb12u2", "3.0.15-1~deb12u1", true)
	ssl2 := update("libssl3", "3.0.11-1~deb12u2", "3.0.16-1~deb12u1", true)
	tz := update("tzdata", "2024a-0+deb12u1", "2025b-0+deb12u1", false)

	invA := inventory(a, []patchbay.Package{pkg("bash", "5.2.15-2+b7")}, []patchbay.Update{ssl1})
	must(t, s.SaveInventory(ctx, a.ID, "", invA, nil, at(time.Hour)))
	invB := inventory(b, []patchbay.Package{pkg("bash", "5.2.15-2+b7")}, []patchbay.Update{ssl1, tz})
	must(t, s.SaveInventory(ctx, b.ID, "", invB, nil, at(2*time.Hour)))
	invA2 := invA
	invA2.Updates = []patchbay.Update{ssl2}
	must(t, s.SaveInventory(ctx, a.ID, invA.ContentHash(), invA2, nil, at(3*time.Hour)))

	key := func(u patchbay.Update) patchbay.PackageVersion {
		return patchbay.PackageVersion{Name: u.Name, Arch: u.Arch, Version: u.CandidateVersion}
	}
	unknown := patchbay.PackageVersion{Name: "vim", Arch: "amd64", Version: "2:9.1"}
	got, err := s.UpdatesFirstSeen(ctx, []patchbay.PackageVersion{key(ssl1), key(ssl2), key(tz), unknown})
	must(t, err)
	want := map[patchbay.PackageVersion]time.Time{
		key(ssl1): at(time.Hour).UTC(), key(tz): at(2 * time.Hour).UTC(), key(ssl2): at(3 * time.Hour).UTC(),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("UpdatesFirstSeen (-want +got):\n%s", diff)
	}
	empty, err := s.UpdatesFirstSeen(ctx, nil)
	must(t, err)
	if len(empty) != 0 {
		t.Errorf("UpdatesFirstSeen(nil) = %v", empty)
	}
}
