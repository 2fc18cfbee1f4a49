package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/client"
	"github.com/patchbay/patchbay/internal/vuln/debtracker"
	"github.com/patchbay/patchbay/internal/vuln/kev"
	"github.com/patchbay/patchbay/internal/vuln/osv"
)

func (e *env) advisoriesCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "advisories",
		Short: "Security advisories: import, list, show, feed sources",
	}
	cmd.AddCommand(e.advisoriesImportCommand(), e.advisoriesListCommand(), e.advisoriesShowCommand(), e.advisoriesSourcesCommand())
	return cmd
}

// importBatch is how many advisories one request carries: one transaction
// and one progress line on the server's side.
const importBatch = 1000

// feed kinds recognised by content.
const (
	feedOSV        = "osv"
	feedKEV        = "kev"
	feedDebTracker = "debian-tracker"
)

func (e *env) advisoriesImportCommand() *cobra.Command {
	var batch int
	cmd := &cobra.Command{
		Use:   "import PATH",
		Short: "Import advisories from a file or directory (offline; for air-gapped sites)",
		Long: `PATH is recognised by its content:
  - a directory of OSV JSON files (searched recursively), or one OSV JSON file
  - a zip in osv.dev's per-ecosystem all.zip layout
  - the Debian security tracker JSON (https://security-tracker.debian.org/tracker/data/json)
  - the CISA KEV catalog JSON (replaces the stored catalog)
The CLI reads PATH and posts the advisories in batches; each batch is one
transaction, and the server re-evaluates the hosts whose packages it touches.`,
		Example: `  patchbay advisories import ./almalinux-osv/advisories/almalinux9
  patchbay advisories import Debian.zip
  patchbay advisories import known_exploited_vulnerabilities.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := e.printer()
			if err != nil {
				return err
			}
			if batch <= 0 {
				return usagef("--batch must be positive")
			}
			kind, err := detectFeed(args[0])
			if err != nil {
				return err
			}
			c, err := e.apiClient()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if kind == feedKEV {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				cat, err := kev.Parse(f)
				if err != nil {
					return err
				}
				if err := c.ImportKEV(ctx, cat.Entries); err != nil {
					return err
				}
				out := map[string]any{"kind": kind, "version": cat.Version, "entries": len(cat.Entries)}
				return p.print(out, []string{"KIND", "CATALOG", "ENTRIES"}, func() [][]string {
					return [][]string{{kind, cat.Version, strconv.Itoa(len(cat.Entries))}}
				})
			}
			total := importTotals{Kind: kind}
			var pending []patchbay.Advisory
			flush := func() error {
				if len(pending) == 0 {
					return nil
				}
				r, err := c.ImportAdvisories(ctx, pending)
				if err != nil {
					return fmt.Errorf("after %d advisories: %w", total.Read-len(pending), err)
				}
				total.add(r)
				pending = pending[:0]
				fmt.Fprintf(e.stderr, "%d advisories: %d added, %d updated, %d unchanged; %d hosts re-evaluated\n",
					total.Read, total.Added, total.Updated, total.Unchanged, total.Hosts)
				return nil
			}
			collect := func(a patchbay.Advisory) error {
				pending = append(pending, a)
				total.Read++
				if len(pending) >= batch {
					return flush()
				}
				return nil
			}
			if err := readAdvisories(ctx, kind, args[0], collect); err != nil {
				return err
			}
			if err := flush(); err != nil {
				return err
			}
			return p.print(total, []string{"KIND", "READ", "ADDED", "UPDATED", "UNCHANGED", "HOSTS", "OPENED", "RESOLVED"}, func() [][]string {
				return [][]string{{kind, strconv.Itoa(total.Read), strconv.Itoa(total.Added), strconv.Itoa(total.Updated), strconv.Itoa(total.Unchanged),
					strconv.Itoa(total.Hosts), strconv.Itoa(total.Opened), strconv.Itoa(total.Resolved)}}
			})
		},
	}
	cmd.Flags().IntVar(&batch, "batch", importBatch, "advisories per request (one transaction each)")
	return cmd
}

// importTotals sum the replies of an import's batches.
type importTotals struct {
	Kind      string `json:"kind"`
	Read      int    `json:"read"`
	Added     int    `json:"added"`
	Updated   int    `json:"updated"`
	Unchanged int    `json:"unchanged"`
	Hosts     int    `json:"hosts_evaluated"`
	Opened    int    `json:"findings_opened"`
	Resolved  int    `json:"findings_resolved"`
}

func (t *importTotals) add(r patchbay.AdvisoryImportReply) {
	t.Added += r.Added
	t.Updated += r.Updated
	t.Unchanged += r.Unchanged
	t.Hosts += r.Evaluation.Hosts
	t.Opened += r.Evaluation.Opened
	t.Resolved += r.Evaluation.Resolved
}

func readAdvisories(ctx context.Context, kind, path string, fn func(patchbay.Advisory) error) error {
	if kind == feedDebTracker {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		return debtracker.Parse(ctx, f, fn)
	}
	return osv.Walk(ctx, path, fn)
}

var trackerIssue = regexp.MustCompile(`^(CVE-\d{4}-\d+|TEMP-\d+-[0-9A-Fa-f]+)$`)

// detectFeed tells the kind of an advisory file by its content: a
// directory or a zip is OSV; a JSON object is the KEV catalog when it has
// "vulnerabilities" and "catalogVersion", the Debian tracker when its first
// value is an object keyed by CVE ids, OSV when it has "id" and "affected"
// or "modified".
func detectFeed(path string) (string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if info.IsDir() {
		return feedOSV, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	head := make([]byte, 4)
	if _, err := io.ReadFull(f, head); err == nil && bytes.Equal(head, []byte("PK\x03\x04")) {
		return feedOSV, nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	dec := json.NewDecoder(f)
	unknown := fmt.Errorf("%s: not an OSV file, directory or zip, a Debian tracker JSON or a KEV catalog", path)
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return "", unknown
	}
	keys := map[string]bool{}
	for first := true; dec.More(); first = false {
		t, err := dec.Token()
		if err != nil {
			return "", unknown
		}
		k, _ := t.(string)
		if first && !strings.HasPrefix(k, "CVE-") {
			// The tracker: {"<source>": {"<CVE>": {...}}}. Look at the
			// first key of the first value only.
			var inner map[string]json.RawMessage
			raw := json.RawMessage{}
			if err := dec.Decode(&raw); err != nil {
				return "", unknown
			}
			if json.Unmarshal(raw, &inner) == nil && len(inner) > 0 {
				tracker := true
				for ik := range inner {
					tracker = tracker && trackerIssue.MatchString(ik)
				}
				if tracker {
					return feedDebTracker, nil
				}
			}
			keys[k] = true
			continue
		}
		keys[k] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return "", unknown
		}
	}
	switch {
	case keys["vulnerabilities"] && keys["catalogVersion"]:
		return feedKEV, nil
	case keys["id"] && (keys["affected"] || keys["modified"]):
		return feedOSV, nil
	}
	return "", unknown
}

func (e *env) advisoriesListCommand() *cobra.Command {
	var f patchbay.AdvisoryFilter
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List advisories, newest first",
		Example: `  patchbay advisories list --cve CVE-2024-6387
  patchbay advisories list --ecosystem AlmaLinux:9 --package openssh-server`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, c, err := e.connect()
			if err != nil {
				return err
			}
			advs, err := c.ListAdvisories(cmd.Context(), f)
			if err != nil {
				return err
			}
			return p.print(advs, []string{"ID", "SEVERITY", "CVSS", "PUBLISHED", "CVES", "PACKAGES", "SUMMARY"}, func() [][]string {
				var rows [][]string
				for _, a := range advs {
					rows = append(rows, []string{a.ID, severityText(a.Severity, a.SeverityRaw), score(a.CVSSScore), day(a.Published),
						dash(abbrev(a.CVEs, 3)), dash(abbrev(affectedNames(a), 3)), a.Summary})
				}
				return rows
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.CVE, "cve", "", "advisories naming this CVE")
	fl.StringVar(&f.Ecosystem, "ecosystem", "", "ecosystem (Debian:12, Ubuntu:22.04:LTS, AlmaLinux:9 ...)")
	fl.StringVar(&f.Package, "package", "", "affected package")
	fl.StringVar(&f.Source, "source", "", "feed: osv, debian-tracker")
	fl.IntVar(&f.Limit, "limit", 100, "at most this many (0: all)")
	return cmd
}

func (e *env) advisoriesShowCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show one advisory with its affected packages and ranges",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, c, err := e.connect()
			if err != nil {
				return err
			}
			a, err := c.Advisory(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return p.print(a, []string{"FIELD", "VALUE"}, func() [][]string {
				rows := [][]string{{"id", a.ID}, {"source", a.Source}, {"summary", a.Summary},
					{"severity", severityText(a.Severity, a.SeverityRaw)}, {"cvss", dash(strings.TrimSpace(score(a.CVSSScore) + " " + a.CVSSVector))},
					{"cves", dash(strings.Join(a.CVEs, ", "))}, {"aliases", dash(strings.Join(a.Aliases, ", "))},
					{"published", day(a.Published)}, {"modified", day(a.Modified)}}
				if !a.Withdrawn.IsZero() {
					rows = append(rows, []string{"withdrawn", day(a.Withdrawn)})
				}
				for _, af := range a.Affected {
					rows = append(rows, []string{"affected " + af.Ecosystem + " " + af.Package, rangeText(af)})
				}
				return rows
			})
		},
	}
}

func affectedNames(a patchbay.Advisory) []string {
	var out []string
	seen := map[string]bool{}
	for _, af := range a.Affected {
		if !seen[af.Package] {
			seen[af.Package] = true
			out = append(out, af.Package)
		}
	}
	return out
}

func rangeText(af patchbay.Affected) string {
	var parts []string
	for _, r := range af.Ranges {
		var ev []string
		for _, e := range r.Events {
			switch {
			case e.Introduced != "":
				ev = append(ev, "introduced "+e.Introduced)
			case e.Fixed != "":
				ev = append(ev, "fixed "+e.Fixed)
			case e.LastAffected != "":
				ev = append(ev, "last_affected "+e.LastAffected)
			case e.Limit != "":
				ev = append(ev, "limit "+e.Limit)
			}
		}
		parts = append(parts, "["+strings.Join(ev, ", ")+"]")
	}
	if len(af.Versions) > 0 {
		parts = append(parts, "versions "+abbrev(af.Versions, 5))
	}
	return dash(strings.Join(parts, " "))
}

// abbrev joins the first n items and says how many more there are.
func abbrev(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ",")
	}
	return fmt.Sprintf("%s +%d", strings.Join(items[:n], ","), len(items)-n)
}

func severityText(s patchbay.Severity, raw string) string {
	if raw != "" && !strings.EqualFold(raw, string(s)) {
		return fmt.Sprintf("%s (%s)", s, raw)
	}
	return string(s)
}

func score(f float64) string {
	if f == 0 {
		return "-"
	}
	return strconv.FormatFloat(f, 'f', 1, 64)
}

func day(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02")
}

// hostFindings is the findings part of `hosts show`.
func hostFindings(ctx context.Context, c *client.Client, ref string) ([]patchbay.Finding, error) {
	return c.Findings(ctx, client.VulnQuery{Host: ref})
}

// advisoriesSourcesCommand lists, adds and removes the feed sources the
// server syncs on its own schedule (`patchbay server --feed-interval`).
func (e *env) advisoriesSourcesCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sources",
		Short: "Feed sources the server downloads advisories from, with their last sync",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, c, err := e.connect()
			if err != nil {
				return err
			}
			srcs, err := c.FeedSources(cmd.Context())
			if err != nil {
				return err
			}
			return p.print(srcs, []string{"ID", "KIND", "URL", "LAST SYNC", "STATUS", "ENTRIES", "ADDED", "UPDATED", "ERROR"}, func() [][]string {
				var rows [][]string
				for _, s := range srcs {
					last := "never"
					if !s.LastSync.IsZero() {
						last = s.LastSync.Local().Format("2006-01-02 15:04")
					}
					rows = append(rows, []string{strconv.FormatInt(s.ID, 10), s.Kind, s.URL, last, dash(s.LastStatus),
						strconv.Itoa(s.Entries), strconv.Itoa(s.Added), strconv.Itoa(s.Updated), dash(s.LastError)})
				}
				return rows
			})
		},
	}
	var kind string
	add := &cobra.Command{
		Use:   "add URL --kind osv|debian-tracker|kev",
		Short: "Add a feed source; the server syncs it within a minute, then on its schedule",
		Example: `  patchbay advisories sources add https://osv-vulnerabilities.storage.googleapis.com/Debian/all.zip --kind osv
  patchbay advisories sources add https://security-tracker.debian.org/tracker/data/json --kind debian-tracker
  patchbay advisories sources add https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json --kind kev`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.apiClient()
			if err != nil {
				return err
			}
			src, err := c.AddFeedSource(cmd.Context(), args[0], kind)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "feed source %d added: %s (%s)\n", src.ID, src.URL, src.Kind)
			return nil
		},
	}
	add.Flags().StringVar(&kind, "kind", "", "what the URL serves: osv (zip or one document), debian-tracker or kev")
	add.MarkFlagRequired("kind")
	remove := &cobra.Command{
		Use:   "remove ID",
		Short: "Stop syncing a feed source (what it imported stays)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil {
				return usagef("feed source id %q: want a number (see patchbay advisories sources)", args[0])
			}
			c, err := e.apiClient()
			if err != nil {
				return err
			}
			if err := c.RemoveFeedSource(cmd.Context(), id); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "feed source %d removed\n", id)
			return nil
		},
	}
	cmd.AddCommand(add, remove)
	return cmd
}
