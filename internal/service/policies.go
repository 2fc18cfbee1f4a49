package service

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/vercmp"
)

// ListPolicies lists the built-in policies, then the stored ones by name.
func (s *Service) ListPolicies(ctx context.Context) ([]patchbay.Policy, error) {
	if _, err := requireUser(ctx); err != nil {
		return nil, err
	}
	stored, err := s.store.ListPolicies(ctx)
	if err != nil {
		return nil, err
	}
	return append(patchbay.BuiltinPolicies(), stored...), nil
}

// Policy returns a policy by name, built-in or stored.
func (s *Service) Policy(ctx context.Context, name string) (patchbay.Policy, error) {
	if _, err := requireUser(ctx); err != nil {
		return patchbay.Policy{}, err
	}
	return s.policy(ctx, name)
}

func (s *Service) policy(ctx context.Context, name string) (patchbay.Policy, error) {
	if p, ok := patchbay.BuiltinPolicy(name); ok {
		return p, nil
	}
	p, err := s.store.Policy(ctx, name)
	if patchbay.ErrorCode(err) == patchbay.ENOTFOUND {
		return p, patchbay.Errorf(patchbay.ENOTFOUND, "policy %q not found (patchbay policies list shows the policies)", name)
	}
	return p, err
}

// CreatePolicy stores a new policy; the built-in names are taken.
func (s *Service) CreatePolicy(ctx context.Context, p patchbay.Policy) (patchbay.Policy, error) {
	u, err := requireUser(ctx)
	if err != nil {
		return patchbay.Policy{}, err
	}
	if _, ok := patchbay.BuiltinPolicy(p.Name); ok {
		return patchbay.Policy{}, patchbay.Errorf(patchbay.ECONFLICT, "policy %s is built in; choose another name", p.Name)
	}
	if p.Classification == "" {
		p.Classification = patchbay.ClassAll
	}
	p.ID, p.Builtin, p.CreatedAt, p.CreatedBy = 0, false, s.now(), u.Name
	out, err := s.store.CreatePolicy(ctx, p.Normalize())
	if err != nil {
		return out, err
	}
	s.logger.InfoContext(ctx, "policy created", "policy", out.Name, "by", u.Name)
	return out, nil
}

// UpdatePolicy replaces the rules of a stored policy. Rollouts approved
// with it keep their frozen plans; drafts take the new rules at their next
// plan.
func (s *Service) UpdatePolicy(ctx context.Context, p patchbay.Policy) (patchbay.Policy, error) {
	u, err := requireUser(ctx)
	if err != nil {
		return patchbay.Policy{}, err
	}
	if _, ok := patchbay.BuiltinPolicy(p.Name); ok {
		return patchbay.Policy{}, patchbay.Errorf(patchbay.EINVALID, "policy %s is built in and cannot be edited; create a policy of your own", p.Name)
	}
	if p.Classification == "" {
		p.Classification = patchbay.ClassAll
	}
	p.UpdatedAt, p.UpdatedBy = s.now(), u.Name
	out, err := s.store.UpdatePolicy(ctx, p.Normalize())
	if err != nil {
		return out, err
	}
	s.logger.InfoContext(ctx, "policy updated", "policy", out.Name, "by", u.Name)
	return out, nil
}

// planInputs is what deciding a host's updates needs beyond the updates:
// the policy, the exceptions in force and, when a rule needs them, the
// fleet's first-seen times and the hosts' fixable findings.
type planInputs struct {
	policy     patchbay.Policy
	exceptions []patchbay.Exception
	blocks     []patchbay.Block
	firstSeen  map[patchbay.PackageVersion]time.Time
	findings   map[int64][]patchbay.Finding // by host id
	changelogs map[int64]changelogFixes     // by host id (apt hosts)
}

// changelogFixes are the CVEs a host's pending updates fix per their
// candidates' changelogs (by name, arch and candidate version), and which
// of those are in the KEV catalog.
type changelogFixes struct {
	cves map[patchbay.PackageVersion][]string
	kev  map[string]bool
}

// needFindings reports whether a rule or an exception asks what updates
// fix.
func needFindings(p patchbay.Policy, excs []patchbay.Exception) bool {
	if p.MinSeverity != "" || p.ApproveKEV {
		return true
	}
	for _, e := range excs {
		if e.Advisory != "" {
			return true
		}
	}
	return false
}

