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
	"github.com/patchbay/patchbay/internal/client"
)

func (e *env) hostsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hosts",
		Short: "Hosts: list, show, packages, updates, history, set, retire, unretire, dormant",
		Long:  "HOST is a host id, a hostname or a machine-id.",
	}
	cmd.AddCommand(e.hostsListCommand(), e.hostsShowCommand(), e.hostsPackagesCommand(),
		e.hostsUpdatesCommand(), e.hostsHistoryCommand(), e.hostsSetCommand(),
		e.hostsRetireCommand(), e.hostsUnretireCommand(), e.hostsDormantCommand())
	return cmd
}

func (e *env) hostsListCommand() *cobra.Command {
	var q client.HostQuery
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List hosts",
		Example: `  patchbay hosts list --security-updates
  patchbay hosts list --label env=prod --os debian -o json
  patchbay hosts list --status dormant`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := e.printer()
			if err != nil {
				return err
			}
			if err := hostStatusFlag(q.Status); err != nil {
				return err
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
			hosts, err := c.ListHosts(cmd.Context(), q)
			if err != nil {
				return err
			}
			now := time.Now()
			return p.print(hosts, []string{"ID", "HOSTNAME", "OS", "KERNEL", "PACKAGES", "UPDATES", "SECURITY", "REBOOT", "STATUS", "LAST SEEN"}, func() [][]string {
				var rows [][]string
				for _, h := range hosts {
					rows = append(rows, []string{strconv.FormatInt(h.ID, 10), h.Hostname, dash(strings.TrimSpace(h.OS.ID + " " + h.OS.VersionID)), dash(h.Kernel),
						strconv.Itoa(h.PackagesCount), strconv.Itoa(h.UpdatesCount), strconv.Itoa(h.SecurityUpdatesCount), yesNo(h.RebootRequired), string(h.Status), ago(h.LastSeen, now)})
				}
				return rows
			})
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&q.Labels, "label", nil, "only hosts with this label or asset field (key=value; repeatable)")
	f.StringVar(&q.OS, "os", "", "only hosts of this OS id (debian, ubuntu, almalinux ...)")
	f.BoolVar(&q.Stale, "stale", false, "only hosts that missed 3 check-ins (stale and dormant ones)")
	f.StringVar((*string)(&q.Status), "status", "", "only hosts in this status: active, stale, dormant or retired (retired hosts are listed only so)")
	f.BoolVar(&q.NeedsReboot, "needs-reboot", false, "only hosts that need a reboot")
	f.BoolVar(&q.HasUpdates, "has-updates", false, "only hosts with pending updates")
	f.BoolVar(&q.SecurityUpdates, "security-updates", false, "only hosts with pending security updates")
	f.IntVar(&q.Limit, "limit", 0, "at most this many hosts (0: all)")
	f.IntVar(&q.Offset, "offset", 0, "skip this many hosts")
	return cmd
}

func (e *env) hostsShowCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "show HOST",
		Short: "Show a host's facts, assets and labels",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, c, err := e.connect()
			if err != nil {
				return err
			}
			h, err := c.Host(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			findings, err := hostFindings(cmd.Context(), c, strconv.FormatInt(h.ID, 10))
			if err != nil {
				return err
			}
			if p.format == "json" {
				return p.print(withFindings(h, findings), nil, nil)
			}
			defer printHostFindings(p, findings)
			now := time.Now()
			return p.print(h, []string{"FIELD", "VALUE"}, func() [][]string {
				rows := [][]string{
					{"id", strconv.FormatInt(h.ID, 10)}, {"hostname", h.Hostname}, {"machine_id", h.MachineID},
					{"os", dash(h.OS.PrettyName)}, {"kernel", dash(h.Kernel)}, {"arch", dash(h.Arch)},
					{"package_manager", dash(h.PackageManager)}, {"packages", strconv.Itoa(h.PackagesCount)},
					{"updates", fmt.Sprintf("%d (%d security)", h.UpdatesCount, h.SecurityUpdatesCount)},
					{"reboot_required", yesNo(h.RebootRequired) + reasons(h.RebootReasons)},
					{"status", string(h.Status) + retiredNote(h)}, {"last_seen", ago(h.LastSeen, now)}, {"boot_id", dash(h.BootID)},
					{"ip_addresses", dash(strings.Join(h.IPAddresses, ", "))},
					{"owner", dash(h.Assets.Owner)}, {"environment", dash(h.Assets.Environment)}, {"role", dash(h.Assets.Role)},
					{"criticality", dash(h.Assets.Criticality)}, {"location", dash(h.Assets.Location)},
					{"findings", findingsSummary(findings)},
				}
				for _, k := range slices.Sorted(maps.Keys(h.Labels)) {
					rows = append(rows, []string{"label " + k, h.Labels[k]})
				}
				return rows
			})
		},
	}
}

// retiredNote says when, by whom and why a retired host was retired.
func retiredNote(h patchbay.Host) string {
	if h.RetiredAt.IsZero() {
		return ""
	}
	note := fmt.Sprintf(" (since %s, by %s", h.RetiredAt.UTC().Format(time.DateOnly), h.RetiredBy)
	if h.RetiredReason != "" {
		note += ": " + h.RetiredReason
	}
	return note + ")"
}

