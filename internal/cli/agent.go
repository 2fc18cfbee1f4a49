package cli

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/patchbay/patchbay/internal/agent"
)

func (e *env) agentCommand() *cobra.Command {
	var (
		stateDir, root    string
		interval, refresh time.Duration
		once              bool
	)
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the agent on this host: enrol, then report inventory and updates",
		Long: `Run the Patchbay agent. The first run exchanges an enrolment token for a
per-host credential, kept in the state directory (mode 0600); later runs need
only --server. Every interval the agent checks in, and sends its full
inventory only when it changed.

--server and --token may also come from PATCHBAY_SERVER and PATCHBAY_TOKEN.`,
		Example: `  patchbay agent --server https://patchbay.example:8080 --token pbe1....
  patchbay agent --server https://patchbay.example:8080 --root /srv/images/web --once --state-dir /var/lib/patchbay-image-web`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			server, token := e.server, e.token
			if server == "" {
				server = getenv("PATCHBAY_SERVER")
			}
			if token == "" {
				token = getenv("PATCHBAY_TOKEN")
			}
			if server == "" {
				return usagef("--server is required")
			}
			if interval < time.Second || refresh < 0 {
				return usagef("--interval must be at least 1s and --refresh-interval not negative")
			}
			logger := e.logger()
			col, err := newCollector(root, logger)
			if err != nil {
				return err
			}
			return agent.Run(cmd.Context(), agent.Config{
				Server: server, Token: token, StateDir: stateDir,
				Interval: interval, RefreshInterval: refresh, Once: once,
				AgentVersion: buildVersion(), Collector: col, Logger: logger,
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&stateDir, "state-dir", "/var/lib/patchbay-agent", "where the agent keeps its credential and state")
	f.StringVar(&root, "root", "/", "inventory this root filesystem (an image or VM template) instead of the running system")
	f.DurationVar(&interval, "interval", 5*time.Minute, "time between check-ins (jittered by ±10%)")
	f.DurationVar(&refresh, "refresh-interval", time.Hour, "time between package-index refreshes (apt-get update); 0: at every check-in")
	f.BoolVar(&once, "once", false, "check in once and exit (non-zero exit status if it failed)")
	return cmd
}