// loadPlanInputs reads what deciding the updates of hosts (host id →
// pending updates) takes.
func (s *Service) loadPlanInputs(ctx context.Context, pol patchbay.Policy, hosts map[int64]patchbay.Host, updates map[int64][]patchbay.Update) (planInputs, error) {
	in := planInputs{policy: pol}
	var err error
	if in.exceptions, err = s.store.ListExceptions(ctx, s.now(), false); err != nil {
		return in, err
	}
	if in.blocks, err = s.activeBlocks(ctx); err != nil {
		return in, err
	}
	if pol.MinAge > 0 {
		seen := map[patchbay.PackageVersion]bool{}
		var keys []patchbay.PackageVersion
		for _, ups := range updates {
			for _, u := range ups {
				k := patchbay.PackageVersion{Name: u.Name, Arch: u.Arch, Version: u.CandidateVersion}
				if !seen[k] {
					seen[k] = true
					keys = append(keys, k)
				}
			}
		}
		if in.firstSeen, err = s.store.UpdatesFirstSeen(ctx, keys); err != nil {
			return in, err
		}
	}
	if needFindings(pol, in.exceptions) {
		all, err := s.store.Findings(ctx, patchbay.FindingFilter{Fixable: true})
		if err != nil {
			return in, err
		}
		in.findings = map[int64][]patchbay.Finding{}
		for _, f := range all {
			if _, ok := updates[f.HostID]; ok {
				in.findings[f.HostID] = append(in.findings[f.HostID], f)
			}
		}
		if pol.ApproveKEV || slices.ContainsFunc(in.exceptions, func(e patchbay.Exception) bool { return e.Advisory != "" }) {
			if in.changelogs, err = s.changelogFixes(ctx, hosts, updates); err != nil {
				return in, err
			}
		}
	}
	return in, nil
}

// changelogFixes reads what the changelogs of the pending updates of the
// apt hosts among hosts say they fix, with one KEV lookup for them all.
func (s *Service) changelogFixes(ctx context.Context, hosts map[int64]patchbay.Host, updates map[int64][]patchbay.Update) (map[int64]changelogFixes, error) {
	out := map[int64]changelogFixes{}
	all := map[string]bool{}
	for id, ups := range updates {
		h, ok := hosts[id]
		if !ok || h.PackageManager != "apt" {
			continue
		}
		hus, err := s.withCVEs(ctx, h, ups)
		if err != nil {
			return nil, err
		}
		fx := changelogFixes{cves: map[patchbay.PackageVersion][]string{}}
		for _, u := range hus {
			if len(u.CVEs) > 0 {
				fx.cves[patchbay.PackageVersion{Name: u.Name, Arch: u.Arch, Version: u.CandidateVersion}] = u.CVEs
				for _, c := range u.CVEs {
					all[c] = true
				}
			}
		}
		out[id] = fx
	}
	if len(all) == 0 {
		return out, nil
	}
	kev, err := s.store.KEV(ctx, slices.Sorted(maps.Keys(all)))
	if err != nil {
		return nil, err
	}
	inKEV := map[string]bool{}
	for c := range kev {
		inKEV[c] = true
	}
	for id, fx := range out {
		fx.kev = inKEV
		out[id] = fx
	}
	return out, nil
}

