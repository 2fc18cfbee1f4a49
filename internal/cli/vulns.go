package cli

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/client"
)

func (e *env) vulnsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "vulns",
		Short: "Vulnerability findings: list, show a CVE, re-evaluate",
	}
	cmd.AddCommand(e.vulnsListCommand(), e.vulnsShowCommand(), e.vulnsEvaluateCommand(), e.vulnsSLACommand())
	return cmd
}

func (e *env) vulnsListCommand() *cobra.Command {
	var q client.VulnQuery
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List open findings across the fleet, worst first",
		Example: `  patchbay vulns list --severity high --fixable
  patchbay vulns list --kev --label env=prod -o json
  patchbay vulns list --host web1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := e.printer()
			if err != nil {
				return err
			}
			if q.Severity != "" {
				if _, err := patchbay.ParseSeverity(q.Severity); err != nil {
					return usagef("--severity %q: want low, medium, high or critical", q.Severity)
				}
			}
			for _, l := range q.Labels {
				if k, _, ok := strings.Cut(l, "="); !ok || k == "" {
					return usagef("--label %q: want key=value", l)
				}
			}
			c, err := e.apiClient()
			if err != nil {
				return err
			}
			fs, err := c.Findings(cmd.Context(), q)
			if err != nil {
				return err
			}
			return printFindings(p, fs)
		},
	}
	f := cmd.Flags()
	f.StringVar(&q.Severity, "severity", "", "only this severity or worse (low, medium, high, critical)")
	f.BoolVar(&q.KEV, "kev", false, "only CVEs known to be exploited (CISA KEV)")
	f.StringVar(&q.Host, "host", "", "only this host (id, hostname or machine-id)")
	f.StringArrayVar(&q.Labels, "label", nil, "only hosts with this label or asset field (key=value; repeatable)")
	f.BoolVar(&q.Fixable, "fixable", false, "only findings with a fixed version available")
	f.StringVar(&q.CVE, "cve", "", "only findings of this CVE")
	f.BoolVar(&q.Resolved, "resolved", false, "resolved findings instead of open ones")
	f.IntVar(&q.Limit, "limit", 0, "at most this many (0: all)")
	return cmd
}

func printFindings(p printer, fs []patchbay.Finding) error {
	return p.print(fs, []string{"HOST", "PACKAGE", "INSTALLED", "FIXED", "ADVISORY", "CVES", "SEVERITY", "CVSS", "KEV"}, func() [][]string {
		var rows [][]string
		for _, f := range fs {
			fixed := f.FixedVersion
			if fixed == "" {
				fixed = "no fix yet"
			}
			rows = append(rows, []string{f.Hostname, f.Package, f.InstalledVersion, fixed, f.AdvisoryID, dash(abbrev(f.CVEs, 2)),
				severityText(f.Severity, f.SeverityRaw), score(f.CVSSScore), yesNo(f.KEV)})
		}
		return rows
	})
}

func (e *env) vulnsShowCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "show CVE",
		Short: "Show a CVE: its advisories, KEV entry and the affected hosts with installed and fixed versions",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, c, err := e.connect()
			if err != nil {
				return err
			}
			v, err := c.Vuln(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if p.format == "json" {
				return p.print(v, nil, nil)
			}
			var ids []string
			for _, a := range v.Advisories {
				ids = append(ids, a.ID+" "+severityText(a.Severity, a.SeverityRaw))
			}
			kev := "no"
			if v.KEV != nil {
				kev = "yes, added " + day(v.KEV.DateAdded) + ", due " + day(v.KEV.DueDate)
			}
			if err := p.print(v, []string{"FIELD", "VALUE"}, func() [][]string {
				return [][]string{{"cve", v.CVE}, {"kev", kev}, {"advisories", dash(strings.Join(ids, "; "))}}
			}); err != nil {
				return err
			}
			p.w.Write([]byte("\n"))
			return printFindings(p, v.Findings)
		},
	}
}

func (e *env) vulnsEvaluateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "evaluate",
		Short: "Re-evaluate every host against every advisory (findings otherwise follow inventories and imports)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, c, err := e.connect()
			if err != nil {
				return err
			}
			st, err := c.EvaluateFleet(cmd.Context())
			if err != nil {
				return err
			}
			return p.print(st, []string{"HOSTS", "OPENED", "RESOLVED", "SKIPPED", "ERRORS"}, func() [][]string {
				return [][]string{{strconv.Itoa(st.Hosts), strconv.Itoa(st.Opened), strconv.Itoa(st.Resolved), strconv.Itoa(st.Skipped), strconv.Itoa(st.Errors)}}
			})
		},
	}
}

// withFindings is the JSON of `hosts show`: the host's fields with its
// open findings beside them.
func withFindings(h patchbay.Host, fs []patchbay.Finding) map[string]any {
	var m map[string]any
	b, _ := json.Marshal(h)
	json.Unmarshal(b, &m)
	m["findings_count"] = len(fs)
	m["findings"] = fs
	return m
}

func findingsSummary(fs []patchbay.Finding) string {
	var high, kev, fixable int
	for _, f := range fs {
		if patchbay.SeverityRank(f.Severity) >= patchbay.SeverityRank(patchbay.SeverityHigh) {
			high++
		}
		if f.KEV {
			kev++
		}
		if f.FixedVersion != "" {
			fixable++
		}
	}
	return fmt.Sprintf("%d open (%d high or critical, %d known exploited, %d fixable)", len(fs), high, kev, fixable)
}

func printHostFindings(p printer, fs []patchbay.Finding) {
	if len(fs) == 0 {
		return
	}
	fmt.Fprintln(p.w)
	printFindings(p, fs)
}
