package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/pki"
	"github.com/patchbay/patchbay/internal/server"
	"github.com/patchbay/patchbay/internal/service"
	"github.com/patchbay/patchbay/internal/sqlite"
)

// serverFlags configure a server, for `patchbay server` and `patchbay up`.
type serverFlags struct {
	listen  string
	dataDir string
	tlsCert string
	tlsKey  string
	tlsCA   string
	sans    []string
	// resetAdminPassword gives the web UI's admin user a new password,
	// printed once, and ends its sessions.
	resetAdminPassword bool
	feedInterval       time.Duration // how often each advisory feed source is synced
	// dormantAfter and retireAfter are the host lifecycle's periods
	// ("14d" or a duration).
	dormantAfter, retireAfter string
	// sla is the remediation clock of the SLA report
	// ("kev=7d,critical=15d,...", over patchbay.DefaultSLA).
	sla string
	// announceBefore is how long before a window opens a rollout waiting
	// for it is announced (0: never).
	announceBefore time.Duration
}

func (f *serverFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.listen, "listen", "127.0.0.1:8080", "address to listen on (HTTPS)")
	fl.StringVar(&f.dataDir, "data", "./patchbay-data", "data directory: database, CA, admin token")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "serving certificate (PEM, leaf first); default: one issued by the server's own CA")
	fl.StringVar(&f.tlsKey, "tls-key", "", "key of --tls-cert")
	fl.StringVar(&f.tlsCA, "tls-ca", "", "CA certificate agents pin when --tls-cert is given (default: last certificate in --tls-cert)")
	fl.StringArrayVar(&f.sans, "tls-san", nil, "extra host name or IP address for the generated serving certificate (repeatable)")
	fl.DurationVar(&f.feedInterval, "feed-interval", service.DefaultFeedInterval, "how often the server syncs each advisory feed source (patchbay advisories sources)")
	fl.StringVar(&f.dormantAfter, "dormant-after", "14d", "a host unseen this long is dormant (days like 14d, or a duration)")
	fl.StringVar(&f.retireAfter, "retire-after", "90d", "a host unseen this long is proposed for retirement in the dormant report")
	fl.StringVar(&f.sla, "sla", patchbay.DefaultSLA.String(), "remediation clock of the SLA report: days from first seen to fixed per class (kev, critical, high, medium, low, unknown; none: no clock)")
	fl.DurationVar(&f.announceBefore, "announce-before", service.DefaultAnnounceBefore, "announce a rollout waiting for its maintenance window this long before it opens, in its log and to webhooks (0: never)")
	fl.BoolVar(&f.resetAdminPassword, "reset-admin-password", false, "give the web UI's admin user a new password (printed once) and sign it out everywhere")
}

// runningServer is a started server with what `up` needs from it.
type runningServer struct {
	srv        *server.Server
	svc        *service.Service
	store      patchbay.Store
	bundle     pki.Bundle
	adminToken string
	// adminPassword is the web UI's admin password when this start created
	// or reset it (shown once), else "".
	adminPassword string
	url           string
	// stopLoops ends the background loops (feed sync, scheduler,
	// changelog sweep); loops counts them, so that stop closes the
	// database only after the last one returned.
	stopLoops context.CancelFunc
	loops     *sync.WaitGroup
}

const adminTokenFile = "admin-token"

// startServer opens the store, makes or loads the PKI and the admin token,
// and starts serving.
func startServer(ctx context.Context, f serverFlags, logger *slog.Logger) (*runningServer, error) {
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return nil, usagef("--tls-cert and --tls-key go together")
	}
	host, port, err := net.SplitHostPort(f.listen)
	if err != nil {
		return nil, usagef("--listen %q: want host:port", f.listen)
	}
	var life patchbay.Lifecycle
	if life.DormantAfter, err = parseDays("dormant-after", f.dormantAfter); err != nil {
		return nil, err
	}
	if life.RetireAfter, err = parseDays("retire-after", f.retireAfter); err != nil {
		return nil, err
	}
	if err := life.Validate(); err != nil {
		return nil, usagef("%s", patchbay.ErrorMessage(err))
	}
	sla, err := patchbay.ParseSLA(f.sla)
	if err != nil {
		return nil, usagef("--%s", patchbay.ErrorMessage(err))
	}
	if err := os.MkdirAll(f.dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	var bundle pki.Bundle
	if f.tlsCert != "" {
		bundle, err = pki.UserSupplied(f.tlsCert, f.tlsKey, f.tlsCA)
	} else {
		bundle, err = pki.Ensure(filepath.Join(f.dataDir, "pki"), serverNames(host, f.sans), time.Now())
	}
	if err != nil {
		return nil, err
	}
	store, err := sqlite.Open(ctx, filepath.Join(f.dataDir, "patchbay.db"), logger)
	if err != nil {
		return nil, err
	}
	svc := service.New(store, service.Options{Logger: logger, CAHash: bundle.CAHash, Lifecycle: life, SLA: &sla,
		AnnounceBefore: cmp.Or(f.announceBefore, -1)})
	admin, err := ensureAdminToken(ctx, svc, filepath.Join(f.dataDir, adminTokenFile))
	if err != nil {
		store.Close()
		return nil, err
	}
	password, err := svc.EnsureAdminUser(ctx)
	if err == nil && password == "" && f.resetAdminPassword {
		password, err = svc.ResetPassword(ctx, service.AdminUsername)
	}
	if err != nil {
		store.Close()
		return nil, err
	}
	srv, err := server.Start(f.listen, bundle, svc, logger)
	if err != nil {
		store.Close()
		return nil, err
	}
	loopCtx, stopLoops := context.WithCancel(ctx)
	loops := &sync.WaitGroup{}
	loops.Go(func() { svc.RunFeedSync(loopCtx, service.FeedSyncOptions{Every: f.feedInterval}) })
	loops.Go(func() { svc.RunScheduler(loopCtx, 5*time.Second) }) // rollouts: ticks, and at once after a job result
	loops.Go(func() { svc.RunChangelogSweep(loopCtx, service.DefaultChangelogSweep) })
	loops.Go(func() { svc.RunNotifier(loopCtx, 2*time.Second) }) // webhooks
	urlHost := host
	if urlHost == "" || urlHost == "0.0.0.0" || urlHost == "::" {
		urlHost = "127.0.0.1"
	}
	if port == "0" {
		_, port, _ = net.SplitHostPort(srv.Addr().String())
	}
	return &runningServer{srv: srv, svc: svc, store: store, bundle: bundle, adminToken: admin, adminPassword: password,
		url: "https://" + net.JoinHostPort(urlHost, port), stopLoops: stopLoops, loops: loops}, nil
}

