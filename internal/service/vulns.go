package service

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/vuln/match"
)

// Vulnerability evaluation.
//
// A host is evaluated against the advisories of its ecosystems (from
// os-release): each installed package is keyed by its source name where the
// ecosystem names source packages (Debian, Ubuntu, Alpine) and by its own
// name elsewhere (the RPM family), the advisories of that (ecosystem,
// package) pair are fetched, and the installed version is matched with the
// ecosystem's version rules. The outcome replaces the host's open findings
// in one store transaction, so a reader sees the old set or the new one.
//
// An evaluation run caches everything it computes: a package version id is
// resolved once, a pair's advisories fetched once, and one (ecosystem,
// package, version) matched once however many hosts have it.
//
// Ordering. A host is evaluated under its stripe lock, and runs triggered by
// advisory imports are serialised, so that a run holding older advisories
// never writes after one holding newer ones: every import commits, then
// evaluates the hosts it touched with a cache filled after that commit. A
// run that saw an older inventory than the stored one is refused by the
// store (inventory hash), and the newer inventory's own evaluation counts.

// vulnState is the Service's evaluation state.
type vulnState struct {
	hostLocks [64]sync.Mutex
	runs      sync.Mutex // advisory-triggered runs, one at a time
	cache     advCache
}

func (v *vulnState) lockHost(id int64) func() {
	m := &v.hostLocks[uint64(id)%uint64(len(v.hostLocks))]
	m.Lock()
	return m.Unlock
}

// evalKey is one (ecosystem, package, version) to match.
type evalKey struct{ eco, pkg, version string }

// hit is one advisory matching an evalKey.
type hit struct {
	advisory string
	fixed    string
	evidence string
}

// evalRun is one evaluation run: it resolves each package version id
// once, and computes once what a package version id means for hosts of
// one set of ecosystems (pkgEval), over the service-wide advisory cache
// (advCache). A fleet of 10,000 hosts shares few distinct package
// versions, so most hosts cost a map lookup per package.
type evalRun struct {
	s       *Service
	pkgs    map[int64]patchbay.Package
	memo    map[string]map[int64]*pkgEval // by ecosystems (joined), by package version id
	entries map[patchbay.EcoPackage]*pairEntry
	results map[evalKey][]hit
	touched map[patchbay.EcoPackage]bool // nil: evaluate every host
	stats   patchbay.EvalStats
}

// pkgEval is one package version on a host of some ecosystems: the name
// it has in each ecosystem (as the host's ecosystems are ordered), and,
// once matched, the advisories affecting it (one hit per advisory, from
// the first ecosystem that names it).
type pkgEval struct {
	p       patchbay.Package
	names   []string
	matched bool
	hits    []hit
}

func (s *Service) newRun(touched []patchbay.EcoPackage) *evalRun {
	r := &evalRun{s: s, pkgs: map[int64]patchbay.Package{}, memo: map[string]map[int64]*pkgEval{},
		entries: map[patchbay.EcoPackage]*pairEntry{}, results: map[evalKey][]hit{}}
	if touched != nil {
		r.touched = make(map[patchbay.EcoPackage]bool, len(touched))
		for _, p := range touched {
			r.touched[p] = true
		}
	}
	return r
}

// key is how an ecosystem names an installed package, and the version its
// advisories speak of.
func key(eco string, p patchbay.Package) (name, version string) {
	if match.BySource(eco) {
		name, version = p.SourceName, p.SourceVersion
		if name == "" {
			name = p.Name
		}
		if version == "" {
			version = p.Version
		}
		return name, version
	}
	return p.Name, p.Version
}

