// Package cli is Patchbay's command line: one file per subcommand. It is
// the one place that builds concrete stores, servers and agents and wires
// them together.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/patchbay/patchbay"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// usageError marks errors in how the command was called (exit code 2).
type usageError struct{ error }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// env holds what every command needs: streams and global flags.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	configPath     string
	server         string
	token          string
	output         string
	logLevel       string
}

// Run runs the CLI with args and returns the process exit code.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	root := e.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ue usageError
	if errors.As(err, &ue) || isCobraUsage(err) {
		fmt.Fprintf(stderr, "error: %v\nRun 'patchbay --help' for usage.\n", err)
		return exitUsage
	}
	fmt.Fprintf(stderr, "error: %s\n", describe(err))
	return exitError
}

// describe prints API errors by their message only: the code is for
// machines.
func describe(err error) string {
	var pe *patchbay.Error
	if errors.As(err, &pe) {
		msg := err.Error()
		// Keep any context added around the API error but drop "code: ".
		return strings.Replace(msg, pe.Code+": ", "", 1)
	}
	return err.Error()
}

// cobra reports flag and argument problems as plain errors; recognise them.
func isCobraUsage(err error) bool {
	s := err.Error()
	for _, p := range []string{"unknown flag", "unknown shorthand flag", "unknown command", "flag needs an argument", "invalid argument", "accepts ", "requires at least", "requires at most", "required flag"} {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

func (e *env) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "patchbay",
		Short: "Self-hosted server patch management: server, agent and CLI in one binary",
		Long: `Patchbay knows what runs on every server, which updates are pending (security ones
marked), what changed and when.

Start here:
  patchbay up                 run a server with a local agent on this machine
  patchbay hosts list         in another terminal: see the machine and its updates`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.StringVar(&e.configPath, "config", "", "client config file (default $XDG_CONFIG_HOME/patchbay/config.json; env PATCHBAY_CONFIG)")
	pf.StringVar(&e.server, "server", "", "server URL (env PATCHBAY_SERVER)")
	pf.StringVar(&e.token, "token", "", "API token (env PATCHBAY_TOKEN)")
	pf.StringVarP(&e.output, "output", "o", "table", "output format: table or json")
	pf.StringVar(&e.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	root.AddCommand(
		e.upCommand(),
		e.serverCommand(),
		e.agentCommand(),
		chrootExecCommand(),
		e.hostsCommand(),
		e.tokensCommand(),
		e.advisoriesCommand(), e.vulnsCommand(),
		e.rolloutsCommand(), e.policiesCommand(), e.exceptionsCommand(), e.blockCommand(), e.disruptionCommand(), e.webhooksCommand(),
		e.versionCommand(),
		e.labCommand(),
	)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	return root
}

func (e *env) logger() *slog.Logger {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(e.logLevel)); err != nil {
		lvl = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: lvl}))
}

// getenv is a seam for flags > environment > file resolution.
func getenv(k string) string { return os.Getenv(k) }
