package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/patchbay/patchbay"
)

func (e *env) blockCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "block",
		Short: "Block a package version fleet-wide (a bad update: nothing installs it)",
		Long: `A blocked version is never installed by Patchbay: plans leave it out, running
rollouts that planned it halt at once, queued jobs that would install it are
withdrawn before their agent gets them, approved rollouts that planned it
cannot start, and agents refuse it even from a stale job.`,
	}
	cmd.AddCommand(e.blockAddCommand(), e.blockListCommand(), e.blockRemoveCommand())
	return cmd
}

func (e *env) blockAddCommand() *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:     "add PACKAGE=VERSION",
		Short:   "Block a version",
		Example: `  patchbay block add linux-image-6.1.0-14-amd64=6.1.64-1 --reason "ext4 corruption (Debian 12.3)"`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(reason) == "" {
				return usagef("--reason is required: say why the version is blocked")
			}
			if _, err := patchbay.ParseBlock(args[0]); err != nil {
				return usagef("%s", patchbay.ErrorMessage(err))
			}
			p, c, err := e.connect()
			if err != nil {
				return err
			}
			reply, err := c.AddBlock(cmd.Context(), patchbay.BlockRequest{Block: args[0], Reason: reason})
			if err != nil {
				return err
			}
			if p.format == "json" {
				return p.print(reply, nil, nil)
			}
			fmt.Fprintf(e.stdout, "block %d: %s is blocked fleet-wide\n", reply.Block.ID, reply.Block.String())
			for _, r := range reply.Halted {
				fmt.Fprintf(e.stdout, "  halted: %s\n", r)
			}
			for _, h := range reply.Running {
				fmt.Fprintf(e.stdout, "  already patching (its agent refuses the version if it has not started): %s\n", h)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why (required)")
	return cmd
}

func (e *env) blockListCommand() *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List blocked versions (--all: removed blocks too)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, c, err := e.connect()
			if err != nil {
				return err
			}
			list, err := c.ListBlocks(cmd.Context(), all)
			if err != nil {
				return err
			}
			return p.print(list, []string{"ID", "PACKAGE", "VERSION", "BLOCKED", "REMOVED", "REASON"}, func() [][]string {
				var rows [][]string
				for _, b := range list {
					removed := "-"
					if !b.Active() {
						removed = b.RemovedAt.Local().Format("2006-01-02 15:04") + " by " + b.RemovedBy
					}
					rows = append(rows, []string{strconv.FormatInt(b.ID, 10), b.Package, b.Version,
						b.CreatedAt.Local().Format("2006-01-02 15:04") + " by " + b.CreatedBy, removed, oneLine(b.Reason)})
				}
				return rows
			})
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "include removed blocks")
	return cmd
}

func (e *env) blockRemoveCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "remove ID",
		Short: "Remove a block (plans may take the version again; halted rollouts stay halted)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return usagef("block id %q: want a positive number (see patchbay block list)", args[0])
			}
			p, c, err := e.connect()
			if err != nil {
				return err
			}
			b, err := c.RemoveBlock(cmd.Context(), id)
			if err != nil {
				return err
			}
			if p.format == "json" {
				return p.print(b, nil, nil)
			}
			fmt.Fprintf(e.stdout, "block %d removed: %s may be installed again\n", b.ID, b.String())
			return nil
		},
	}
}
