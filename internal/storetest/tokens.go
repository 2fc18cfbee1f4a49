package storetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/patchbay/patchbay"
)

func testEnrollTokens(t *testing.T, s patchbay.Store) {
	ctx := t.Context()
	toks := []patchbay.EnrollToken{
		{ID: "tok-a", Hash: "hash-a", Labels: map[string]string{"environment": "prod", "team": "web"},
			MaxUses: 10, ExpiresAt: at(24 * time.Hour), CreatedAt: at(0)},
		{ID: "tok-b", Hash: "hash-b", Labels: map[string]string{}, CreatedAt: at(time.Minute)},
	}
	for _, tok := range toks {
		must(t, s.CreateEnrollToken(ctx, tok))
	}
	got, err := s.ListEnrollTokens(ctx)
	must(t, err)
	if diff := cmp.Diff(toks, got); diff != "" {
		t.Fatalf("ListEnrollTokens (-want +got):\n%s", diff)
	}

	wantCode(t, s.CreateEnrollToken(ctx, patchbay.EnrollToken{ID: "tok-a", Hash: "other", CreatedAt: at(0)}), patchbay.ECONFLICT)
	wantCode(t, s.CreateEnrollToken(ctx, patchbay.EnrollToken{ID: "tok-c", CreatedAt: at(0)}), patchbay.EINVALID)

	must(t, s.RevokeEnrollToken(ctx, "tok-b"))
	wantCode(t, s.RevokeEnrollToken(ctx, "tok-nope"), patchbay.ENOTFOUND)
	toks[1].Revoked = true
	got, err = s.ListEnrollTokens(ctx)
	must(t, err)
	if diff := cmp.Diff(toks, got); diff != "" {
		t.Fatalf("ListEnrollTokens after revoke (-want +got):\n%s", diff)
	}
}

func testAPITokens(t *testing.T, s patchbay.Store) {
	ctx := t.Context()
	toks := []patchbay.APIToken{
		{ID: "api-1", Name: "ci", Hash: "h1", Role: "admin", CreatedAt: at(0)},
		{ID: "api-2", Name: "alice", Hash: "h2", Role: "admin", CreatedAt: at(time.Hour)},
	}
	for _, tok := range toks {
		must(t, s.CreateAPIToken(ctx, tok))
	}
	for _, want := range toks {
		got, err := s.APITokenByHash(ctx, want.Hash)
		must(t, err)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("APITokenByHash(%s) (-want +got):\n%s", want.Hash, diff)
		}
	}
	_, err := s.APITokenByHash(ctx, "h3")
	wantCode(t, err, patchbay.ENOTFOUND)

	tests := []struct {
		name string
		tok  patchbay.APIToken
		code string
	}{
		{"duplicate id", patchbay.APIToken{ID: "api-1", Name: "x", Hash: "h9", Role: "admin", CreatedAt: at(0)}, patchbay.ECONFLICT},
		{"duplicate hash", patchbay.APIToken{ID: "api-9", Name: "x", Hash: "h1", Role: "admin", CreatedAt: at(0)}, patchbay.ECONFLICT},
		{"no hash", patchbay.APIToken{ID: "api-9", Name: "x", Role: "admin", CreatedAt: at(0)}, patchbay.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, s.CreateAPIToken(ctx, tt.tok), tt.code)
		})
	}
	got, err := s.ListAPITokens(ctx)
	must(t, err)
	if diff := cmp.Diff(toks, got); diff != "" {
		t.Fatalf("ListAPITokens (-want +got):\n%s", diff)
	}
}

