package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultWorkDir is where labs keep their per-lab directory (overlay upper
// dirs, logs, the served repository) unless Options.WorkDir says otherwise.
const DefaultWorkDir = "/var/tmp/patchbay-lab"

// Prefix starts the name of everything a lab creates on the machine:
// network namespaces pblab-NAME-srv and pblab-NAME-HOST, the directory
// WORKDIR/pblab-NAME. Stale labs are found by it.
const Prefix = "pblab-"

// repoPort is where the lab repository listens on RepoIP.
const repoPort = 80

// MirrorMaxAgeEnv names the environment variable that overrides
// DefaultMirrorMaxAge (a Go duration; "1ns" forces a new mirror step).
const MirrorMaxAgeEnv = "PATCHBAY_LAB_MIRROR_MAX_AGE"

// Options configure a lab. The zero value is a lab with no hosts.
type Options struct {
	// Name identifies the lab on the machine (1-12 of [a-z0-9]); "" picks
	// a random one.
	Name string
	// Hosts is the number of hosts Up adds, named h1 … hN.
	Hosts int
	// WorkDir is the parent of the lab's directory; "" is DefaultWorkDir.
	WorkDir string
	// CacheDir holds the base image and mirror output; "" is
	// $PATCHBAY_LAB_CACHE or DefaultCacheDir.
	CacheDir string
	// AgentBinary, when set, is bind-mounted read-only at AgentPath in
	// every host (a static binary: CGO_ENABLED=0).
	AgentBinary string
	// AgentArgs and AgentEnv make Up start AgentPath with these arguments
	// as every host's main process (when AgentBinary is set).
	AgentArgs []string
	AgentEnv  []string
	// Expose lists root-namespace addresses ("127.0.0.1:8443") that Up
	// relays at RepoIP with the same port before starting agents.
	Expose []string
	// NoMirror skips the mirror step: hosts see no real Debian updates
	// (only the lab suite), and the lab needs no mirror.
	NoMirror bool
	// MirrorMaxAge is how long the mirror step's output is reused; 0 is
	// $PATCHBAY_LAB_MIRROR_MAX_AGE or DefaultMirrorMaxAge.
	MirrorMaxAge time.Duration
	// RebootDelay is how long a host that ran RebootCommand stays down;
	// 0 is one second.
	RebootDelay time.Duration
	// StopTimeout is how long Stop waits after TERM before KILL; 0 is 10s.
	StopTimeout time.Duration
	// Logger gets the lab's progress; nil discards it.
	Logger *slog.Logger
}

var (
	labNameRE  = regexp.MustCompile(`^[a-z0-9]{1,12}$`)
	hostNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,29}$`)
)

// Lab is a running lab: a server network namespace with the lab
// repository and relays, and hosts. Close tears all of it down.
type Lab struct {
	name    string
	dir     string
	opts    Options
	log     *slog.Logger
	base    Base
	mir     Mirror
	srvNS   string
	created time.Time
	repo    *Repo
	http    *http.Server
	ctx     context.Context // ends with Close: supervisors and relays
	stop    context.CancelFunc
	wg      sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	hosts   []*Host
	relays  []*relay
	stateMu sync.Mutex
}

// Name is the lab's name.
func (l *Lab) Name() string { return l.name }

// Dir is the lab's directory (hosts' upper dirs and logs, the repository).
func (l *Lab) Dir() string { return l.dir }

// Repo is the lab repository.
func (l *Lab) Repo() *Repo { return l.repo }

// Mirror is what the mirror step found pending for the base image (empty
// with Options.NoMirror).
func (l *Lab) Mirror() Mirror { return l.mir }

// Base is the base image the hosts are overlays of.
func (l *Lab) Base() Base { return l.base }

// Hosts lists the hosts in the order they were added.
func (l *Lab) Hosts() []*Host {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*Host(nil), l.hosts...)
}

// Host finds a host by name.
func (l *Lab) Host(name string) (*Host, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, h := range l.hosts {
		if h.name == name {
			return h, nil
		}
	}
	return nil, fmt.Errorf("no host %q in lab %s", name, l.name)
}

func (l *Lab) closing() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// Up starts a lab and its hosts: New, then AddHost h1 … hN, each started
// with the agent when Options.AgentBinary is set, otherwise idle.
func Up(ctx context.Context, opts Options) (*Lab, error) {
	l, err := New(ctx, opts)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	for _, target := range opts.Expose {
		_, port, err := net.SplitHostPort(target)
		if err != nil {
			return l, fmt.Errorf("expose %s: %w", target, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return l, fmt.Errorf("expose %s: %w", target, err)
		}
		if _, err := l.ExposeTCP(ctx, target, p); err != nil {
			return l, err
		}
	}
	for i := 1; i <= opts.Hosts; i++ {
		if _, err := l.AddHost(ctx, fmt.Sprintf("h%d", i)); err != nil {
			return l, err
		}
	}
	var argv []string
	if opts.AgentBinary != "" {
		argv = append([]string{AgentPath}, opts.AgentArgs...)
	}
	errs := make(chan error, opts.Hosts)
	for _, h := range l.Hosts() {
		go func() { errs <- h.Start(ctx, argv, opts.AgentEnv) }()
	}
	var all []error
	for range l.Hosts() {
		all = append(all, <-errs)
	}
	if err := errors.Join(all...); err != nil {
		return l, err
	}
	l.log.Info("lab: hosts up", "lab", l.name, "hosts", opts.Hosts, "duration", time.Since(start).Round(time.Millisecond))
	return l, nil
}

// New starts a lab without hosts: tools, base image, mirror step, the
// server namespace and the lab repository. On error the returned lab (if
// any) must still be closed.
func New(ctx context.Context, opts Options) (*Lab, error) {
	if opts.Name == "" {
		b := make([]byte, 4)
		rand.Read(b)
		opts.Name = hex.EncodeToString(b)
	}
	if !labNameRE.MatchString(opts.Name) {
		return nil, fmt.Errorf("lab name %q: want 1-12 of [a-z0-9]", opts.Name)
	}
	if opts.WorkDir == "" {
		opts.WorkDir = DefaultWorkDir
	}
	opts.CacheDir = CacheDir(opts.CacheDir)
	if opts.MirrorMaxAge <= 0 {
		opts.MirrorMaxAge = DefaultMirrorMaxAge
		if v := os.Getenv(MirrorMaxAgeEnv); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", MirrorMaxAgeEnv, err)
			}
			opts.MirrorMaxAge = d
		}
	}
	if opts.RebootDelay <= 0 {
		opts.RebootDelay = time.Second
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.AgentBinary != "" {
		abs, err := filepath.Abs(opts.AgentBinary)
		if err != nil {
			return nil, err
		}
		if fi, err := os.Stat(abs); err != nil || !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("agent binary %s: not a file (%v)", abs, err)
		}
		opts.AgentBinary = abs
	}
	log := opts.Logger
	if err := EnsureTools(ctx, log); err != nil {
		return nil, err
	}
	lctx, stop := context.WithCancel(context.Background())
	l := &Lab{
		name:    opts.Name,
		dir:     filepath.Join(opts.WorkDir, Prefix+opts.Name),
		opts:    opts,
		log:     log,
		srvNS:   Prefix + opts.Name + "-srv",
		created: time.Now().UTC(),
		ctx:     lctx,
		stop:    stop,
	}
	if _, err := os.Stat(l.dir); err == nil {
		stop()
		return nil, fmt.Errorf("lab %s exists (%s): Down it first", l.name, l.dir)
	}
	// The state goes first, so that whatever follows can be found and
	// removed by CleanStale if this process dies.
	if err := l.saveState(); err != nil {
		stop()
		return nil, err
	}
	if err := l.setup(ctx); err != nil {
		return l, err
	}
	return l, nil
}

func (l *Lab) setup(ctx context.Context) error {
	start := time.Now()
	if err := os.MkdirAll(filepath.Join(l.dir, "hosts"), 0o755); err != nil {
		return fmt.Errorf("create lab dir: %w", err)
	}
	base, bst, err := EnsureBase(ctx, l.log, l.opts.CacheDir)
	if err != nil {
		return err
	}
	l.base = base
	repo, err := newRepo(ctx, filepath.Join(l.dir, "repo"))
	if err != nil {
		return err
	}
	l.repo = repo
	if !l.opts.NoMirror {
		mir, _, err := EnsureMirror(ctx, l.log, l.opts.CacheDir, base, l.opts.MirrorMaxAge)
		if err != nil {
			return err
		}
		l.mir = mir
		for _, a := range []string{ArchiveDebian, ArchiveSecurity, ArchiveUpdates} {
			if err := linkTree(filepath.Join(mir.Dir, a), filepath.Join(repo.dir, a)); err != nil {
				return fmt.Errorf("link mirror output: %w", err)
			}
		}
	} else if err := emptyArchives(ctx, repo.dir); err != nil {
		return err
	}
	if err := createServerNetns(ctx, l.srvNS); err != nil {
		return err
	}
	ln, err := listenInNetns(ctx, l.srvNS, net.JoinHostPort(RepoIP, strconv.Itoa(repoPort)))
	if err != nil {
		return err
	}
	l.http = &http.Server{Handler: noConditional(http.FileServer(http.Dir(repo.dir))), ReadHeaderTimeout: 10 * time.Second}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		l.http.Serve(ln)
	}()
	l.log.Info("lab: up", "lab", l.name, "dir", l.dir, "base_built", bst.Built, "duration", time.Since(start).Round(time.Millisecond))
	return nil
}

// noConditional serves every request in full: HTTP dates have a resolution
// of one second, so a file published twice within a second would otherwise
// be answered "304 Not Modified" and apt would keep the old index.
func noConditional(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, k := range []string{"If-Modified-Since", "If-None-Match", "If-Range", "If-Unmodified-Since", "If-Match"} {
			r.Header.Del(k)
		}
		w.Header().Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// emptyArchives writes the three Debian archives with empty indexes, so
// hosts' sources all resolve when there is no mirror step.
func emptyArchives(ctx context.Context, repoDir string) error {
	for _, s := range mirrorSuites() {
		dist := filepath.Join(repoDir, s.archive, "dists", s.codename)
		pkgDir := filepath.Join(dist, "main", "binary-"+debArch())
		if err := os.MkdirAll(pkgDir, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(pkgDir, "Packages"), nil, 0o644); err != nil {
			return err
		}
		rel, err := run(ctx, command{argv: releaseArgv(releaseFields{Origin: "Patchbay Lab", Label: "Patchbay-Lab-Empty",
			Suite: s.codename, Codename: s.codename, Architectures: debArch(), Components: "main"}), dir: dist})
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dist, "Release"), rel, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// AddHost creates a host (overlay, identity, network) without booting it.
func (l *Lab) AddHost(ctx context.Context, name string) (*Host, error) {
	if !hostNameRE.MatchString(name) || name == "srv" {
		return nil, fmt.Errorf("host name %q: want [a-z][a-z0-9-]{0,29}, not srv", name)
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, errors.New("add host: lab closed")
	}
	for _, h := range l.hosts {
		if h.name == name {
			l.mu.Unlock()
			return nil, fmt.Errorf("add host: %s exists", name)
		}
	}
	idx := len(l.hosts) + 1
	h := &Host{
		lab:       l,
		name:      name,
		ip:        hostIP(idx),
		netns:     Prefix + l.name + "-" + name,
		peer:      "vh" + strconv.Itoa(idx),
		dir:       filepath.Join(l.dir, "hosts", name),
		machineID: newMachineID(),
		booted:    make(chan struct{}),
	}
	h.root = filepath.Join(h.dir, "root")
	l.hosts = append(l.hosts, h)
	l.mu.Unlock()
	// Recorded before it exists, so a crash in between leaves nothing
	// unknown.
	if err := l.saveState(); err != nil {
		return nil, err
	}
	if err := h.create(ctx); err != nil {
		return nil, fmt.Errorf("add host %s: %w", name, err)
	}
	return h, nil
}

// create mounts the host's overlay, writes its identity and creates its
// network namespace.
func (h *Host) create(ctx context.Context) error {
	upper, work := filepath.Join(h.dir, "upper"), filepath.Join(h.dir, "work")
	for _, d := range []string{upper, work, h.root} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	opts := "lowerdir=" + h.lab.base.Rootfs + ",upperdir=" + upper + ",workdir=" + work
	if err := unix.Mount("overlay", h.root, "overlay", 0, opts); err != nil {
		return fmt.Errorf("mount overlay: %w", err)
	}
	root, err := os.OpenRoot(h.root)
	if err != nil {
		return err
	}
	defer root.Close()
	hosts := "127.0.0.1\tlocalhost\n127.0.1.1\t" + h.name + "\n" + RepoIP + "\tlab-server\n" +
		"::1\tlocalhost ip6-localhost ip6-loopback\n"
	files := []baseFile{
		{"/etc/hostname", 0o644, h.name + "\n"},
		{"/etc/hosts", 0o644, hosts},
		{"/etc/machine-id", 0o444, h.machineID + "\n"},
		{"/lab/init", 0o755, initScript},
		{RebootCommand, 0o755, rebootShim},
	}
	if h.lab.opts.AgentBinary != "" {
		files = append(files, baseFile{AgentPath, 0o755, ""}) // bind-mount target
	}
	for _, f := range files {
		if err := writeInRoot(root, f.path, []byte(f.content), f.mode); err != nil {
			return err
		}
	}
	return createHostNetns(ctx, h.lab.srvNS, h.netns, h.peer, h.ip)
}

// ExposeTCP makes target, an address in the root network namespace
// (normally the Patchbay server on 127.0.0.1:PORT), reachable from hosts at
// RepoIP:port, and returns that address. Connections are relayed by the
// lab until Close; the server sees them come from 127.0.0.1. Start it once
// the server listens: a host connecting earlier sees its connection closed.
func (l *Lab) ExposeTCP(ctx context.Context, target string, port int) (string, error) {
	addr := net.JoinHostPort(RepoIP, strconv.Itoa(port))
	if port == repoPort {
		return "", fmt.Errorf("expose %s: port %d is the lab repository's", target, port)
	}
	ln, err := listenInNetns(ctx, l.srvNS, addr)
	if err != nil {
		return "", fmt.Errorf("expose %s: %w", target, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		ln.Close()
		return "", errors.New("expose: lab closed")
	}
	l.relays = append(l.relays, newRelay(ln, target))
	return addr, nil
}

// Close tears the lab down: kills every host, stops the repository and the
// relays, unmounts the overlays, deletes the network namespaces and
// removes the lab's directory and state. It leaves no mount, namespace or
// process, and is safe to call twice.
func (l *Lab) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	hosts := append([]*Host(nil), l.hosts...)
	relays := l.relays
	l.mu.Unlock()
	start := time.Now()
	l.stop()
	var errs []error
	for _, h := range hosts {
		h.mu.Lock()
		h.stopped = true
		b := h.boot
		h.mu.Unlock()
		if b != nil {
			if err := h.kill(b); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, r := range relays {
		r.close()
	}
	if l.http != nil {
		l.http.Close()
	}
	l.wg.Wait()
	if err := teardown(context.Background(), l.log, l.state()); err != nil {
		errs = append(errs, err)
	}
	l.log.Info("lab: closed", "lab", l.name, "duration", time.Since(start).Round(time.Millisecond))
	return errors.Join(errs...)
}
