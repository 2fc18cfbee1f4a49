package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/patchbay/patchbay/internal/client"
)

// printer writes a command's result as a table or as JSON.
type printer struct {
	w      io.Writer
	format string
}

func (e *env) printer() (printer, error) {
	switch e.output {
	case "table", "json":
		return printer{w: e.stdout, format: e.output}, nil
	}
	return printer{}, usagef("--output %q: want table or json", e.output)
}

// print writes v as JSON, or as a table with header and rows built by
// the caller.
func (p printer) print(v any, header []string, rows func() [][]string) error {
	if p.format == "json" {
		enc := json.NewEncoder(p.w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	return p.table(header, rows())
}

// table writes header and rows aligned.
func (p printer) table(header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(p.w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// ago renders a time for tables: "3m ago", "never".
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// connect returns the output printer and an API client: what every read
// command needs first. The output format is checked before anything is
// sent, so `-o yaml` is a usage error even without a server.
func (e *env) connect() (printer, *client.Client, error) {
	p, err := e.printer()
	if err != nil {
		return printer{}, nil, err
	}
	c, err := e.apiClient()
	if err != nil {
		return printer{}, nil, err
	}
	return p, c, nil
}
