package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchbay/patchbay"
)

func (e *env) webhooksCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "webhooks",
		Short: "Webhooks: tell a chat, pager or ticket system what rollouts do and when windows open",
		Long: `A webhook gets every rollout log entry of the kinds it names as a JSON POST,
in order and at least once: the entry, the rollout (name, state, host counts)
and, for a window announcement, the hosts to be patched with their owners.
Each delivery carries X-Patchbay-Event, X-Patchbay-Delivery (the same on a
retry) and X-Patchbay-Signature: sha256=HMAC-SHA256 of the body with the
webhook's secret, printed once by "webhooks add". A receiver that does not
answer 2xx is retried, 5 s doubling up to an hour, and nothing after is sent
to it before. A rollout waiting for its maintenance window is announced once
per window, 24 hours before it opens (patchbay server --announce-before).`,
	}
	cmd.AddCommand(e.webhooksAddCommand(), e.webhooksListCommand(), e.webhooksRemoveCommand(), e.webhooksTestCommand())
	return cmd
}

func (e *env) webhooksAddCommand() *cobra.Command {
	var events []string
	cmd := &cobra.Command{
		Use:   "add NAME URL",
		Short: "Add a webhook (prints its signing secret, once)",
		Example: `  patchbay webhooks add ops-chat https://chat.example.org/hooks/patchbay
  patchbay webhooks add audit https://siem.example.org/in --event '*'
  patchbay webhooks add pager https://pager.example.org/v2 --event host_failed --event state`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := patchbay.WebhookRequest{Name: args[0], URL: args[1], Events: events}
			if err := req.Validate(); err != nil {
				return usagef("%s", patchbay.ErrorMessage(err))
			}
			p, c, err := e.connect()
			if err != nil {
				return err
			}
			w, err := c.CreateWebhook(cmd.Context(), req)
			if err != nil {
				return err
			}
			if p.format == "json" {
				return p.print(w, nil, nil)
			}
			fmt.Fprintf(e.stdout, "webhook %d (%s): %s gets %s\nsecret (shown only now; verify X-Patchbay-Signature with it): %s\n",
				w.ID, w.Name, w.URL, strings.Join(w.Events, ", "), w.Secret)
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&events, "event", nil, "rollout log kind to send (repeatable; * for all; default: "+strings.Join(patchbay.DefaultWebhookEvents, ", ")+")")
	return cmd
}

func (e *env) webhooksListCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List webhooks with their delivery state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, c, err := e.connect()
			if err != nil {
				return err
			}
			list, err := c.Webhooks(cmd.Context())
			if err != nil {
				return err
			}
			now := time.Now()
			return p.print(list, []string{"ID", "NAME", "URL", "EVENTS", "DELIVERED", "LAST", "FAILURES", "NEXT TRY", "LAST ERROR"}, func() [][]string {
				var rows [][]string
				for _, w := range list {
					next := "-"
					if w.Failures > 0 {
						next = w.NextAttempt.UTC().Format(time.RFC3339)
					}
					rows = append(rows, []string{strconv.FormatInt(w.ID, 10), w.Name, w.URL, strings.Join(w.Events, ","),
						strconv.FormatInt(w.Delivered, 10), ago(w.DeliveredAt, now), strconv.Itoa(w.Failures), next, dash(w.LastError)})
				}
				return rows
			})
		},
	}
}

func (e *env) webhooksRemoveCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "remove NAME|ID",
		Short: "Remove a webhook",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, c, err := e.connect()
			if err != nil {
				return err
			}
			if err := c.DeleteWebhook(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "webhook %s removed\n", args[0])
			return nil
		},
	}
}

func (e *env) webhooksTestCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "test NAME|ID",
		Short: "Send a test delivery now and show how the receiver answered",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, c, err := e.connect()
			if err != nil {
				return err
			}
			r, err := c.TestWebhook(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if p.format == "json" {
				return p.print(r, nil, nil)
			}
			if r.Error != "" {
				return fmt.Errorf("test delivery to webhook %s failed after %s: %s", args[0], r.Took.Round(time.Millisecond), r.Error)
			}
			fmt.Fprintf(e.stdout, "webhook %s answered %d in %s\n", args[0], r.Status, r.Took.Round(time.Millisecond))
			return nil
		},
	}
}
