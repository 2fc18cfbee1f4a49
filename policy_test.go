package patchbay

import (
	"strings"
	"testing"
	"time"
)

func TestPolicyDecide(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	sec := Update{Name: "libssl3", Arch: "amd64", CandidateVersion: "3.0.16-1~deb12u1", Security: true}
	plain := Update{Name: "tzdata", Arch: "all", CandidateVersion: "2025b-0+deb12u1"}
	kernel := Update{Name: "linux-image-amd64", Arch: "amd64", CandidateVersion: "6.1.140-1", Security: true}
	tests := []struct {
		name   string
		policy Policy
		facts  UpdateFacts
		ok     bool
		reason string // a part of the reason
	}{
		{"all takes a plain update", Policy{Name: "all", Classification: ClassAll}, UpdateFacts{Update: plain}, true, "matches policy all"},
		{"security leaves a plain update out", Policy{Name: "s", Classification: ClassSecurity}, UpdateFacts{Update: plain}, false, "not a security update"},
		{"security takes a security update", Policy{Name: "s", Classification: ClassSecurity}, UpdateFacts{Update: sec}, true, "matches"},
		{"severity below the minimum", Policy{Name: "p", Classification: ClassAll, MinSeverity: SeverityHigh},
			UpdateFacts{Update: sec, Severity: SeverityMedium}, false, "severity medium is below high"},
		{"severity at the minimum", Policy{Name: "p", Classification: ClassAll, MinSeverity: SeverityHigh},
			UpdateFacts{Update: sec, Severity: SeverityHigh}, true, "matches"},
		{"severity above the minimum", Policy{Name: "p", Classification: ClassAll, MinSeverity: SeverityHigh},
			UpdateFacts{Update: sec, Severity: SeverityCritical}, true, "matches"},
		{"unknown severity passes and says so", Policy{Name: "p", Classification: ClassAll, MinSeverity: SeverityHigh},
			UpdateFacts{Update: sec}, true, "severity unknown"},
		{"too young", Policy{Name: "p", Classification: ClassAll, MinAge: 7 * day},
			UpdateFacts{Update: sec, FirstSeen: now.Add(-6 * day)}, false, "approved from 2026-12-05 12:00 UTC (minimum age 7d)"},
		{"old enough, exactly", Policy{Name: "p", Classification: ClassAll, MinAge: 7 * day},
			UpdateFacts{Update: sec, FirstSeen: now.Add(-7 * day)}, true, "matches"},
		{"never seen counts as seen now", Policy{Name: "p", Classification: ClassAll, MinAge: time.Hour},
			UpdateFacts{Update: sec}, false, "minimum age 1h0m0s"},
		{"KEV approves a young low update at once", Policy{Name: "p", Classification: ClassSecurity, MinAge: 30 * day, MinSeverity: SeverityCritical, ApproveKEV: true},
			UpdateFacts{Update: sec, FirstSeen: now, Severity: SeverityLow, KEV: []string{"CVE-2024-3094"}}, true, "fixes known-exploited CVE-2024-3094"},
		{"KEV off: the rules apply", Policy{Name: "p", Classification: ClassAll, MinAge: 30 * day},
			UpdateFacts{Update: sec, FirstSeen: now, KEV: []string{"CVE-2024-3094"}}, false, "minimum age"},
		{"approve pattern beats classification and age", Policy{Name: "p", Classification: ClassSecurity, MinAge: 30 * day, Approve: []string{"tz*"}},
			UpdateFacts{Update: plain, FirstSeen: now}, true, `approved by pattern "tz*"`},
		{"reject pattern beats approve and KEV", Policy{Name: "p", Classification: ClassAll, ApproveKEV: true, Approve: []string{"linux-*"}, Reject: []string{"linux-image-*"}},
			UpdateFacts{Update: kernel, KEV: []string{"CVE-2024-1086"}}, false, `rejected by policy p (pattern "linux-image-*")`},
		{"none takes only the approve list", Policy{Name: "only", Classification: ClassNone, Approve: []string{"openssl"}},
			UpdateFacts{Update: sec}, false, "not on policy only's approve list"},
		{"none takes the approve list", Policy{Name: "only", Classification: ClassNone, Approve: []string{"libssl*"}},
			UpdateFacts{Update: sec}, true, "approved by pattern"},
		{"reject pattern does not match other names", Policy{Name: "p", Classification: ClassAll, Reject: []string{"linux-image-*"}},
			UpdateFacts{Update: sec}, true, "matches"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.policy.Decide(tt.facts, now)
			if d.Approved != tt.ok || !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("Decide = %+v, want approved=%v with reason containing %q", d, tt.ok, tt.reason)
			}
		})
	}
}

