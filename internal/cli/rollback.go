package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func (e *env) rolloutsRollbackCommand() *cobra.Command {
	var host, ring string
	cmd := &cobra.Command{
		Use:   "rollback ID",
		Short: "Create a draft rollout that reinstalls the versions rollout ID replaced, from each host's history",
		Long: `Create a draft rollout that undoes rollout ID: on each of its hosts (or only
--host H, or only the hosts of its ring --ring NAME), every package the host's
timeline shows rollout ID changed is planned at the version it replaced. Hosts
where it changed nothing are skipped with the reason. The new rollout is
approved and started like any other; its jobs allow downgrades. A version the
repository no longer has fails that host's job with apt's or dnf's reason.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := rolloutArg(args[0])
			if err != nil {
				return err
			}
			if host != "" && ring != "" {
				return usagef("give --host or --ring, not both")
			}
			p, c, err := e.connect()
			if err != nil {
				return err
			}
			d, err := c.RollbackRollout(cmd.Context(), id, host, ring)
			if err != nil {
				return err
			}
			if err := printPlan(p, d); err != nil {
				return err
			}
			if p.format != "json" {
				fmt.Fprintf(e.stderr, "rollout %d (rollback of #%d) created as a draft. Check the plan, then:\n  patchbay rollouts approve %d && patchbay rollouts start %d\n",
					d.Rollout.ID, id, d.Rollout.ID, d.Rollout.ID)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&host, "host", "", "roll back only this host (hostname or id)")
	cmd.Flags().StringVar(&ring, "ring", "", "roll back only the hosts of this ring of the rollout")
	return cmd
}
