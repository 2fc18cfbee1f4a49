package cli

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchbay/patchbay"
)

// hostStatusFlag checks a --status value.
func hostStatusFlag(s patchbay.HostStatus) error {
	if s != "" && !slices.Contains(patchbay.HostStatuses, s) {
		return usagef("--status %q: want active, stale, dormant or retired", s)
	}
	return nil
}

func (e *env) hostsRetireCommand() *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "retire HOST",
		Short: "Retire a host: out of lists, compliance figures and plans, its agent refused; its history kept",
		Long: `A retired host leaves every host list (but 'hosts list --status retired'),
the dashboard's and reports' figures and every new rollout plan; its pending
and missed places in rollouts are skipped and its agent's check-ins are
refused. Its inventory, findings and timeline are kept, and 'hosts unretire'
takes it back.`,
		Example: `  patchbay hosts retire old-vm7 --reason "decommissioned, OPS-1234"`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, c, err := e.connect()
			if err != nil {
				return err
			}
			h, err := c.RetireHost(cmd.Context(), args[0], reason)
			if err != nil {
				return err
			}
			return p.print(h, []string{"ID", "HOSTNAME", "STATUS", "RETIRED BY", "REASON"}, func() [][]string {
				return [][]string{{strconv.FormatInt(h.ID, 10), h.Hostname, string(h.Status), h.RetiredBy, dash(h.RetiredReason)}}
			})
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the host's timeline")
	return cmd
}

func (e *env) hostsUnretireCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "unretire HOST",
		Short: "Take a retired host back",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, c, err := e.connect()
			if err != nil {
				return err
			}
			h, err := c.UnretireHost(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return p.print(h, []string{"ID", "HOSTNAME", "STATUS"}, func() [][]string {
				return [][]string{{strconv.FormatInt(h.ID, 10), h.Hostname, string(h.Status)}}
			})
		},
	}
}

func (e *env) hostsDormantCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "dormant",
		Short: "Report the dormant hosts: owner, days unseen, last known exposure, proposed for retirement",
		Long: `A host is dormant once it has not checked in for the server's dormant period
(patchbay server --dormant-after, default 14d), and proposed for retirement
after its retirement period (--retire-after, default 90d). Its exposure is
what its last inventory showed: the findings open against it and the
security updates it had pending.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, c, err := e.connect()
			if err != nil {
				return err
			}
			rep, err := c.DormantReport(cmd.Context())
			if err != nil {
				return err
			}
			if p.format != "json" {
				defer func() {
					fmt.Fprintf(p.w, "\n%d dormant hosts (unseen for %s), %d proposed for retirement (unseen for %s): patchbay hosts retire HOST\n",
						len(rep.Hosts), patchbay.FormatDuration(rep.Lifecycle.DormantAfter), rep.ProposedForRetirement, patchbay.FormatDuration(rep.Lifecycle.RetireAfter))
				}()
			}
			return p.print(rep, []string{"ID", "HOSTNAME", "OWNER", "ENV", "LAST SEEN", "DAYS", "FINDINGS", "CRITICAL", "HIGH", "KEV", "SECURITY UPDATES", "PROPOSAL"}, func() [][]string {
				var rows [][]string
				for _, h := range rep.Hosts {
					proposal := "-"
					if h.ProposeRetire {
						proposal = "retire"
					}
					rows = append(rows, []string{strconv.FormatInt(h.ID, 10), h.Hostname, dash(h.Owner), dash(h.Environment),
						h.LastSeen.UTC().Format(time.DateOnly), strconv.Itoa(h.DaysUnseen), strconv.Itoa(h.Exposure.Findings),
						strconv.Itoa(h.Exposure.Critical), strconv.Itoa(h.Exposure.High), strconv.Itoa(h.Exposure.KEV),
						strconv.Itoa(h.SecurityUpdates), proposal})
				}
				return rows
			})
		},
	}
}

// parseDays reads a period of whole days ("14d") or a Go duration
// ("36h"), for the server's lifecycle flags; "" is 0 (the default).
func parseDays(flag, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		d, err := strconv.Atoi(n)
		if err != nil || d <= 0 {
			return 0, usagef("--%s %q: want a number of days like 14d, or a duration like 36h", flag, s)
		}
		return time.Duration(d) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, usagef("--%s %q: want a number of days like 14d, or a duration like 36h", flag, s)
	}
	return d, nil
}
