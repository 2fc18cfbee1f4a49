package cli

import (
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/lab"
	"github.com/patchbay/patchbay/internal/service"
)

// labCommand is the hidden developer entry point to the test lab: a fleet
// of real Debian hosts on this machine running this binary as their agent.
func (e *env) labCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:    "lab",
		Short:  "Developer lab: a fleet of real Debian hosts on this machine (needs root)",
		Hidden: true,
	}
	cmd.AddCommand(e.labUpCommand(), e.labDownCommand(), e.labListCommand(), e.labShellCommand())
	return cmd
}

func (e *env) labUpCommand() *cobra.Command {
	var (
		name              string
		port              int
		interval, refresh time.Duration
		noMirror          bool
	)
	cmd := &cobra.Command{
		Use:   "up N",
		Short: "Run a server and N lab hosts with agents, until Ctrl-C",
		Long: `Run a Patchbay server in this process and N Debian hosts (h1 ... hN) whose
agent is this very binary, enrolled with the server. The server's data and a
client config live in the lab's directory and go away with the lab.
It stays in the foreground; Ctrl-C or SIGTERM (also 'patchbay lab down NAME'
from another terminal) tears everything down.

The binary is bind-mounted into the hosts as their agent: build it static
(CGO_ENABLED=0) if the hosts' glibc differs from this machine's.`,
		Example: `  sudo go run ./cmd/patchbay lab up 3
  patchbay --config /var/tmp/patchbay-lab/pblab-NAME/client.json hosts list`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.Atoi(args[0])
			if err != nil || n < 1 || n > 50 {
				return usagef("N %q: want a number of hosts from 1 to 50", args[0])
			}
			if port < 0 || port > 65535 {
				return usagef("--server-port %d: want 0-65535", port)
			}
			if interval < time.Second || refresh < 0 {
				return usagef("--agent-interval must be at least 1s and --agent-refresh-interval not negative")
			}
			return e.labUp(cmd.Context(), n, name, port, interval, refresh, noMirror)
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "lab name (1-12 of [a-z0-9]; default random)")
	f.IntVar(&port, "server-port", 0, "server port on 127.0.0.1, relayed to the hosts at "+lab.RepoIP+" (0: a free one)")
	f.DurationVar(&interval, "agent-interval", 10*time.Second, "check-in interval of the hosts' agents")
	f.DurationVar(&refresh, "agent-refresh-interval", 0, "package-index refresh interval of the agents (0: every check-in; the lab repository is local)")
	f.BoolVar(&noMirror, "no-mirror", false, "skip the mirror step: hosts see no real Debian updates, and the Debian mirror is not needed")
	return cmd
}

func (e *env) labUp(ctx context.Context, n int, name string, port int, interval, refresh time.Duration, noMirror bool) (err error) {
	logger := e.logger()
	if err := lab.Preflight(); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find this binary: %w", err)
	}
	if dynamicallyLinked(exe) {
		logger.Warn("this binary is dynamically linked; if the agents fail to start in the hosts, build it with CGO_ENABLED=0", "binary", exe)
	}
	if err := lab.CleanStale(ctx, logger); err != nil {
		return err
	}
	start := time.Now()
	l, err := lab.New(ctx, lab.Options{Name: name, AgentBinary: exe, NoMirror: noMirror, Logger: logger})
	if l != nil {
		defer func() {
			if cerr := l.Close(); cerr != nil {
				err = errors.Join(err, fmt.Errorf("close lab: %w", cerr))
			}
		}()
	}
	if err != nil {
		return err
	}

	// The server lives in the root namespace; hosts reach it through the
	// lab's relay at RepoIP, which its certificate must name.
	sf := serverFlags{
		listen:  net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		dataDir: filepath.Join(l.Dir(), "server"),
		sans:    []string{lab.RepoIP},
	}
	rs, err := startServer(ctx, sf, logger)
	if err != nil {
		return err
	}
	// Deferred after Close, so it runs first: the database is closed
	// before Close removes the lab's directory.
	defer rs.stop(logger)
	_, portStr, _ := net.SplitHostPort(strings.TrimPrefix(rs.url, "https://"))
	port, _ = strconv.Atoi(portStr)
	agentURL, err := l.ExposeTCP(ctx, net.JoinHostPort("127.0.0.1", portStr), port)
	if err != nil {
		return err
	}
	token, err := labEnrollToken(ctx, rs, l.Name(), n)
	if err != nil {
		return err
	}
	argv := []string{lab.AgentPath, "agent", "--server", "https://" + agentURL, "--token", token,
		"--state-dir", "/var/lib/patchbay-agent", "--interval", interval.String(), "--refresh-interval", refresh.String()}
	for i := 1; i <= n; i++ {
		h, err := l.AddHost(ctx, fmt.Sprintf("h%d", i))
		if err != nil {
			return err
		}
		if err := h.Start(ctx, argv, nil); err != nil {
			return err
		}
	}
	cfgPath := filepath.Join(l.Dir(), "client.json")
	if err := writeClientConfig(cfgPath, clientConfig{Server: rs.url, Token: rs.adminToken, CAPEM: string(rs.bundle.CAPEM)}); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, `
Lab %s is up in %s: %d hosts (h1 ... h%d), agents every %s.
  server:          %s (hosts see it as https://%s)
  client config:   %s
  lab repository:  %s (hosts: deb [trusted=yes] http://%s/%s ./)
  agent logs:      %s/hosts/HOST/main.log
Try, in another terminal:
  patchbay --config %s hosts list
  patchbay lab shell %s h1
Ctrl-C (or 'patchbay lab down %s') tears it all down.
`, l.Name(), time.Since(start).Round(time.Millisecond), n, n, interval, rs.url, agentURL, cfgPath,
		l.Repo().Dir(), lab.RepoIP, lab.LabSuite, l.Dir(), cfgPath, l.Name(), l.Name())

	select {
	case <-ctx.Done():
		logger.Info("tearing the lab down", "lab", l.Name())
		return nil
	case err := <-rs.srv.Done():
		return err
	}
}

