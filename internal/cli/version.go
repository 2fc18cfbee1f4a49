package cli

import (
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// buildVersion describes this binary from the module and VCS data Go
// embeds at build time.
func buildVersion() string {
	v := "dev"
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if info.Main.Version != "" && info.Main.Version != "(devel)" {
		v = info.Main.Version
	}
	var rev, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev != "" {
		v += " (" + rev + dirty + ")"
	}
	return v
}

func (e *env) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := e.printer()
			if err != nil {
				return err
			}
			v := map[string]string{"version": buildVersion(), "go": runtime.Version(), "os_arch": runtime.GOOS + "/" + runtime.GOARCH}
			return p.print(v, []string{"VERSION", "GO", "OS/ARCH"}, func() [][]string {
				return [][]string{{v["version"], v["go"], v["os_arch"]}}
			})
		},
	}
}
