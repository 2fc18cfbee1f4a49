package cli

import (
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchbay/patchbay/internal/agent"
	"github.com/patchbay/patchbay/internal/agent/job"
)

func (e *env) agentCommand() *cobra.Command {
	var (
		stateDir, root, checksFile string
		hooksFile, rebootCommand   string
		asImage                    bool
		ownUnit                    string
		interval, refresh          time.Duration
		once, jobs                 bool
		img                        imageOptions
	)
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the agent on this host: enrol, then report inventory and updates",
		Long: `Run the Patchbay agent. The first run exchanges an enrolment token for a
per-host credential, kept in the state directory (mode 0600); later runs need
only --server. Every interval the agent checks in, and sends its full
inventory only when it changed.

Unless --jobs=false, the agent also long-polls the server for jobs (refresh,
install exact versions, run health checks) and runs them one at a time; each
job is a step machine saved in STATE_DIR/jobs, so a job interrupted by a crash
or restart is finished and reported truthfully when the agent starts again,
and a job id never runs twice. Health checks are registered in the JSON file
of --checks-file; a job can only name them. Hooks (pre-patch, post-patch,
pre-reboot to drain the host, post-reboot to restore it) are registered in the
JSON file of --hooks-file, never sent by the server. After a patch, the job
reboots the host when the rollout's reboot policy says so (never, if-required,
always) with --reboot-command, after a disruption-budget lease from the
server; the agent's next start on the new boot runs the health gates and the
post-reboot hooks.

With --root DIR and --once the agent patches an image offline (a VM or
container template that is not running): it inventories DIR (its own
dpkg database and os-release; the image's machine-id, else --machine-id), as
a host labelled kind=image and image=LABEL, then runs the install jobs the
server has approved for it, once, without waiting: apt and dpkg run chrooted
into DIR in a private mount namespace (proc, sys and dev mounted for the
command only, gone when it ends), with a policy-rc.d that lets no service
start (removed afterwards); no reboot and no health checks (the result notes
them as skipped). It reports the new inventory and exits non-zero if a job
failed. The credential stays outside the image (--state-dir).

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
			if once && filepath.Clean(root) != "/" && asImage {
				img.root, img.stateDir = root, stateDir
				img.stateDirSet = cmd.Flags().Changed("state-dir")
				return e.runImage(cmd.Context(), img, agent.Config{
					Server: server, Token: token, Interval: interval,
					AgentVersion: buildVersion(), Logger: logger,
				}, jobs)
			}
			col, err := newCollector(root, logger)
			if err != nil {
				return err
			}
			var exec *job.Executor
			if jobs && !once {
				o := jobOptions{stateDir: stateDir, checksFile: checksFile, hooksFile: hooksFile,
					rebootCommand: strings.Fields(rebootCommand), ownUnit: ownUnit}
				if exec, err = newJobExecutor(col.Manager, o); err != nil {
					return err
				}
			}
			return agent.Run(cmd.Context(), agent.Config{
				Server: server, Token: token, StateDir: stateDir,
				Interval: interval, RefreshInterval: refresh, Once: once,
				AgentVersion: buildVersion(), Collector: col, Logger: logger,
				Jobs: exec,
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&stateDir, "state-dir", "/var/lib/patchbay-agent", "where the agent keeps its credential and state (with --root and --once: default /var/lib/patchbay-agent/images/LABEL, never inside the image)")
	f.StringVar(&root, "root", "/", "inventory this root filesystem (an image or VM template) instead of the running system")
	f.DurationVar(&interval, "interval", 5*time.Minute, "time between check-ins (jittered by ±10%)")
	f.DurationVar(&refresh, "refresh-interval", time.Hour, "time between package-index refreshes (apt-get update); 0: at every check-in")
	f.BoolVar(&once, "once", false, "check in once and exit (non-zero exit status if it failed); runs no jobs, except with --root (an image: see below)")
	f.BoolVar(&jobs, "jobs", true, "run the jobs the server gives this host (rollouts); false: only report inventory")
	f.BoolVar(&asImage, "image", true, "with --root and --once: treat the root as an image (enrol it as kind=image, patch it offline); false: inventory it as a plain host")
	f.StringVar(&img.label, "image-label", "", "with --root and --once: the image's label (default: the base name of --root)")
	f.StringVar(&img.machineID, "machine-id", "", "with --root and --once: the machine id to report when the image's /etc/machine-id is empty")
	f.StringVar(&checksFile, "checks-file", "", "JSON file of the health checks jobs may run (Nagios plugins, HTTP); default: none")
	f.StringVar(&hooksFile, "hooks-file", "", "JSON file of the hooks jobs run: pre-patch, post-patch, pre-reboot (drain), post-reboot (restore); default: none")
	f.StringVar(&rebootCommand, "reboot-command", "systemctl reboot", "command that reboots this host when a job's reboot policy says so (split on spaces, no shell)")
	f.StringVar(&ownUnit, "unit", "patchbay-agent.service", "the agent's own systemd unit, never restarted for stale libraries")
	return cmd
}