// signInHelp tells how to reach the web UI; it shows the admin password
// only on the start that created or reset it.
func signInHelp(rs *runningServer) string {
	msg := fmt.Sprintf("Web UI: %s/ (the browser will warn about the server's own CA; its SHA-256 is %s)\n", rs.url, rs.bundle.CAHash)
	if rs.adminPassword != "" {
		return msg + fmt.Sprintf("  sign in as %q with password %s\n  (shown only this once; stored hashed; start with --reset-admin-password for a new one)\n",
			service.AdminUsername, rs.adminPassword)
	}
	return msg + fmt.Sprintf("  sign in as %q with the password printed when this data directory was first used\n  (lost it? start with --reset-admin-password)\n", service.AdminUsername)
}

// stop shuts the server down gracefully, stops the background loops and
// waits for them (a feed download in flight is cancelled), then closes
// the store: nothing uses the database after it closed.
func (r *runningServer) stop(logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	r.svc.EndPolls() // agents' long polls answer now, not in up to 60 s
	if err := r.srv.Shutdown(ctx); err != nil {
		logger.Error("server shutdown", "err", err)
	}
	r.stopLoops()
	r.loops.Wait()
	if err := r.store.Close(); err != nil {
		logger.Error("close database", "err", err)
	}
}

// serverNames are the names the generated certificate covers.
func serverNames(listenHost string, extra []string) []string {
	names := []string{"localhost", "127.0.0.1", "::1"}
	if h, err := os.Hostname(); err == nil && h != "" {
		names = append(names, h)
	}
	if listenHost != "" && listenHost != "0.0.0.0" && listenHost != "::" {
		names = append(names, listenHost)
	}
	if listenHost == "0.0.0.0" || listenHost == "::" || listenHost == "" {
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range addrs {
				if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLinkLocalUnicast() {
					names = append(names, ipn.IP.String())
				}
			}
		}
	}
	names = append(names, extra...)
	seen := map[string]bool{}
	out := names[:0]
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// ensureAdminToken returns the admin token saved in path if the server
// still accepts it, or makes a new one and saves it (mode 0600).
func ensureAdminToken(ctx context.Context, svc *service.Service, path string) (string, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		tok := strings.TrimSpace(string(data))
		if _, err := svc.Authenticate(ctx, tok); err == nil {
			return tok, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read admin token: %w", err)
	}
	tok, err := svc.CreateAdminToken(ctx, "admin")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("save admin token: %w", err)
	}
	return tok, nil
}

func (e *env) serverCommand() *cobra.Command {
	var f serverFlags
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the Patchbay server (HTTPS API)",
		Long: `Run the Patchbay server. On first start it creates, in the data directory, a
database, its own CA and serving certificate, and an admin API token
(DATA/admin-token, mode 0600), and the web UI's "admin" user, whose password
it prints once. Stop it with Ctrl-C or SIGTERM: requests in
flight finish before it exits.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			logger := e.logger()
			rs, err := startServer(cmd.Context(), f, logger)
			if err != nil {
				return err
			}
			logger.Info("patchbay server listening", "url", rs.url, "data", f.dataDir, "ca_sha256", rs.bundle.CAHash,
				"admin_token_file", filepath.Join(f.dataDir, adminTokenFile))
			fmt.Fprint(e.stderr, signInHelp(rs))
			select {
			case <-cmd.Context().Done():
				logger.Info("shutting down")
			case err = <-rs.srv.Done():
			}
			rs.stop(logger)
			return err
		},
	}
	f.register(cmd)
	return cmd
}