// updateFacts are what the host's open findings and the candidate's
// changelog (cl, for apt hosts) say update u fixes, and the advisories it
// fixes. A changelog names CVEs, not severities: it adds to CVEs and KEV.
func updateFacts(h patchbay.Host, u patchbay.Update, findings []patchbay.Finding, cl changelogFixes, firstSeen map[patchbay.PackageVersion]time.Time) (patchbay.UpdateFacts, []string) {
	f := patchbay.UpdateFacts{Update: u, Severity: patchbay.SeverityUnknown,
		FirstSeen: firstSeen[patchbay.PackageVersion{Name: u.Name, Arch: u.Arch, Version: u.CandidateVersion}]}
	var advisories []string
	cves, kev := map[string]bool{}, map[string]bool{}
	for _, fd := range findings {
		if fd.Package != u.Name || fd.Arch != u.Arch || fd.FixedVersion == "" {
			continue
		}
		c, err := vercmp.Compare(h.PackageManager, u.CandidateVersion, fd.FixedVersion)
		if err != nil || c < 0 {
			continue // the candidate does not fix it (or cannot be read: never guessed)
		}
		advisories = append(advisories, fd.AdvisoryID)
		if sev := findingSeverity(fd); patchbay.SeverityRank(sev) > patchbay.SeverityRank(f.Severity) {
			f.Severity = sev
		}
		for _, c := range fd.CVEs {
			cves[c] = true
			if fd.KEV {
				kev[c] = true
			}
		}
	}
	for _, c := range cl.cves[patchbay.PackageVersion{Name: u.Name, Arch: u.Arch, Version: u.CandidateVersion}] {
		cves[c] = true
		if cl.kev[c] {
			kev[c] = true
		}
	}
	f.CVEs, f.KEV = slices.Sorted(maps.Keys(cves)), slices.Sorted(maps.Keys(kev))
	return f, advisories
}

// findingSeverity is the distribution's rating of a finding, else the one
// its CVSS base score implies.
func findingSeverity(f patchbay.Finding) patchbay.Severity {
	if f.Severity != "" && f.Severity != patchbay.SeverityUnknown {
		return f.Severity
	}
	switch s := f.CVSSScore; {
	case s >= 9:
		return patchbay.SeverityCritical
	case s >= 7:
		return patchbay.SeverityHigh
	case s >= 4:
		return patchbay.SeverityMedium
	case s > 0:
		return patchbay.SeverityLow
	}
	return patchbay.SeverityUnknown
}

// holdingException returns the first exception in force that holds update
// f (fixing advisories) on host h.
func holdingException(excs []patchbay.Exception, h patchbay.Host, f patchbay.UpdateFacts, advisories []string) (patchbay.Exception, bool) {
	for _, e := range excs {
		if e.CoversHost(h) && e.HoldsUpdate(f, advisories) {
			return e, true
		}
	}
	return patchbay.Exception{}, false
}

// decideHost splits the host's pending updates into the patch set and the
// excluded ones (held by an exception, or left out by a policy rule), and
// says in which state the host starts.
func (in planInputs) decideHost(h patchbay.Host, updates []patchbay.Update, now time.Time) (patches []patchbay.PackageVersion, excluded []patchbay.ExcludedUpdate, state patchbay.HostRunState, reason string) {
	patches, excluded = []patchbay.PackageVersion{}, []patchbay.ExcludedUpdate{}
	var held []string
	for _, u := range updates {
		pv := patchbay.PackageVersion{Name: u.Name, Arch: u.Arch, Version: u.CandidateVersion}
		if b, ok := patchbay.BlockedBy(in.blocks, pv); ok {
			excluded = append(excluded, patchbay.ExcludedUpdate{PackageVersion: pv, Reason: b.Describe()})
			continue
		}
		facts, advisories := updateFacts(h, u, in.findings[h.ID], in.changelogs[h.ID], in.firstSeen)
		if e, ok := holdingException(in.exceptions, h, facts, advisories); ok {
			excluded = append(excluded, patchbay.ExcludedUpdate{PackageVersion: pv, ExceptionID: e.ID,
				Reason: fmt.Sprintf("held by exception %d (%s, until %s): %s", e.ID, e.Target(), e.ExpiresAt.UTC().Format(time.DateOnly), e.Reason)})
			held = append(held, u.Name)
			continue
		}
		d := in.policy.Decide(facts, now)
		if !d.Approved {
			excluded = append(excluded, patchbay.ExcludedUpdate{PackageVersion: pv, Reason: d.Reason})
			continue
		}
		patches = append(patches, pv)
	}
	switch {
	case len(patches) > 0:
		return patches, excluded, patchbay.HostPending, ""
	case len(held) > 0:
		return patches, excluded, patchbay.HostHeld, "held by exceptions: " + strings.Join(held, ", ")
	case len(excluded) > 0:
		return patches, excluded, patchbay.HostSkipped, fmt.Sprintf("nothing policy %s approves (%d pending updates left out)", in.policy.Name, len(excluded))
	}
	return patches, excluded, patchbay.HostSkipped, "nothing to install"
}