// host evaluates one host and reconciles its findings; in a run with
// touched pairs, a host that has none of them is left alone.
func (r *evalRun) host(ctx context.Context, h patchbay.EvalHost) error {
	ecos := match.Ecosystem(h.OS, h.UbuntuPro)
	sig := strings.Join(ecos, "\x00")
	memo := r.memo[sig]
	if memo == nil {
		memo = map[int64]*pkgEval{}
		r.memo[sig] = memo
	}
	pes := make([]*pkgEval, len(h.PackageIDs))
	var missing []int64
	for i, id := range h.PackageIDs {
		if pes[i] = memo[id]; pes[i] == nil {
			if _, ok := r.pkgs[id]; !ok {
				missing = append(missing, id)
			}
		}
	}
	if len(missing) > 0 {
		got, err := r.s.store.PackageVersions(ctx, missing)
		if err != nil {
			return err
		}
		for id, p := range got {
			r.pkgs[id] = p
		}
	}
	for i, id := range h.PackageIDs {
		if pes[i] != nil {
			continue
		}
		pe := &pkgEval{p: r.pkgs[id], names: make([]string, len(ecos))}
		for j, eco := range ecos {
			pe.names[j], _ = key(eco, pe.p)
		}
		memo[id], pes[i] = pe, pe
	}
	if r.touched != nil && !r.hasTouched(pes, ecos) {
		return nil
	}

	var need []patchbay.EcoPackage
	needed := map[patchbay.EcoPackage]bool{}
	for _, pe := range pes {
		if pe.matched {
			continue
		}
		for j, eco := range ecos {
			ep := patchbay.EcoPackage{Ecosystem: eco, Package: pe.names[j]}
			if _, ok := r.entries[ep]; !ok && !needed[ep] {
				needed[ep] = true
				need = append(need, ep)
			}
		}
	}
	if len(need) > 0 {
		if err := r.s.vuln.cache.entries(ctx, r.s.store, need, r.entries); err != nil {
			return err
		}
	}

	eval := patchbay.HostEvaluation{HostID: h.ID, InventoryHash: h.InventoryHash, Installed: installedOf(pes)}
	for _, pe := range pes {
		if !pe.matched {
			r.matchPackage(pe, ecos)
		}
		for _, m := range pe.hits {
			eval.Findings = append(eval.Findings, patchbay.Finding{HostID: h.ID, Package: pe.p.Name, Arch: pe.p.Arch,
				SourceName: pe.p.SourceName, InstalledVersion: pe.p.Version, AdvisoryID: m.advisory,
				FixedVersion: m.fixed, Evidence: m.evidence})
		}
	}
	ch, err := r.s.store.ReconcileFindings(ctx, eval, r.s.now())
	if patchbay.ErrorCode(err) == patchbay.ECONFLICT {
		r.stats.Skipped++
		return nil
	}
	if err != nil {
		return err
	}
	r.stats.Hosts++
	r.stats.Opened += len(ch.Opened)
	r.stats.Resolved += len(ch.Resolved)
	return nil
}

// matchPackage finds the advisories affecting pe in ecos; an advisory
// named in two ecosystems of the host is one finding.
func (r *evalRun) matchPackage(pe *pkgEval, ecos []string) {
	var seen map[string]bool
	for j, eco := range ecos {
		_, version := key(eco, pe.p)
		for _, m := range r.match(evalKey{eco, pe.names[j], version}) {
			if seen[m.advisory] {
				continue
			}
			if seen == nil {
				seen = map[string]bool{}
			}
			seen[m.advisory] = true
			pe.hits = append(pe.hits, m)
		}
	}
	pe.matched = true
}

// installedOf maps Package.Key() to the version, built on first use.
func installedOf(pes []*pkgEval) func(string) string {
	var m map[string]string
	return func(k string) string {
		if m == nil {
			m = make(map[string]string, len(pes))
			for _, pe := range pes {
				m[pe.p.Key()] = pe.p.Version
			}
		}
		return m[k]
	}
}

func (r *evalRun) hasTouched(pes []*pkgEval, ecos []string) bool {
	for _, pe := range pes {
		for j, eco := range ecos {
			if r.touched[patchbay.EcoPackage{Ecosystem: eco, Package: pe.names[j]}] {
				return true
			}
		}
	}
	return false
}

