package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/patchbay/patchbay"
)

func (e *env) policiesCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policies",
		Short: "Patch policies: which pending updates a rollout installs",
		Long: `A patch policy (baseline) decides which of a host's pending updates a rollout
that names it installs. Rules, the first that decides wins:

  1. --reject PATTERN     never approve a matching package
  2. --approve PATTERN    always approve a matching package
  3. --approve-kev        approve at once an update fixing a CVE in CISA's KEV catalog
  4. --classification     security: only updates from a security origin;
                          none: only what rules 1-3 approve (named packages only)
  5. --min-severity       leave out updates whose known severity is lower
                          (an update no finding rates passes: it is never guessed)
  6. --min-age            leave out updates the fleet first saw less than this ago

PATTERN is a package name or a shell pattern ('linux-image-*'). Exceptions
(patchbay exceptions) hold packages before any rule. "all" and "security"
are built in.`,
	}
	cmd.AddCommand(e.policiesCreateCommand(), e.policiesEditCommand(), e.policiesListCommand(), e.policiesShowCommand())
	return cmd
}

// policyFlags are the rule flags of create and edit.
type policyFlags struct {
	description, classification, minSeverity, minAge string
	approve, reject                                  []string
	approveKEV                                       bool
}

func (pf *policyFlags) register(f *pflag.FlagSet) {
	f.StringVar(&pf.description, "description", "", "what the policy is for")
	f.StringVar(&pf.classification, "classification", patchbay.ClassAll, "all, security, or none (only --approve patterns)")
	f.StringVar(&pf.minSeverity, "min-severity", "", "low, medium, high or critical (default: any)")
	f.StringVar(&pf.minAge, "min-age", "0", "approve updates only this long after the fleet first saw them (7d, 36h)")
	f.StringArrayVar(&pf.approve, "approve", nil, "always approve packages matching PATTERN (repeatable; on edit it replaces the list, --approve '' empties it)")
	f.StringArrayVar(&pf.reject, "reject", nil, "never approve packages matching PATTERN (repeatable; on edit it replaces the list, --reject '' empties it)")
	f.BoolVar(&pf.approveKEV, "approve-kev", false, "approve at once updates that fix a known-exploited (KEV) CVE")
}

func (pf *policyFlags) anyChanged(f *pflag.FlagSet) bool {
	for _, name := range []string{"description", "classification", "min-severity", "min-age", "approve", "reject", "approve-kev"} {
		if f.Changed(name) {
			return true
		}
	}
	return false
}

// apply sets on p the rules whose flags were given (all of them when
// every is set).
func (pf *policyFlags) apply(f *pflag.FlagSet, p *patchbay.Policy, every bool) error {
	set := func(name string) bool { return every || f.Changed(name) }
	if set("description") {
		p.Description = pf.description
	}
	if set("classification") {
		p.Classification = pf.classification
	}
	if set("min-severity") {
		p.MinSeverity = patchbay.Severity(strings.ToLower(pf.minSeverity))
	}
	if set("min-age") {
		d, err := patchbay.ParseDuration(pf.minAge)
		if err != nil {
			return usagef("--min-age: %v", err)
		}
		p.MinAge = d
	}
	if set("approve") {
		p.Approve = nonEmpty(pf.approve)
	}
	if set("reject") {
		p.Reject = nonEmpty(pf.reject)
	}
	if set("approve-kev") {
		p.ApproveKEV = pf.approveKEV
	}
	return nil
}

