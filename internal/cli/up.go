package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/agent"
	"github.com/patchbay/patchbay/internal/service"
)

func (e *env) upCommand() *cobra.Command {
	var (
		f                 serverFlags
		interval, refresh time.Duration
		noAgent           bool
	)
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run a server with a local agent for this machine (the quick start)",
		Long: `Run a Patchbay server on embedded SQLite with an agent for this machine.

On first start it creates the data directory (database, CA, admin token,
the web UI's "admin" user with a password printed once),
enrols this machine, and writes a client config for the current user
($XDG_CONFIG_HOME/patchbay/config.json, else ~/.config/patchbay/config.json,
mode 0600) so that 'patchbay hosts list' in another terminal just works.
Running it again on the same data directory reuses all of it. Ctrl-C stops
it gracefully.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			logger := e.logger()
			rs, err := startServer(ctx, f, logger)
			if err != nil {
				return err
			}
			defer rs.stop(logger)

			cfgPath, err := e.configFile()
			if err != nil {
				return err
			}
			if err := writeClientConfig(cfgPath, clientConfig{Server: rs.url, Token: rs.adminToken, CAPEM: string(rs.bundle.CAPEM)}); err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "Patchbay is running at %s\n  data:          %s\n  client config: %s\n  admin token:   %s\nIn another terminal: patchbay hosts list\n",
				rs.url, f.dataDir, cfgPath, filepath.Join(f.dataDir, adminTokenFile))
			fmt.Fprint(e.stderr, signInHelp(rs))

			agentDone := make(chan error, 1)
			if noAgent {
				agentDone = nil
			} else {
				stateDir := filepath.Join(f.dataDir, "agent")
				token, err := localEnrollToken(ctx, rs, stateDir)
				if err != nil {
					return err
				}
				col, err := newCollector("/", logger)
				if err != nil {
					return err
				}
				jobs, err := newJobExecutor(col.Manager, jobOptions{stateDir: stateDir, rebootCommand: []string{"systemctl", "reboot"}, ownUnit: "patchbay.service"})
				if err != nil {
					return err
				}
				go func() {
					agentDone <- agent.Run(ctx, agent.Config{
						Server: rs.url, Token: token, StateDir: stateDir,
						Interval: interval, RefreshInterval: refresh,
						AgentVersion: buildVersion(), Collector: col, Logger: logger.With("component", "agent"),
						Jobs: jobs,
					})
				}()
			}
			select {
			case <-ctx.Done():
				logger.Info("shutting down")
				if agentDone != nil {
					<-agentDone
				}
				return nil
			case err := <-rs.srv.Done():
				return err
			case err := <-agentDone:
				if err != nil {
					return fmt.Errorf("local agent: %w", err)
				}
				return nil
			}
		},
	}
	f.register(cmd)
	fl := cmd.Flags()
	fl.DurationVar(&interval, "agent-interval", 5*time.Minute, "check-in interval of the local agent")
	fl.DurationVar(&refresh, "agent-refresh-interval", time.Hour, "package-index refresh interval of the local agent (0: every check-in)")
	fl.BoolVar(&noAgent, "no-agent", false, "do not run a local agent")
	return cmd
}

// localEnrollToken returns a single-use enrolment token for the local
// agent, or "" when the agent's saved credential still works.
func localEnrollToken(ctx context.Context, rs *runningServer, stateDir string) (string, error) {
	if cred, ok := agent.SavedCredential(stateDir, rs.url); ok {
		if p, err := rs.svc.Authenticate(ctx, cred); err == nil && p.Kind == patchbay.PrincipalHost {
			return "", nil
		}
	}
	admin, err := rs.svc.Authenticate(ctx, rs.adminToken)
	if err != nil {
		return "", err
	}
	tok, _, err := rs.svc.CreateEnrollToken(patchbay.NewContext(ctx, admin), service.NewEnrollToken{TTL: 10 * time.Minute, MaxUses: 1, Labels: map[string]string{"enrolled-by": "up"}})
	return tok, err
}