// labEnrollToken makes an enrolment token for the lab's n hosts through the
// service, as the admin.
func labEnrollToken(ctx context.Context, rs *runningServer, labName string, n int) (string, error) {
	admin, err := rs.svc.Authenticate(ctx, rs.adminToken)
	if err != nil {
		return "", err
	}
	tok, _, err := rs.svc.CreateEnrollToken(patchbay.NewContext(ctx, admin), service.NewEnrollToken{
		TTL: time.Hour, MaxUses: n, Labels: map[string]string{"lab": labName},
	})
	return tok, err
}

// dynamicallyLinked reports whether the ELF file at path asks for a
// dynamic loader.
func dynamicallyLinked(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return true
		}
	}
	return false
}

func (e *env) labDownCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "down [NAME]",
		Short: "Tear down a lab (every lab on this machine without NAME)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			logger := e.logger()
			names := args
			if len(names) == 0 {
				states, err := lab.List()
				if err != nil {
					return err
				}
				for _, st := range states {
					names = append(names, st.Name)
				}
			}
			var errs []error
			for _, name := range names {
				if err := lab.Down(cmd.Context(), logger, name); err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintf(e.stderr, "lab %s is down\n", name)
			}
			// Leftovers of killed runs (no state file) go too.
			if len(args) == 0 {
				errs = append(errs, lab.CleanStale(cmd.Context(), logger))
			}
			return errors.Join(errs...)
		},
	}
}

func (e *env) labListCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the labs on this machine",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := e.printer()
			if err != nil {
				return err
			}
			states, err := lab.List()
			if err != nil {
				return err
			}
			now := time.Now()
			return p.print(states, []string{"NAME", "OWNER", "STATUS", "HOSTS", "CREATED", "DIR"}, func() [][]string {
				var rows [][]string
				for _, st := range states {
					status := "running"
					if !st.Alive() {
						status = "stale"
					}
					var hosts []string
					for _, h := range st.Hosts {
						hosts = append(hosts, h.Name)
					}
					rows = append(rows, []string{st.Name, strconv.Itoa(st.OwnerPID), status, dash(strings.Join(hosts, ",")), ago(st.Created, now), st.Dir})
				}
				return rows
			})
		},
	}
}

func (e *env) labShellCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "shell LAB HOST [-- COMMAND...]",
		Short: "Open a shell (or run a command) inside a running lab host",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			argv, err := lab.EnterCommand(cmd.Context(), args[0], args[1], args[2:]...)
			if err != nil {
				return err
			}
			path, err := exec.LookPath(argv[0])
			if err != nil {
				return err
			}
			// Replace this process, so the terminal (and Ctrl-C) belong to
			// the shell alone.
			return syscall.Exec(path, argv, os.Environ())
		},
	}
}