func nonEmpty(list []string) []string {
	out := []string{}
	for _, s := range list {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (e *env) policiesCreateCommand() *cobra.Command {
	var pf policyFlags
	cmd := &cobra.Command{
		Use:     "create NAME",
		Short:   "Create a patch policy",
		Example: "  patchbay policies create prod --classification security --min-severity medium --min-age 7d \\\n    --approve-kev --reject 'linux-image-*' --description 'production baseline'",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, c, err := e.connect()
			if err != nil {
				return err
			}
			pol := patchbay.Policy{Name: args[0]}
			if err := pf.apply(cmd.Flags(), &pol, true); err != nil {
				return err
			}
			out, err := c.CreatePolicy(cmd.Context(), pol)
			if err != nil {
				return err
			}
			return printPolicy(p, out)
		},
	}
	pf.register(cmd.Flags())
	return cmd
}

func (e *env) policiesEditCommand() *cobra.Command {
	var pf policyFlags
	cmd := &cobra.Command{
		Use:   "edit NAME",
		Short: "Change the rules given as flags; the others stay (approved rollouts keep their frozen plans)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, c, err := e.connect()
			if err != nil {
				return err
			}
			if !pf.anyChanged(cmd.Flags()) {
				return usagef("give the rules to change (see patchbay policies edit --help)")
			}
			pol, err := c.Policy(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if err := pf.apply(cmd.Flags(), &pol, false); err != nil {
				return err
			}
			out, err := c.UpdatePolicy(cmd.Context(), pol)
			if err != nil {
				return err
			}
			return printPolicy(p, out)
		},
	}
	pf.register(cmd.Flags())
	return cmd
}

func (e *env) policiesListCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List patch policies",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, c, err := e.connect()
			if err != nil {
				return err
			}
			list, err := c.ListPolicies(cmd.Context())
			if err != nil {
				return err
			}
			return p.print(list, []string{"NAME", "CLASSIFICATION", "MIN SEVERITY", "MIN AGE", "APPROVE", "REJECT", "KEV", "DESCRIPTION"}, func() [][]string {
				var rows [][]string
				for _, pol := range list {
					desc := pol.Description
					if pol.Builtin {
						desc += " (built in)"
					}
					rows = append(rows, []string{pol.Name, pol.Classification, dash(string(pol.MinSeverity)), patchbay.FormatDuration(pol.MinAge),
						dash(strings.Join(pol.Approve, " ")), dash(strings.Join(pol.Reject, " ")), yesNo(pol.ApproveKEV), dash(desc)})
				}
				return rows
			})
		},
	}
}

func (e *env) policiesShowCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME",
		Short: "Show a patch policy's rules",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, c, err := e.connect()
			if err != nil {
				return err
			}
			pol, err := c.Policy(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return printPolicy(p, pol)
		},
	}
}

func printPolicy(p printer, pol patchbay.Policy) error {
	if p.format == "json" {
		return p.print(pol, nil, nil)
	}
	w := p.w
	fmt.Fprintf(w, "policy %s", pol.Name)
	if pol.Builtin {
		fmt.Fprint(w, " (built in)")
	}
	fmt.Fprintln(w)
	if pol.Description != "" {
		fmt.Fprintf(w, "  description:     %s\n", pol.Description)
	}
	fmt.Fprintf(w, "  classification:  %s\n", pol.Classification)
	fmt.Fprintf(w, "  min severity:    %s\n", dash(string(pol.MinSeverity)))
	fmt.Fprintf(w, "  min age:         %s\n", patchbay.FormatDuration(pol.MinAge))
	fmt.Fprintf(w, "  approve:         %s\n", dash(strings.Join(pol.Approve, " ")))
	fmt.Fprintf(w, "  reject:          %s\n", dash(strings.Join(pol.Reject, " ")))
	fmt.Fprintf(w, "  approve KEV:     %s\n", yesNo(pol.ApproveKEV))
	if !pol.Builtin {
		fmt.Fprintf(w, "  created:         %s by %s\n", pol.CreatedAt.Local().Format("2006-01-02 15:04"), pol.CreatedBy)
		fmt.Fprintf(w, "  updated:         %s by %s\n", pol.UpdatedAt.Local().Format("2006-01-02 15:04"), pol.UpdatedBy)
	}
	return nil
}
