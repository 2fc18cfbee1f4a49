package cli

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchbay/patchbay"
)

func (e *env) tokensCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "tokens", Short: "Enrolment tokens: create, list, revoke"}
	cmd.AddCommand(e.tokensCreateCommand(), e.tokensListCommand(), e.tokensRevokeCommand())
	return cmd
}

func (e *env) tokensCreateCommand() *cobra.Command {
	var req patchbay.CreateTokenRequest
	var labels []string
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create an enrolment token (it carries the server's CA hash)",
		Long: `Create an enrolment token. Agents exchange it once for a per-host credential:

  patchbay agent --server https://patchbay.example:8080 --token TOKEN

The token carries the SHA-256 of the server's CA certificate, so a new agent
verifies the server before it trusts it. The secret is shown only now.`,
		Example: "  patchbay tokens create --expires 24h --uses 10 --label env=prod --label owner=ops",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := e.printer()
			if err != nil {
				return err
			}
			if req.Labels, err = parsePairs(labels); err != nil {
				return err
			}
			c, err := e.apiClient()
			if err != nil {
				return err
			}
			t, err := c.CreateToken(cmd.Context(), req)
			if err != nil {
				return err
			}
			if p.format == "json" {
				return p.print(t, nil, nil)
			}
			fmt.Fprintln(e.stdout, t.Token)
			fmt.Fprintf(e.stderr, "token %s: %s, %s. Enrol a host with:\n  patchbay agent --server SERVER_URL --token %s\n", t.ID, expiry(t.ExpiresAt), uses(t.MaxUses, t.Uses), t.Token)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.ExpiresIn, "expires", "", "expire after this long (24h, 7d); default: never")
	f.IntVar(&req.Uses, "uses", 0, "how many hosts may enrol with it (0: unlimited)")
	f.StringArrayVar(&labels, "label", nil, "label (or asset field) given to hosts that enrol with it, key=value (repeatable)")
	return cmd
}

func expiry(t time.Time) string {
	if t.IsZero() {
		return "never expires"
	}
	return "expires " + t.Local().Format("2006-01-02 15:04")
}

func uses(max, used int) string {
	if max == 0 {
		return fmt.Sprintf("used %d times, unlimited", used)
	}
	return fmt.Sprintf("used %d of %d times", used, max)
}

func (e *env) tokensListCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List enrolment tokens (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, c, err := e.connect()
			if err != nil {
				return err
			}
			ts, err := c.ListTokens(cmd.Context())
			if err != nil {
				return err
			}
			return p.print(ts, []string{"ID", "CREATED", "EXPIRES", "USES", "REVOKED", "LABELS"}, func() [][]string {
				var rows [][]string
				for _, t := range ts {
					var l []string
					for _, k := range slices.Sorted(maps.Keys(t.Labels)) {
						l = append(l, k+"="+t.Labels[k])
					}
					max := "unlimited"
					if t.MaxUses > 0 {
						max = strconv.Itoa(t.MaxUses)
					}
					rows = append(rows, []string{t.ID, t.CreatedAt.Local().Format("2006-01-02 15:04"), expiry(t.ExpiresAt), fmt.Sprintf("%d/%s", t.Uses, max), yesNo(t.Revoked), dash(strings.Join(l, ","))})
				}
				return rows
			})
		},
	}
}

func (e *env) tokensRevokeCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an enrolment token (enrolled hosts keep their credentials)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.apiClient()
			if err != nil {
				return err
			}
			if err := c.RevokeToken(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "token %s revoked\n", args[0])
			return nil
		},
	}
}
