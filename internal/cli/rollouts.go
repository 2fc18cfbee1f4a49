package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/client"
)

func (e *env) rolloutsCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "rollouts", Short: "Rollouts: frozen patch sets installed ring after ring"}
	cmd.AddCommand(e.rolloutsCreateCommand(), e.rolloutsListCommand(), e.rolloutsShowCommand(), e.rolloutsRollbackCommand())
	for _, a := range []struct{ name, short string }{
		{"plan", "Compute a draft's plan again from current pending updates, and show it"},
		{"approve", "Approve a draft: its plan is frozen"},
		{"start", "Start an approved rollout"},
		{"pause", "Pause a running rollout (hosts in flight finish)"},
		{"resume", "Resume a paused rollout"},
		{"abort", "Abort a rollout: nothing new starts, undelivered jobs are withdrawn"},
	} {
		cmd.AddCommand(e.rolloutsActionCommand(a.name, a.short))
	}
	cmd.AddCommand(e.rolloutsHostCommand("retry", "Put a failed host back to pending"),
		e.rolloutsHostCommand("skip", "Skip a pending or failed host so its ring can move on"))
	return cmd
}

func (e *env) rolloutsCreateCommand() *cobra.Command {
	var (
		def          patchbay.Rollout
		target       string
		securityOnly bool
		rings        []string
		budget       string
		window       string
		hostTimeout  string
		reboot       string
		rebootWait   string
	)
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a draft rollout and show its plan (host × package × installed → planned)",
		Long: `Create a draft rollout. The plan — the exact version of each package every
targeted host will install, and its ring — is shown now and frozen by approve.

Rings run in order. --ring NAME:SPEC, where SPEC is comma-separated:
  selector=KEY=VALUE   hosts matching this asset field or label (repeatable)
  count=N | percent=N  or N hosts / N% of the hosts no earlier ring took
  concurrency=N        hosts at once (default 1)
  bake=DURATION        wait after the ring before the next (10m, 2h, 1d)
  gates=A+B            health checks (agent config) each host must pass
  canary               a failed gate here halts the whole rollout
End with a ring of percent=100 to take the rest.

After its patch a host reboots per --reboot (if-required: when it says it
needs one), with its agent's pre-reboot (drain) and post-reboot (restore)
hooks, within the disruption budgets (patchbay disruption); its gates run
after it is back with a new boot id, and one not back within
--reboot-timeout fails and counts against --budget.

--window 'cron=MIN HOUR DOM MON DOW;duration=4h;tz=Europe/London[;offset=4d]':
hosts start only inside it; both day fields must match (so '0 22 8-14 * 2' is
the second Tuesday), offset moves it by days (offset=4d: the Saturday after).`,
		Example: `  patchbay rollouts create --name october --target env=prod --security-only \
    --ring canary:selector=role=template,gates=web,canary,bake=1h \
    --ring wave1:percent=50,concurrency=2,bake=10m --ring rest:percent=100,concurrency=4 \
    --budget 1 --window 'cron=0 22 * * 2;duration=4h;tz=Europe/London;offset=4d'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := e.printer()
			if err != nil {
				return err
			}
			if securityOnly {
				if cmd.Flags().Changed("policy") && def.Policy != patchbay.PolicySecurity {
					return usagef("--security-only is --policy security; give one or the other")
				}
				def.Policy = patchbay.PolicySecurity
			}
			if def.Target, err = patchbay.ParseSelector(target); err != nil {
				return usagef("--target: %s", patchbay.ErrorMessage(err))
			}
			if len(rings) == 0 {
				return usagef("give at least one --ring (e.g. --ring all:percent=100)")
			}
			for _, s := range rings {
				g, err := patchbay.ParseRing(s)
				if err != nil {
					return flagError(err)
				}
				def.Rings = append(def.Rings, g)
			}
			if def.Budget, err = patchbay.ParseFailureBudget(budget); err != nil {
				return flagError(err)
			}
			if window != "" {
				w, err := patchbay.ParseWindow(window)
				if err != nil {
					return flagError(err)
				}
				def.Window = &w
			}
			if hostTimeout != "" {
				if def.HostTimeout, err = patchbay.ParseDuration(hostTimeout); err != nil {
					return usagef("--host-timeout: %v", err)
				}
			}
			if def.Reboot = patchbay.RebootPolicy(reboot); !def.Reboot.Valid() {
				return usagef("--reboot %q: want never, if-required or always", reboot)
			}
			if rebootWait != "" {
				if def.RebootTimeout, err = patchbay.ParseDuration(rebootWait); err != nil {
					return usagef("--reboot-timeout: %v", err)
				}
			}
			c, err := e.apiClient()
			if err != nil {
				return err
			}
			d, err := c.CreateRollout(cmd.Context(), def)
			if err != nil {
				return err
			}
			if err := printPlan(p, d); err != nil {
				return err
			}
			if p.format != "json" {
				fmt.Fprintf(e.stderr, "rollout %d created as a draft. Check the plan, then:\n  patchbay rollouts approve %d && patchbay rollouts start %d\n", d.Rollout.ID, d.Rollout.ID, d.Rollout.ID)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&def.Name, "name", "", "name of the rollout")
	f.StringVar(&target, "target", "", "hosts to patch, key=value[,key=value] over asset fields and labels (default: all)")
	f.StringVar(&def.Policy, "policy", patchbay.PolicyAll, "patch policy choosing the updates (patchbay policies list): all, security or one of yours")
	f.BoolVar(&securityOnly, "security-only", false, "short for --policy security")
	f.StringArrayVar(&rings, "ring", nil, "NAME:SPEC, in order (repeatable; see above)")
	f.StringVar(&budget, "budget", "0", "failures the whole rollout tolerates before it halts: a count or N%")
	f.StringVar(&window, "window", "", "maintenance window: 'cron=...;duration=...;tz=...[;offset=Nd]' (default: always)")
	f.StringVar(&hostTimeout, "host-timeout", "2h", "a host with no result after this long fails (0: never)")
	f.StringVar(&reboot, "reboot", string(patchbay.RebootIfRequired), "reboot hosts after their patch: never, if-required (the host says so after the patch) or always")
	f.StringVar(&rebootWait, "reboot-timeout", "15m", "a rebooting host must come back with a new boot id within this, or it fails")
	f.BoolVar(&def.RestartServices, "restart-services", false, "on hosts not rebooted, restart the services still running replaced libraries")
	f.BoolVar(&def.NoCatchUp, "no-catch-up", false, "a host away (stale or dormant) when its ring runs stays missed; by default it catches up when it checks in again")
	return cmd
}

// flagError makes a parse error of a rollout flag a usage error named
// after its flag: the shared parsers' messages start with the flag's name
// ("ring …", "budget …", "window …").
func flagError(err error) error { return usagef("--%s", patchbay.ErrorMessage(err)) }

// printPlan writes the plan: one row per host and package.
func printPlan(p printer, d patchbay.RolloutDetail) error {
	return p.print(d, []string{"HOST", "RING", "STATE", "PACKAGE", "INSTALLED", "PLANNED", "NOTE"}, func() [][]string {
		var rows [][]string
		for _, h := range d.Hosts {
			ring := ringName(d.Rollout, h.Ring)
			if len(h.Patches) == 0 {
				rows = append(rows, []string{h.Hostname, ring, string(h.State), "-", "-", "-", dash(h.Reason)})
			}
			for _, pv := range h.Patches {
				inst := d.Installed[h.HostID][pv.Name+":"+pv.Arch]
				rows = append(rows, []string{h.Hostname, ring, string(h.State), pv.Name + archSuffix(pv.Arch), dash(inst), pv.Version, ""})
			}
			for _, x := range h.Excluded {
				inst := d.Installed[h.HostID][x.Name+":"+x.Arch]
				rows = append(rows, []string{h.Hostname, ring, string(h.State), x.Name + archSuffix(x.Arch), dash(inst), "-",
					"not planned (" + x.Version + "): " + x.Reason})
			}
		}
		return rows
	})
}

func archSuffix(a string) string {
	if a == "" {
		return ""
	}
	return ":" + a
}

func ringName(r patchbay.Rollout, i int) string {
	if i >= 0 && i < len(r.Rings) {
		return r.Rings[i].Name
	}
	return strconv.Itoa(i)
}

func rolloutArg(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, usagef("rollout id %q: want a positive number (see patchbay rollouts list)", s)
	}
	return id, nil
}

func (e *env) rolloutsActionCommand(action, short string) *cobra.Command {
	return &cobra.Command{
		Use:   action + " ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := rolloutArg(args[0])
			if err != nil {
				return err
			}
			p, c, err := e.connect()
			if err != nil {
				return err
			}
			d, err := c.RolloutAction(cmd.Context(), id, action)
			if err != nil {
				return err
			}
			if action == "plan" {
				return printPlan(p, d)
			}
			if p.format == "json" {
				return p.print(d, nil, nil)
			}
			status := ""
			if d.Rollout.State == patchbay.RolloutRunning || d.Rollout.State == patchbay.RolloutPaused {
				status = statusSuffix(d.Status)
			}
			fmt.Fprintf(e.stdout, "rollout %d (%s) is %s%s\n", id, d.Rollout.Name, d.Rollout.State, status)
			return nil
		},
	}
}

func statusSuffix(s string) string {
	if s == "" {
		return ""
	}
	return ": " + s
}

func (e *env) rolloutsHostCommand(action, short string) *cobra.Command {
	return &cobra.Command{
		Use:   action + " ID HOST",
		Short: short,
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := rolloutArg(args[0])
			if err != nil {
				return err
			}
			p, c, err := e.connect()
			if err != nil {
				return err
			}
			d, err := c.RolloutHostAction(cmd.Context(), id, args[1], action)
			if err != nil {
				return err
			}
			if p.format == "json" {
				return p.print(d, nil, nil)
			}
			fmt.Fprintf(e.stdout, "rollout %d: %s %s%s\n", id, action, args[1], statusSuffix(d.Status))
			return nil
		},
	}
}

func (e *env) rolloutsListCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List rollouts, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, c, err := e.connect()
			if err != nil {
				return err
			}
			list, err := c.ListRollouts(cmd.Context())
			if err != nil {
				return err
			}
			return p.print(list, []string{"ID", "NAME", "STATE", "POLICY", "TARGET", "RINGS", "CREATED"}, func() [][]string {
				var rows [][]string
				for _, r := range list {
					names := make([]string, len(r.Rings))
					for i, g := range r.Rings {
						names[i] = g.Name
					}
					state := string(r.State)
					if r.RollbackOf != 0 {
						state += fmt.Sprintf(" (rollback of #%d)", r.RollbackOf)
					}
					rows = append(rows, []string{strconv.FormatInt(r.ID, 10), r.Name, state, r.Policy, dash(r.Target.String()),
						strings.Join(names, ","), r.CreatedAt.Local().Format("2006-01-02 15:04")})
				}
				return rows
			})
		},
	}
}

func (e *env) rolloutsShowCommand() *cobra.Command {
	var watch bool
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show a rollout: state, rings, hosts and its log (--watch redraws every 2 s until it ends)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := rolloutArg(args[0])
			if err != nil {
				return err
			}
			p, c, err := e.connect()
			if err != nil {
				return err
			}
			if !watch {
				d, err := c.Rollout(cmd.Context(), id)
				if err != nil {
					return err
				}
				if p.format == "json" {
					return p.print(d, nil, nil)
				}
				return writeRollout(e.stdout, d, time.Now())
			}
			return watchRollout(cmd.Context(), c, id, e.stdout, 2*time.Second)
		},
	}
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "redraw every 2 s until the rollout is completed, halted or aborted")
	return cmd
}

// watchRollout redraws the rollout every interval until it is final or
// ctx ends.
func watchRollout(ctx context.Context, c *client.Client, id int64, w io.Writer, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		d, err := c.Rollout(ctx, id)
		if err != nil {
			return err
		}
		fmt.Fprint(w, "\033[H\033[2J") // home and clear
		if err := writeRollout(w, d, time.Now()); err != nil {
			return err
		}
		if d.Rollout.State.Final() {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// writeRollout renders a rollout for a terminal.
func writeRollout(w io.Writer, d patchbay.RolloutDetail, now time.Time) error {
	r := d.Rollout
	state := string(r.State)
	if r.PauseCause != "" {
		state += " (" + string(r.PauseCause) + ")"
	}
	fmt.Fprintf(w, "Rollout %d  %s  %s\n", r.ID, r.Name, strings.ToUpper(state))
	if d.Status != "" {
		fmt.Fprintf(w, "  %s\n", d.Status)
	}
	if r.RollbackOf != 0 {
		fmt.Fprintf(w, "Rollback of #%d: reinstalls the versions it replaced (downgrades allowed)\n", r.RollbackOf)
	}
	fmt.Fprintf(w, "Policy %s, target %s, failure budget %s, host timeout %s\n", r.Policy, dash(r.Target.String()), r.Budget, durationOrNone(r.HostTimeout))
	restart := ""
	if r.RestartServices {
		restart = ", services running replaced libraries restarted"
	}
	fmt.Fprintf(w, "Reboot %s (back within %s)%s\n", r.Reboot.OrDefault(), r.RebootWait(), restart)
	if r.NoCatchUp {
		fmt.Fprintln(w, "Hosts away when their ring runs stay missed (no catch-up)")
	} else {
		fmt.Fprintln(w, "Hosts away when their ring runs catch up when they check in again")
	}
	if r.Window != nil {
		fmt.Fprintf(w, "Window %q for %s in %s", r.Window.Cron, r.Window.Duration, r.Window.TimeZone)
		if r.Window.DayOffset != 0 {
			fmt.Fprintf(w, ", offset %dd", r.Window.DayOffset)
		}
		fmt.Fprintln(w)
	}
	var counts []string
	for _, s := range patchbay.HostRunStates {
		if n := d.Counts[s]; n > 0 {
			counts = append(counts, fmt.Sprintf("%d %s", n, s))
		}
	}
	fmt.Fprintf(w, "Hosts: %d (%s)\n", len(d.Hosts), strings.Join(counts, ", "))
	for i, g := range r.Rings {
		n, done := 0, 0
		for _, h := range d.Hosts {
			if h.Ring == i {
				n++
				if h.State.Done() {
					done++
				}
			}
		}
		fmt.Fprintf(w, "  ring %d %-10s %d/%d done  %s\n", i+1, g.Name, done, n, ringSpec(g))
	}
	fmt.Fprintln(w)
	p := printer{w: w, format: "table"}
	if err := p.print(nil, []string{"HOST", "RING", "STATE", "ATTEMPTS", "PACKAGES", "STARTED", "FINISHED", "REASON"}, func() [][]string {
		var rows [][]string
		for _, h := range d.Hosts {
			reason := h.Reason
			if h.FailedGate != "" && !strings.Contains(reason, h.FailedGate) {
				reason = "gate " + h.FailedGate + ": " + reason
			}
			state := string(h.State)
			if h.State == patchbay.HostRunning && h.Phase != "" {
				state += " (" + h.Phase + ")"
			}
			if h.Rebooted {
				state += ", rebooted"
			}
			rows = append(rows, []string{h.Hostname, ringName(r, h.Ring), state, strconv.Itoa(h.Attempts), strconv.Itoa(len(h.Patches)),
				agoOrDash(h.StartedAt, now), agoOrDash(h.FinishedAt, now), dash(reason)})
		}
		return rows
	}); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nLog:")
	events := d.Events
	if len(events) > 12 {
		events = events[len(events)-12:]
	}
	for _, ev := range events {
		fmt.Fprintf(w, "  %s  %-10s %-15s %s\n", ev.Time.Local().Format("2006-01-02 15:04:05"), ev.Actor, ev.Kind, ev.Detail)
	}
	return nil
}

func ringSpec(g patchbay.Ring) string {
	var parts []string
	switch {
	case len(g.Selector) > 0:
		parts = append(parts, "selector "+g.Selector.String())
	case g.Count > 0:
		parts = append(parts, fmt.Sprintf("%d hosts", g.Count))
	default:
		parts = append(parts, fmt.Sprintf("%d%% of the rest", g.Percent))
	}
	parts = append(parts, fmt.Sprintf("concurrency %d", g.MaxConcurrency))
	if g.BakeTime > 0 {
		parts = append(parts, "bake "+g.BakeTime.String())
	}
	if len(g.HealthGates) > 0 {
		parts = append(parts, "gates "+strings.Join(g.HealthGates, "+"))
	}
	if g.Canary {
		parts = append(parts, "canary")
	}
	return strings.Join(parts, ", ")
}

func durationOrNone(d time.Duration) string {
	if d == 0 {
		return "none"
	}
	return d.String()
}

func agoOrDash(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return ago(t, now)
}