func testEnrollNewHost(t *testing.T, s patchbay.Store) {
	ctx := t.Context()
	must(t, s.CreateEnrollToken(ctx, patchbay.EnrollToken{ID: "tok", Hash: "secret-hash",
		Labels: map[string]string{"env": "prod", "role": "web", "team": "payments"}, CreatedAt: at(0)}))
	now := at(time.Minute)
	h, created, err := s.Enroll(ctx, patchbay.Enrollment{TokenID: "tok", TokenHash: "secret-hash",
		MachineID: "m-1", Hostname: "web1", CredentialHash: "cred-1", IntervalSecs: 120}, now)
	must(t, err)
	if !created {
		t.Error("created = false for a new machine-id")
	}
	if h.ID == 0 {
		t.Fatal("host id is 0")
	}
	want := patchbay.Host{
		ID: h.ID, MachineID: "m-1", Hostname: "web1", IntervalSeconds: 120,
		EnrolledAt: now, LastSeen: now,
		Assets: patchbay.Assets{Environment: "prod", Role: "web"},
		Labels: map[string]string{"team": "payments"},
	}
	if diff := cmp.Diff(want, h, hostOpts()); diff != "" {
		t.Errorf("Enroll host (-want +got):\n%s", diff)
	}
	for name, get := range map[string]func() (patchbay.Host, error){
		"Host":             func() (patchbay.Host, error) { return s.Host(ctx, h.ID) },
		"HostByCredential": func() (patchbay.Host, error) { return s.HostByCredential(ctx, "cred-1") },
	} {
		got, err := get()
		must(t, err)
		if diff := cmp.Diff(want, got, hostOpts()); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}

	toks, err := s.ListEnrollTokens(ctx)
	must(t, err)
	if len(toks) != 1 || toks[0].Uses != 1 {
		t.Errorf("token after one enrolment = %+v, want 1 use", toks)
	}
	events, err := s.Events(ctx, patchbay.EventFilter{HostID: h.ID})
	must(t, err)
	wantEvents := []patchbay.Event{{HostID: h.ID, Time: now, Kind: patchbay.EventEnrolled, Cause: patchbay.CauseEnrolment, Detail: "enrolled with token tok"}}
	if diff := cmp.Diff(wantEvents, events, ignoreEventID()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func testReEnroll(t *testing.T, s patchbay.Store) {
	ctx := t.Context()
	must(t, s.CreateEnrollToken(ctx, patchbay.EnrollToken{ID: "tok-a", Hash: "ha", CreatedAt: at(0),
		Labels: map[string]string{"team": "a", "owner": "alice", "keep": "yes"}}))
	must(t, s.CreateEnrollToken(ctx, patchbay.EnrollToken{ID: "tok-b", Hash: "hb", CreatedAt: at(0),
		Labels: map[string]string{"team": "b", "environment": "staging"}}))

	first, created, err := s.Enroll(ctx, patchbay.Enrollment{TokenID: "tok-a", TokenHash: "ha",
		MachineID: "m-1", Hostname: "old-name", CredentialHash: "cred-old", IntervalSecs: 60}, at(0))
	must(t, err)
	if !created {
		t.Fatal("first enrolment: created = false")
	}
	_, err = s.UpdateHost(ctx, first.ID, patchbay.HostChanges{Labels: map[string]string{"extra": "1"}})
	must(t, err)

	again, created, err := s.Enroll(ctx, patchbay.Enrollment{TokenID: "tok-b", TokenHash: "hb",
		MachineID: "m-1", Hostname: "new-name", CredentialHash: "cred-new", IntervalSecs: 60}, at(time.Hour))
	must(t, err)
	if created {
		t.Error("re-enrolment: created = true")
	}
	want := patchbay.Host{
		ID: first.ID, MachineID: "m-1", Hostname: "new-name", IntervalSeconds: 60,
		EnrolledAt: at(0), LastSeen: at(time.Hour),
		Assets: patchbay.Assets{Owner: "alice", Environment: "staging"},
		Labels: map[string]string{"team": "b", "keep": "yes", "extra": "1"},
	}
	if diff := cmp.Diff(want, again, hostOpts()); diff != "" {
		t.Errorf("re-enrolled host (-want +got):\n%s", diff)
	}

	hosts, err := s.ListHosts(ctx, patchbay.HostFilter{})
	must(t, err)
	if diff := cmp.Diff([]int64{first.ID}, hostIDs(hosts)); diff != "" {
		t.Errorf("hosts after re-enrolment (-want +got):\n%s", diff)
	}
	_, err = s.HostByCredential(ctx, "cred-old")
	wantCode(t, err, patchbay.ENOTFOUND)
	byNew, err := s.HostByCredential(ctx, "cred-new")
	must(t, err)
	if byNew.ID != first.ID {
		t.Errorf("HostByCredential(new) = host %d, want %d", byNew.ID, first.ID)
	}

	events, err := s.Events(ctx, patchbay.EventFilter{HostID: first.ID, Kinds: []patchbay.EventKind{patchbay.EventEnrolled}})
	must(t, err)
	wantEvents := []patchbay.Event{
		{HostID: first.ID, Time: at(time.Hour), Kind: patchbay.EventEnrolled, Cause: patchbay.CauseEnrolment, Detail: "re-enrolled with token tok-b"},
		{HostID: first.ID, Time: at(0), Kind: patchbay.EventEnrolled, Cause: patchbay.CauseEnrolment, Detail: "enrolled with token tok-a"},
	}
	if diff := cmp.Diff(wantEvents, events, ignoreEventID()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func testEnrollRejected(t *testing.T, s patchbay.Store) {
	ctx := t.Context()
	now := at(time.Hour)
	for _, tok := range []patchbay.EnrollToken{
		{ID: "good", Hash: "h-good", CreatedAt: at(0), ExpiresAt: now.Add(time.Second)},
		{ID: "expired", Hash: "h-expired", CreatedAt: at(0), ExpiresAt: now},
		{ID: "used-up", Hash: "h-used-up", CreatedAt: at(0), MaxUses: 2, Uses: 2},
		{ID: "revoked", Hash: "h-revoked", CreatedAt: at(0)},
	} {
		must(t, s.CreateEnrollToken(ctx, tok))
	}
	must(t, s.RevokeEnrollToken(ctx, "revoked"))
	before, err := s.ListEnrollTokens(ctx)
	must(t, err)

	tests := []struct {
		name    string
		e       patchbay.Enrollment
		code    string
		message string // checked when set
	}{
		{"wrong secret", patchbay.Enrollment{TokenID: "good", TokenHash: "h-bad"}, patchbay.EUNAUTHORIZED, "invalid enrolment token"},
		{"unknown token", patchbay.Enrollment{TokenID: "nope", TokenHash: "h-good"}, patchbay.EUNAUTHORIZED, "invalid enrolment token"},
		{"empty secret", patchbay.Enrollment{TokenID: "good"}, patchbay.EUNAUTHORIZED, "invalid enrolment token"},
		{"expired", patchbay.Enrollment{TokenID: "expired", TokenHash: "h-expired"}, patchbay.EUNAUTHORIZED, ""},
		{"used up", patchbay.Enrollment{TokenID: "used-up", TokenHash: "h-used-up"}, patchbay.EUNAUTHORIZED, ""},
		{"revoked", patchbay.Enrollment{TokenID: "revoked", TokenHash: "h-revoked"}, patchbay.EUNAUTHORIZED, ""},
		{"no machine-id", patchbay.Enrollment{TokenID: "good", TokenHash: "h-good", MachineID: "-"}, patchbay.EINVALID, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := tt.e
			e.Hostname = "h"
			e.CredentialHash = "cred-" + tt.name
			switch e.MachineID {
			case "":
				e.MachineID = "m-" + tt.name
			case "-":
				e.MachineID = ""
			}
			_, _, err := s.Enroll(ctx, e, now)
			wantCode(t, err, tt.code)
			if tt.message != "" && patchbay.ErrorMessage(err) != tt.message {
				t.Errorf("message = %q, want %q", patchbay.ErrorMessage(err), tt.message)
			}
		})
	}
	hosts, err := s.ListHosts(ctx, patchbay.HostFilter{})
	must(t, err)
	if len(hosts) != 0 {
		t.Errorf("rejected enrolments created %d hosts", len(hosts))
	}
	after, err := s.ListEnrollTokens(ctx)
	must(t, err)
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("rejected enrolments changed tokens (-before +after):\n%s", diff)
	}

	// The same credential on two machines would let one impersonate the other.
	_, _, err = s.Enroll(ctx, patchbay.Enrollment{TokenID: "good", TokenHash: "h-good", MachineID: "m-x", Hostname: "x", CredentialHash: "same"}, now)
	must(t, err)
	_, _, err = s.Enroll(ctx, patchbay.Enrollment{TokenID: "good", TokenHash: "h-good", MachineID: "m-y", Hostname: "y", CredentialHash: "same"}, now)
	wantCode(t, err, patchbay.ECONFLICT)
}

func testEnrollMaxUses(t *testing.T, s patchbay.Store) {
	ctx := t.Context()
	must(t, s.CreateEnrollToken(ctx, patchbay.EnrollToken{ID: "once", Hash: "h", MaxUses: 2, CreatedAt: at(0)}))
	for i, tt := range []struct {
		machine string
		code    string
	}{
		{"m-1", ""},
		{"m-1", ""}, // re-enrolment uses the token too
		{"m-2", patchbay.EUNAUTHORIZED},
	} {
		_, _, err := s.Enroll(ctx, patchbay.Enrollment{TokenID: "once", TokenHash: "h", MachineID: tt.machine,
			Hostname: tt.machine, CredentialHash: tt.machine + string(rune('a'+i))}, at(time.Duration(i)*time.Minute))
		wantCode(t, err, tt.code)
	}
	toks, err := s.ListEnrollTokens(ctx)
	must(t, err)
	if len(toks) != 1 || toks[0].Uses != 2 {
		t.Errorf("token = %+v, want 2 uses", toks)
	}
}