func reasons(r []string) string {
	if len(r) == 0 {
		return ""
	}
	return " (" + strings.Join(r, "; ") + ")"
}

func (e *env) hostsPackagesCommand() *cobra.Command {
	var match string
	cmd := &cobra.Command{
		Use:   "packages HOST",
		Short: "List a host's installed packages",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, c, err := e.connect()
			if err != nil {
				return err
			}
			pkgs, err := c.HostPackages(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if match != "" {
				pkgs = slices.DeleteFunc(pkgs, func(p patchbay.Package) bool { return !strings.Contains(p.Name, match) })
			}
			return p.print(pkgs, []string{"NAME", "VERSION", "ARCH", "SOURCE", "SOURCE VERSION"}, func() [][]string {
				var rows [][]string
				for _, x := range pkgs {
					rows = append(rows, []string{x.Name, x.Version, x.Arch, x.SourceName, x.SourceVersion})
				}
				return rows
			})
		},
	}
	cmd.Flags().StringVar(&match, "match", "", "only packages whose name contains this")
	return cmd
}

func (e *env) hostsUpdatesCommand() *cobra.Command {
	var security bool
	cmd := &cobra.Command{
		Use:   "updates HOST",
		Short: "List a host's pending updates (security ones marked)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, c, err := e.connect()
			if err != nil {
				return err
			}
			ups, err := c.HostUpdates(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if security {
				ups = slices.DeleteFunc(ups, func(u patchbay.HostUpdate) bool { return !u.Security })
			}
			return p.print(ups, []string{"NAME", "ARCH", "INSTALLED", "CANDIDATE", "SECURITY", "CVES", "ORIGIN"}, func() [][]string {
				var rows [][]string
				for _, u := range ups {
					rows = append(rows, []string{u.Name, u.Arch, u.InstalledVersion, u.CandidateVersion, yesNo(u.Security), updateCVEs(u), u.Origin})
				}
				return rows
			})
		},
	}
	cmd.Flags().BoolVar(&security, "security", false, "only security updates")
	return cmd
}

// updateCVEs is the CVEs column of an update: the CVE ids, "-" when its
// changelog names none, or where the changelog is when not fetched.
func updateCVEs(u patchbay.HostUpdate) string {
	switch {
	case len(u.CVEs) > 0:
		return strings.Join(u.CVEs, ",")
	case u.Changelog == patchbay.ChangelogFetched || u.Changelog == "":
		return "-"
	}
	return "(changelog " + string(u.Changelog) + ")"
}

func (e *env) hostsHistoryCommand() *cobra.Command {
	var since, pkg string
	var limit int
	cmd := &cobra.Command{
		Use:   "history HOST",
		Short: "Show what changed on a host and when, newest first",
		Example: `  patchbay hosts history web1 --since 7d
  patchbay hosts history web1 --package openssl --limit 1   # the last change to openssl`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, c, err := e.connect()
			if err != nil {
				return err
			}
			ev, err := c.HostHistory(cmd.Context(), args[0], since, pkg, limit)
			if err != nil {
				return err
			}
			return p.print(ev, []string{"TIME", "KIND", "PACKAGE", "OLD", "NEW", "CAUSE", "DETAIL"}, func() [][]string {
				var rows [][]string
				for _, x := range ev {
					rows = append(rows, []string{x.Time.Local().Format("2006-01-02 15:04:05"), string(x.Kind), dash(x.Package), dash(x.OldVersion), dash(x.NewVersion), x.Cause, x.Detail})
				}
				return rows
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&since, "since", "", "only events newer than this (7d, 36h, 90m)")
	f.StringVar(&pkg, "package", "", "only events of this package")
	f.IntVar(&limit, "limit", 0, "at most this many events (0: server default, 1000)")
	return cmd
}

func (e *env) hostsSetCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "set HOST key=value...",
		Short: "Set asset fields (owner, environment, role, criticality, location) and labels",
		Long:  "Keys owner, environment (or env), role, criticality and location set asset fields; any other key sets a free label. An empty value (key=) removes it.",
		Example: `  patchbay hosts set web1 owner=alice environment=prod rack=b4
  patchbay hosts set web1 rack=`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := e.printer()
			if err != nil {
				return err
			}
			set, err := parsePairs(args[1:])
			if err != nil {
				return err
			}
			c, err := e.apiClient()
			if err != nil {
				return err
			}
			h, err := c.SetHost(cmd.Context(), args[0], set)
			if err != nil {
				return err
			}
			return p.print(h, []string{"ID", "HOSTNAME", "OWNER", "ENVIRONMENT", "ROLE", "LABELS"}, func() [][]string {
				var labels []string
				for _, k := range slices.Sorted(maps.Keys(h.Labels)) {
					labels = append(labels, k+"="+h.Labels[k])
				}
				return [][]string{{strconv.FormatInt(h.ID, 10), h.Hostname, dash(h.Assets.Owner), dash(h.Assets.Environment), dash(h.Assets.Role), dash(strings.Join(labels, ","))}}
			})
		},
	}
}

func parsePairs(args []string) (map[string]string, error) {
	m := map[string]string{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return nil, usagef("%q: want key=value", a)
		}
		m[k] = v
	}
	return m, nil
}
