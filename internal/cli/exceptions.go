package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchbay/patchbay"
)

func (e *env) exceptionsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "exceptions",
		Short: "Exceptions: hold a package or an advisory's fix off hosts until a date",
		Long: `An exception holds a package (name or pattern), or the fix of an advisory or
CVE, off one host, the hosts of a selector, or all hosts, until it expires.
No rollout installs a held update; findings it covers are shown as excepted.
Every exception has a reason, an owner and an expiry (at most a year); who
granted it and when is kept. Granting one puts pending hosts of unfinished
rollouts whose frozen plans it holds to "held".`,
	}
	cmd.AddCommand(e.exceptionsCreateCommand(), e.exceptionsListCommand(), e.exceptionsRevokeCommand())
	return cmd
}

// parseExpiry reads an expiry: a date (the exception lasts to the end of
// that day, local time), an RFC 3339 time, or a duration from now (30d,
// 12h).
func parseExpiry(s string, now time.Time) (time.Time, error) {
	if t, err := time.ParseInLocation(time.DateOnly, s, time.Local); err == nil {
		return t.AddDate(0, 0, 1), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := patchbay.ParseDuration(s); err == nil && d > 0 {
		return now.Add(d), nil
	}
	return time.Time{}, fmt.Errorf("%q: want a date (2027-01-31), a time (2027-01-31T18:00:00Z) or a duration (30d)", s)
}

func (e *env) exceptionsCreateCommand() *cobra.Command {
	var (
		req     patchbay.ExceptionRequest
		expires string
	)
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Grant an exception",
		Example: `  patchbay exceptions create --host web1 --package openssl --reason "app certified on 3.0.11 only" \
    --owner team-web --expires 2027-01-31
  patchbay exceptions create --selector env=prod --advisory CVE-2024-6387 --reason "sshd not exposed" \
    --owner secops --expires 30d`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := e.printer()
			if err != nil {
				return err
			}
			if expires == "" {
				return usagef("--expires is required: every exception expires (a date, or a duration such as 30d)")
			}
			if req.ExpiresAt, err = parseExpiry(expires, time.Now()); err != nil {
				return usagef("--expires %v", err)
			}
			c, err := e.apiClient()
			if err != nil {
				return err
			}
			reply, err := c.CreateException(cmd.Context(), req)
			if err != nil {
				return err
			}
			if p.format == "json" {
				return p.print(reply, nil, nil)
			}
			x := reply.Exception
			fmt.Fprintf(e.stdout, "exception %d: %s on %s until %s (owner %s)\n", x.ID, x.Target(), x.ScopeString(),
				x.ExpiresAt.Local().Format("2006-01-02 15:04"), x.Owner)
			for _, h := range reply.Held {
				fmt.Fprintf(e.stdout, "  held now: %s\n", h)
			}
			for _, h := range reply.Running {
				fmt.Fprintf(e.stdout, "  already patching, finishes: %s\n", h)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Host, "host", "", "the host it covers (id, hostname or machine id)")
	f.StringVar(&req.Selector, "selector", "", "the hosts it covers: key=value[,key=value] over asset fields and labels")
	f.BoolVar(&req.All, "all", false, "it covers every host")
	f.StringVar(&req.Package, "package", "", "the package it holds: a name or pattern ('linux-image-*')")
	f.StringVar(&req.Advisory, "advisory", "", "the advisory or CVE whose fix it holds")
	f.StringVar(&req.Reason, "reason", "", "why (required)")
	f.StringVar(&req.Owner, "owner", "", "who answers for it (required)")
	f.StringVar(&expires, "expires", "", "when it ends: 2027-01-31 (end of that day), an RFC 3339 time, or 30d (required)")
	return cmd
}

func (e *env) exceptionsListCommand() *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List exceptions in force (--all: expired and revoked ones too)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, c, err := e.connect()
			if err != nil {
				return err
			}
			list, err := c.ListExceptions(cmd.Context(), all)
			if err != nil {
				return err
			}
			return p.print(list, []string{"ID", "STATE", "SCOPE", "HOLDS", "OWNER", "EXPIRES", "GRANTED", "REASON"}, func() [][]string {
				var rows [][]string
				for _, x := range list {
					state := x.State
					if x.State == patchbay.ExceptionRevoked {
						state += " by " + x.RevokedBy
					}
					rows = append(rows, []string{strconv.FormatInt(x.ID, 10), state, x.ScopeString(), x.Target(), x.Owner,
						x.ExpiresAt.Local().Format("2006-01-02 15:04"), x.CreatedAt.Local().Format("2006-01-02") + " by " + x.CreatedBy,
						oneLine(x.Reason)})
				}
				return rows
			})
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "include expired and revoked exceptions")
	return cmd
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

func (e *env) exceptionsRevokeCommand() *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "revoke ID",
		Short: "End an exception before it expires",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return usagef("exception id %q: want a positive number (see patchbay exceptions list)", args[0])
			}
			if strings.TrimSpace(reason) == "" {
				return usagef("--reason is required: say why it ends early")
			}
			p, c, err := e.connect()
			if err != nil {
				return err
			}
			x, err := c.RevokeException(cmd.Context(), id, reason)
			if err != nil {
				return err
			}
			if p.format == "json" {
				return p.print(x, nil, nil)
			}
			fmt.Fprintf(e.stdout, "exception %d revoked: plans made from now on no longer hold %s\n", x.ID, x.Target())
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why it ends early (required)")
	return cmd
}
