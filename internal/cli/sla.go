package cli

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchbay/patchbay"
)

func (e *env) vulnsSLACommand() *cobra.Command {
	var since, sla string
	var all bool
	cmd := &cobra.Command{
		Use:   "sla",
		Short: "Report the remediation SLA: open findings due and overdue by class, time to fix, overdue findings by owner",
		Long: `Each open finding has a clock from the day it was first seen: KEV findings
7 days, critical 15, high 30, medium 90, low 180, and findings no source
rated (most of Debian's) 90, unless the server says otherwise (patchbay
server --sla; "unknown=none" leaves unrated findings off the clock). A
finding an exception covers is listed apart and is not overdue. Time to
fix covers the findings resolved within --since. Retired hosts are left
out.`,
		Example: `  patchbay vulns sla
  patchbay vulns sla --since 30d --sla critical=7d,high=14d   # what if the clocks were shorter
  patchbay vulns sla -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, c, err := e.connect()
			if err != nil {
				return err
			}
			rep, err := c.SLAReport(cmd.Context(), since, sla)
			if err != nil {
				return err
			}
			if p.format == "json" {
				return p.print(rep, nil, nil)
			}
			return printSLA(p, rep, all)
		},
	}
	cmd.Flags().StringVar(&since, "since", "", "time to fix covers findings resolved within this (default 90d)")
	cmd.Flags().StringVar(&sla, "sla", "", "what-if clocks over the server's, e.g. critical=7d,high=14d,low=none")
	cmd.Flags().BoolVar(&all, "all", false, "list every overdue finding (default: the 20 most overdue)")
	return cmd
}

// slaListed is how many overdue findings the table shows without --all.
const slaListed = 20

func printSLA(p printer, rep patchbay.SLAReport, all bool) error {
	clock := func(d time.Duration) string {
		if d == 0 {
			return "none"
		}
		return patchbay.FormatDuration(d)
	}
	days := patchbay.FormatDays
	var rows [][]string
	for _, o := range rep.Open {
		rows = append(rows, []string{o.Class, clock(o.Clock), strconv.Itoa(o.Open), strconv.Itoa(o.Within), strconv.Itoa(o.DueSoon),
			strconv.Itoa(o.Overdue), strconv.Itoa(o.Excepted), strconv.Itoa(o.NoClock)})
	}
	fmt.Fprintf(p.w, "Open findings (compliance %.1f%%: not overdue, of those with a clock and no exception)\n", rep.Compliance)
	if err := p.table([]string{"CLASS", "CLOCK", "OPEN", "WITHIN", "DUE SOON", "OVERDUE", "EXCEPTED", "NO CLOCK"}, rows); err != nil {
		return err
	}
	rows = nil
	for _, x := range rep.Fixed {
		if x.Fixed == 0 {
			rows = append(rows, []string{x.Class, clock(x.Clock), "0", "-", "-", "-", "-"})
			continue
		}
		rows = append(rows, []string{x.Class, clock(x.Clock), strconv.Itoa(x.Fixed), days(x.Median), days(x.P90), days(x.Max),
			fmt.Sprintf("%d (%.0f%%)", x.Within, 100*float64(x.Within)/float64(x.Fixed))})
	}
	fmt.Fprintf(p.w, "\nTime to fix, findings resolved since %s\n", rep.Since.UTC().Format(time.DateOnly))
	if err := p.table([]string{"CLASS", "CLOCK", "FIXED", "MEDIAN", "P90", "MAX", "WITHIN SLA"}, rows); err != nil {
		return err
	}
	overdue := rep.Overdue
	if !all && len(overdue) > slaListed {
		overdue = overdue[:slaListed]
	}
	fmt.Fprintf(p.w, "\nOverdue findings, most overdue first (%d)\n", len(rep.Overdue)+rep.Truncated)
	rows = nil
	for _, o := range overdue {
		rows = append(rows, []string{o.Hostname, dash(o.Owner), o.Package, dash(o.FixedVersion), o.AdvisoryID, o.Class,
			o.Due.UTC().Format(time.DateOnly), days(o.OverdueBy)})
	}
	if err := p.table([]string{"HOST", "OWNER", "PACKAGE", "FIXED IN", "ADVISORY", "CLASS", "DUE", "OVERDUE BY"}, rows); err != nil {
		return err
	}
	if n := len(rep.Overdue) + rep.Truncated - len(overdue); n > 0 {
		fmt.Fprintf(p.w, "... and %d more (--all, or -o json)\n", n)
	}
	if len(rep.ByOwner) > 0 {
		fmt.Fprintln(p.w, "\nOverdue by owner")
		rows = nil
		for _, o := range rep.ByOwner {
			rows = append(rows, []string{dash(o.Owner), strconv.Itoa(o.Hosts), strconv.Itoa(o.Overdue)})
		}
		if err := p.table([]string{"OWNER", "HOSTS", "OVERDUE"}, rows); err != nil {
			return err
		}
	}
	if len(rep.Excepted) > 0 {
		fmt.Fprintf(p.w, "\nCovered by an exception, not counted as overdue (%d)\n", len(rep.Excepted))
		rows = nil
		for _, o := range rep.Excepted {
			due := "-"
			if !o.Due.IsZero() {
				due = o.Due.UTC().Format(time.DateOnly)
			}
			rows = append(rows, []string{o.Hostname, o.Package, o.AdvisoryID, o.Class, due, "#" + strconv.FormatInt(o.ExceptionID, 10)})
		}
		if err := p.table([]string{"HOST", "PACKAGE", "ADVISORY", "CLASS", "DUE", "EXCEPTION"}, rows); err != nil {
			return err
		}
	}
	return nil
}