func TestPolicyValidate(t *testing.T) {
	good := Policy{Name: "prod-1.x", Classification: ClassSecurity, MinSeverity: SeverityMedium, MinAge: time.Hour, Approve: []string{"openssl", "lib?ssl*"}, Reject: []string{"linux-image-[0-9]*"}}
	if err := good.Validate(); err != nil {
		t.Fatalf("good policy: %v", err)
	}
	bad := map[string]func(p *Policy){
		"no name":            func(p *Policy) { p.Name = "" },
		"name with a space":  func(p *Policy) { p.Name = "prod baseline" },
		"name starts with -": func(p *Policy) { p.Name = "-x" },
		"long name":          func(p *Policy) { p.Name = strings.Repeat("a", 65) },
		"classification":     func(p *Policy) { p.Classification = "important" },
		"severity":           func(p *Policy) { p.MinSeverity = "urgent" },
		"severity none":      func(p *Policy) { p.MinSeverity = SeverityNone },
		"negative age":       func(p *Policy) { p.MinAge = -time.Second },
		"bad pattern":        func(p *Policy) { p.Approve = []string{"[abc"} },
		"empty pattern":      func(p *Policy) { p.Reject = []string{""} },
		"pattern with slash": func(p *Policy) { p.Reject = []string{"a/b"} },
		"too many patterns":  func(p *Policy) { p.Approve = make([]string, MaxPolicyPatterns+1) },
	}
	for name, change := range bad {
		p := good
		change(&p)
		if err := p.Validate(); ErrorCode(err) != EINVALID {
			t.Errorf("%s: Validate = %v, want EINVALID", name, err)
		}
	}
}

func TestExceptionValidateAndState(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	good := Exception{Scope: ScopeHost, HostID: 3, Package: "openssl", Reason: "pinned", Owner: "web", ExpiresAt: now.Add(24 * time.Hour)}
	if err := good.Validate(now); err != nil {
		t.Fatalf("good exception: %v", err)
	}
	bad := map[string]func(e *Exception){
		"unknown scope":          func(e *Exception) { e.Scope = "rack" },
		"host scope without one": func(e *Exception) { e.HostID = 0 },
		"host scope + selector":  func(e *Exception) { e.Selector = Selector{"a": "b"} },
		"selector scope without": func(e *Exception) { e.Scope, e.HostID = ScopeSelector, 0 },
		"all scope with a host":  func(e *Exception) { e.Scope = ScopeAll },
		"no target":              func(e *Exception) { e.Package = "" },
		"two targets":            func(e *Exception) { e.Advisory = "CVE-2024-1" },
		"bad pattern":            func(e *Exception) { e.Package = "[x" },
		"no reason":              func(e *Exception) { e.Reason = "  " },
		"no owner":               func(e *Exception) { e.Owner = "" },
		"no expiry":              func(e *Exception) { e.ExpiresAt = time.Time{} },
		"expiry now":             func(e *Exception) { e.ExpiresAt = now },
		"expiry past":            func(e *Exception) { e.ExpiresAt = now.Add(-time.Hour) },
		"expiry over a year":     func(e *Exception) { e.ExpiresAt = now.Add(MaxExceptionLength + time.Hour) },
	}
	for name, change := range bad {
		e := good
		change(&e)
		if err := e.Validate(now); ErrorCode(err) != EINVALID {
			t.Errorf("%s: Validate = %v, want EINVALID", name, err)
		}
	}
	if s := good.StateAt(now); s != ExceptionActive {
		t.Errorf("state now = %s", s)
	}
	if s := good.StateAt(good.ExpiresAt); s != ExceptionExpired {
		t.Errorf("state at expiry = %s, want expired (an exception ends at its expiry)", s)
	}
	revoked := good
	revoked.RevokedAt = now
	if s := revoked.StateAt(now.Add(time.Minute)); s != ExceptionRevoked {
		t.Errorf("state after revoke = %s", s)
	}
}

