package cli

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/patchbay/patchbay"
)

func (e *env) disruptionCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "disruption",
		Short: "Disruption budgets: how many hosts sharing a label may be drained or rebooting at once",
		Long: `A disruption budget bounds, across every rollout, how many hosts with a label
are disrupted (drained by their pre-reboot hooks, rebooting, restoring) at
once: "cluster --max 1" lets one host of each cluster value go down at a
time; "cluster=vz1 --max 1" only that cluster. Before it drains its host, an
agent asks the server for a lease, and waits while the budget is full.

A lease ends with its job, when its holder stops renewing it (an agent that
died), or by hand with "patchbay disruption release HOST". A host that does
not come back from its reboot keeps its lease until it returns or is
released: its cluster has lost one host already.`,
	}
	cmd.AddCommand(e.disruptionAddCommand(), e.disruptionListCommand(), e.disruptionRemoveCommand(), e.disruptionReleaseCommand())
	return cmd
}

func (e *env) disruptionAddCommand() *cobra.Command {
	var max int
	cmd := &cobra.Command{
		Use:     "add LABEL[=VALUE] --max N",
		Short:   "Add a budget",
		Example: "  patchbay disruption add cluster --max 1\n  patchbay disruption add cluster=vz1 --max 1",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := patchbay.ParseDisruptionBudget(args[0], max); err != nil {
				return usagef("%s", patchbay.ErrorMessage(err))
			}
			p, c, err := e.connect()
			if err != nil {
				return err
			}
			b, err := c.AddDisruptionBudget(cmd.Context(), patchbay.DisruptionBudgetRequest{Budget: args[0], Max: max})
			if err != nil {
				return err
			}
			if p.format == "json" {
				return p.print(b, nil, nil)
			}
			per := "with " + b.Selector()
			if b.Value == "" {
				per = "per value of " + b.Label
			}
			fmt.Fprintf(e.stdout, "disruption budget %d: at most %d host(s) %s disrupted at once\n", b.ID, b.Max, per)
			return nil
		},
	}
	cmd.Flags().IntVar(&max, "max", 0, "hosts that may be disrupted at once (required, at least 1)")
	return cmd
}

func (e *env) disruptionListCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the budgets and the leases in force",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, c, err := e.connect()
			if err != nil {
				return err
			}
			st, err := c.Disruption(cmd.Context())
			if err != nil {
				return err
			}
			if p.format == "json" {
				return p.print(st, nil, nil)
			}
			if err := p.print(st.Budgets, []string{"ID", "BUDGET", "MAX", "CREATED"}, func() [][]string {
				var rows [][]string
				for _, b := range st.Budgets {
					rows = append(rows, []string{strconv.FormatInt(b.ID, 10), b.Selector(), strconv.Itoa(b.Max),
						b.CreatedAt.Local().Format("2006-01-02 15:04") + " by " + b.CreatedBy})
				}
				return rows
			}); err != nil {
				return err
			}
			if len(st.Leases) == 0 {
				fmt.Fprintln(e.stdout, "\nno leases in force")
				return nil
			}
			fmt.Fprintln(e.stdout)
			return p.print(st.Leases, []string{"HOST", "JOB", "ACQUIRED", "EXPIRES", "NOTE"}, func() [][]string {
				var rows [][]string
				for _, l := range st.Leases {
					exp := "until released"
					if !l.ExpiresAt.IsZero() {
						exp = l.ExpiresAt.Local().Format("2006-01-02 15:04:05")
					}
					rows = append(rows, []string{l.Hostname, l.JobID, l.AcquiredAt.Local().Format("2006-01-02 15:04:05"), exp, oneLine(l.Note)})
				}
				return rows
			})
		},
	}
}

func (e *env) disruptionRemoveCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "remove ID",
		Short: "Remove a budget",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return usagef("budget id %q: want a positive number (see patchbay disruption list)", args[0])
			}
			_, c, err := e.connect()
			if err != nil {
				return err
			}
			if err := c.RemoveDisruptionBudget(cmd.Context(), id); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "disruption budget %d removed\n", id)
			return nil
		},
	}
}

func (e *env) disruptionReleaseCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "release HOST",
		Short: "Release a host's lease (after dealing with a host that did not come back)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, c, err := e.connect()
			if err != nil {
				return err
			}
			l, err := c.ReleaseLease(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if p.format == "json" {
				return p.print(l, nil, nil)
			}
			fmt.Fprintf(e.stdout, "lease of %s (job %s) released\n", l.Hostname, l.JobID)
			return nil
		},
	}
}