// match returns the advisories affecting k: from the run when it has
// looked k up already, else from the cache, else matched now (and kept).
func (r *evalRun) match(k evalKey) []hit {
	if hits, ok := r.results[k]; ok {
		return hits
	}
	e := r.entries[patchbay.EcoPackage{Ecosystem: k.eco, Package: k.pkg}]
	if e == nil || len(e.advs) == 0 {
		r.results[k] = nil
		return nil
	}
	r.stats.PackageVersions++
	m, ok := r.s.vuln.cache.result(e, k.version)
	if !ok {
		m = &matchResult{}
		for _, a := range e.advs {
			res, err := match.Check(a, k.eco, k.pkg, k.version)
			if err != nil {
				// An unreadable version is never "not affected"
				// silently: it is counted in every run that meets it,
				// and logged when it is matched.
				m.errs++
				r.s.logger.Warn("cannot match advisory", "advisory", a.ID, "ecosystem", k.eco, "package", k.pkg, "version", k.version, "err", err)
				continue
			}
			if res.Affected {
				m.hits = append(m.hits, hit{advisory: a.ID, fixed: res.Fixed, evidence: res.Evidence})
			}
		}
		r.s.vuln.cache.keep(e, k.version, m)
	}
	r.stats.Errors += m.errs
	r.results[k] = m.hits
	return m.hits
}

// evaluateHost re-evaluates one host, after its inventory changed.
// needsEvaluation reports whether a host's new inventory can change its
// findings: only when an advisory exists for one of its ecosystems, or it
// has open findings (from an ecosystem it has since left). Without advisory
// data this keeps evaluation off the ingest path entirely.
func (s *Service) needsEvaluation(ctx context.Context, hostID int64, os patchbay.OS, pro bool) (bool, error) {
	for _, eco := range match.Ecosystem(os, pro) {
		advs, err := s.store.ListAdvisories(ctx, patchbay.AdvisoryFilter{Ecosystem: eco, Limit: 1})
		if err != nil {
			return false, err
		}
		if len(advs) > 0 {
			return true, nil
		}
	}
	open, err := s.store.Findings(ctx, patchbay.FindingFilter{HostID: hostID, Limit: 1})
	return len(open) > 0, err
}

func (s *Service) evaluateHost(ctx context.Context, hostID int64) (patchbay.EvalStats, error) {
	defer s.vuln.lockHost(hostID)()
	r := s.newRun(nil)
	err := s.store.EvalHosts(ctx, []int64{hostID}, func(h patchbay.EvalHost) error { return r.host(ctx, h) })
	if err != nil {
		return r.stats, fmt.Errorf("evaluate host %d: %w", hostID, err)
	}
	return r.stats, nil
}

// evaluateFleet re-evaluates every host that has one of the touched pairs
// (nil: every host).
func (s *Service) evaluateFleet(ctx context.Context, touched []patchbay.EcoPackage) (patchbay.EvalStats, error) {
	s.vuln.runs.Lock()
	defer s.vuln.runs.Unlock()
	r := s.newRun(touched)
	if touched != nil && len(touched) == 0 {
		return r.stats, nil
	}
	err := s.store.EvalHosts(ctx, nil, func(h patchbay.EvalHost) error {
		defer s.vuln.lockHost(h.ID)()
		return r.host(ctx, h)
	})
	if err != nil {
		return r.stats, fmt.Errorf("evaluate fleet: %w", err)
	}
	return r.stats, nil
}

// EvaluateFleet re-evaluates every host against every advisory. Findings
// follow inventories and imports by themselves; this is for an operator
// who wants to be sure, and for the benchmark.
func (s *Service) EvaluateFleet(ctx context.Context) (patchbay.EvalStats, error) {
	if _, err := requireUser(ctx); err != nil {
		return patchbay.EvalStats{}, err
	}
	return s.evaluateFleet(ctx, nil)
}