func TestExceptionCovers(t *testing.T) {
	web := Host{ID: 1, Hostname: "web1", Labels: map[string]string{"tier": "web"}, Assets: Assets{Environment: "prod"}}
	db := Host{ID: 2, Hostname: "db1", Assets: Assets{Environment: "staging"}}
	prod := Exception{Scope: ScopeSelector, Selector: Selector{"env": "prod"}}
	if !prod.CoversHost(web) || prod.CoversHost(db) {
		t.Error("selector env=prod: want web1 only")
	}
	one := Exception{Scope: ScopeHost, HostID: 2}
	if one.CoversHost(web) || !one.CoversHost(db) {
		t.Error("host 2: want db1 only")
	}
	if all := (Exception{Scope: ScopeAll}); !all.CoversHost(web) || !all.CoversHost(db) {
		t.Error("all: want both")
	}

	ssl := UpdateFacts{Update: Update{Name: "libssl3"}, CVEs: []string{"CVE-2024-5535"}}
	for _, tt := range []struct {
		e    Exception
		adv  []string
		want bool
	}{
		{Exception{Package: "libssl3"}, nil, true},
		{Exception{Package: "libssl*"}, nil, true},
		{Exception{Package: "openssl"}, nil, false}, // binary names, not source names
		{Exception{Advisory: "cve-2024-5535"}, nil, true},
		{Exception{Advisory: "DSA-5800-1"}, []string{"DSA-5800-1"}, true},
		{Exception{Advisory: "DSA-5800-1"}, []string{"DSA-1-1"}, false},
	} {
		if got := tt.e.HoldsUpdate(ssl, tt.adv); got != tt.want {
			t.Errorf("%s holds libssl3 (advisories %v) = %v, want %v", tt.e.Target(), tt.adv, got, tt.want)
		}
	}
	f := Finding{Package: "libssl3", AdvisoryID: "DSA-5800-1", CVEs: []string{"CVE-2024-5535"}}
	if !(Exception{Advisory: "DSA-5800-1"}).CoversFinding(f) || !(Exception{Advisory: "CVE-2024-5535"}).CoversFinding(f) ||
		!(Exception{Package: "libssl3"}).CoversFinding(f) || (Exception{Advisory: "CVE-2024-1"}).CoversFinding(f) {
		t.Error("CoversFinding by advisory, CVE and package")
	}
}

func TestParseBlock(t *testing.T) {
	b, err := ParseBlock(" linux-image-6.1.0-14-amd64=6.1.64-1 ")
	if err != nil || b.Package != "linux-image-6.1.0-14-amd64" || b.Version != "6.1.64-1" {
		t.Fatalf("ParseBlock = %+v, %v", b, err)
	}
	if b, err := ParseBlock("libc6=2:2.36-9"); err != nil || b.Version != "2:2.36-9" {
		t.Errorf("epoch: %+v %v", b, err)
	}
	for _, bad := range []string{"", "openssl", "=1.0", "openssl="} {
		if _, err := ParseBlock(bad); ErrorCode(err) != EINVALID {
			t.Errorf("ParseBlock(%q) = %v, want EINVALID", bad, err)
		}
	}
	b.Reason = "r"
	if err := b.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	for _, bad := range []Block{{Package: "open ssl", Version: "1", Reason: "r"}, {Package: "lib*", Version: "1", Reason: "r"}, {Package: "a", Version: "1"}} {
		if err := bad.Validate(); ErrorCode(err) != EINVALID {
			t.Errorf("Validate(%+v) = %v, want EINVALID", bad, err)
		}
	}
	blocks := []Block{{ID: 1, Package: "openssl", Version: "3.0.15-1~deb12u1"}, {ID: 2, Package: "vim", Version: "2:9.0", RemovedAt: time.Now()}}
	if got, ok := BlockedBy(blocks, PackageVersion{Name: "openssl", Arch: "amd64", Version: "3.0.15-1~deb12u1"}); !ok || got.ID != 1 {
		t.Error("openssl of any arch is blocked")
	}
	if _, ok := BlockedBy(blocks, PackageVersion{Name: "vim", Version: "2:9.0"}); ok {
		t.Error("a removed block still blocks")
	}
	if _, ok := BlockedBy(blocks, PackageVersion{Name: "openssl", Version: "3.0.16-1~deb12u1"}); ok {
		t.Error("another version is blocked")
	}
}