// ImportAdvisories stores a batch of advisories (one transaction) and
// re-evaluates the hosts that have a package whose advisories changed.
func (s *Service) ImportAdvisories(ctx context.Context, advs []patchbay.Advisory) (patchbay.AdvisoryImportReply, error) {
	if _, err := requireUser(ctx); err != nil {
		return patchbay.AdvisoryImportReply{}, err
	}
	res, err := s.store.ImportAdvisories(ctx, advs, s.now())
	if err != nil {
		return patchbay.AdvisoryImportReply{}, err
	}
	reply := patchbay.AdvisoryImportReply{Added: res.Added, Updated: res.Updated, Unchanged: res.Unchanged, ChangedPackages: len(res.Changed)}
	s.vuln.cache.invalidate(res.Changed)
	reply.Evaluation, err = s.evaluateFleet(ctx, res.Changed)
	if err != nil {
		return reply, err
	}
	s.logger.InfoContext(ctx, "advisories imported", "added", res.Added, "updated", res.Updated, "unchanged", res.Unchanged,
		"hosts_evaluated", reply.Evaluation.Hosts, "findings_opened", reply.Evaluation.Opened, "findings_resolved", reply.Evaluation.Resolved)
	return reply, nil
}

// ImportKEV replaces the KEV catalog. Findings read their KEV flag from it
// when listed, so nothing needs re-evaluating.
func (s *Service) ImportKEV(ctx context.Context, entries []patchbay.KEVEntry) error {
	if _, err := requireUser(ctx); err != nil {
		return err
	}
	return s.store.ImportKEV(ctx, entries)
}

// Advisory returns one advisory.
func (s *Service) Advisory(ctx context.Context, id string) (patchbay.Advisory, error) {
	if _, err := requireUser(ctx); err != nil {
		return patchbay.Advisory{}, err
	}
	return s.store.Advisory(ctx, id)
}

// ListAdvisories lists advisories.
func (s *Service) ListAdvisories(ctx context.Context, f patchbay.AdvisoryFilter) ([]patchbay.Advisory, error) {
	if _, err := requireUser(ctx); err != nil {
		return nil, err
	}
	return s.store.ListAdvisories(ctx, f)
}

// FindingQuery selects findings; Host is a host reference.
type FindingQuery struct {
	patchbay.FindingFilter
	Host string
}

// Findings lists findings. A host may list only its own.
func (s *Service) Findings(ctx context.Context, q FindingQuery) ([]patchbay.Finding, error) {
	f := q.FindingFilter
	if q.Host != "" {
		h, err := s.Host(ctx, q.Host)
		if err != nil {
			return nil, err
		}
		f.HostID = h.ID
	} else if _, err := requireUser(ctx); err != nil {
		return nil, err
	}
	list, err := s.store.Findings(ctx, f)
	if err != nil {
		return nil, err
	}
	return list, s.markExcepted(ctx, list)
}

// Vuln returns one CVE across the fleet.
func (s *Service) Vuln(ctx context.Context, cve string) (patchbay.Vuln, error) {
	if _, err := requireUser(ctx); err != nil {
		return patchbay.Vuln{}, err
	}
	cve = strings.ToUpper(strings.TrimSpace(cve))
	advs, err := s.store.ListAdvisories(ctx, patchbay.AdvisoryFilter{CVE: cve})
	if err != nil {
		return patchbay.Vuln{}, err
	}
	kev, err := s.store.KEV(ctx, []string{cve})
	if err != nil {
		return patchbay.Vuln{}, err
	}
	if len(advs) == 0 && len(kev) == 0 {
		return patchbay.Vuln{}, patchbay.Errorf(patchbay.ENOTFOUND, "no advisory names %s", cve)
	}
	v := patchbay.Vuln{CVE: cve, Advisories: advs}
	if e, ok := kev[cve]; ok {
		v.KEV = &e
	}
	if v.Findings, err = s.store.Findings(ctx, patchbay.FindingFilter{CVE: cve}); err != nil {
		return patchbay.Vuln{}, err
	}
	return v, s.markExcepted(ctx, v.Findings)
}
