package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Network layout inside the lab's namespaces. The root namespace gets
// nothing: the bridge and every veth are created inside the server
// namespace, and each host's end is moved straight into its namespace.
const (
	bridgeName = "pbbr0"
	serverCIDR = RepoIP + "/16"
	hostIface  = "eth0"
)

// netnsPath is where `ip netns` keeps a named namespace.
func netnsPath(name string) string { return "/run/netns/" + name }

// hostIP is the address of the i-th host (1-based): 169.254.78.1 up to
// 169.254.78.254, then 169.254.79.1 and so on.
func hostIP(i int) string {
	i--
	return fmt.Sprintf("169.254.%d.%d", 78+i/254, i%254+1)
}

// ip runs `ip` with args.
func ip(ctx context.Context, args ...string) error {
	_, err := runArgs(ctx, append([]string{"ip"}, args...)...)
	return err
}

// createServerNetns creates the server namespace with the lab bridge.
func createServerNetns(ctx context.Context, ns string) error {
	steps := [][]string{
		{"netns", "add", ns},
		{"-n", ns, "link", "set", "lo", "up"},
		{"-n", ns, "link", "add", bridgeName, "type", "bridge"},
		{"-n", ns, "addr", "add", serverCIDR, "dev", bridgeName},
		{"-n", ns, "link", "set", bridgeName, "up"},
	}
	for _, s := range steps {
		if err := ip(ctx, s...); err != nil {
			return fmt.Errorf("server netns %s: %w", ns, err)
		}
	}
	return nil
}

// createHostNetns creates a host namespace whose eth0 is a veth with its
// peer (peer, in the server namespace) on the bridge.
func createHostNetns(ctx context.Context, serverNS, ns, peer, addr string) error {
	steps := [][]string{
		{"netns", "add", ns},
		{"-n", ns, "link", "set", "lo", "up"},
		{"-n", serverNS, "link", "add", peer, "type", "veth", "peer", "name", hostIface, "netns", ns},
		{"-n", serverNS, "link", "set", peer, "master", bridgeName, "up"},
		// Isolated bridge ports: hosts reach the server address, not
		// each other.
		{"-n", serverNS, "link", "set", peer, "type", "bridge_slave", "isolated", "on"},
		{"-n", ns, "addr", "add", addr + "/16", "dev", hostIface},
		{"-n", ns, "link", "set", hostIface, "up"},
	}
	for _, s := range steps {
		if err := ip(ctx, s...); err != nil {
			return fmt.Errorf("host netns %s: %w", ns, err)
		}
	}
	return nil
}

// deleteNetns kills whatever still runs in the namespace, then deletes it.
// A namespace that does not exist is not an error.
func deleteNetns(ctx context.Context, ns string) error {
	if _, err := os.Stat(netnsPath(ns)); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if out, err := runArgs(ctx, "ip", "netns", "pids", ns); err == nil {
		for _, f := range strings.Fields(string(out)) {
			var pid int
			if _, err := fmt.Sscan(f, &pid); err == nil && pid > 1 {
				unix.Kill(pid, unix.SIGKILL)
			}
		}
	}
	if err := ip(ctx, "netns", "delete", ns); err != nil {
		return fmt.Errorf("delete netns %s: %w", ns, err)
	}
	return nil
}

// listenInNetns opens a TCP listener inside the named network namespace.
// The socket stays in that namespace for its whole life, and can be served
// from any goroutine: only the socket() call has to happen there.
//
// The calling thread is switched into the namespace and back. If switching
// back fails, the goroutine exits still locked, so the Go runtime discards
// the thread rather than let other goroutines run in the wrong namespace.
// Switching back (rather than always discarding the thread) matters: a
// child started with Pdeathsig gets its signal when the thread that forked
// it exits, which would kill running hosts.
func listenInNetns(ctx context.Context, ns, addr string) (net.Listener, error) {
	type result struct {
		ln  net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: fmt.Errorf("open own netns: %w", err)}
			return
		}
		defer orig.Close()
		target, err := os.Open(netnsPath(ns))
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: fmt.Errorf("open netns: %w", err)}
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: fmt.Errorf("setns %s: %w", ns, err)}
			return
		}
		var lc net.ListenConfig
		ln, lerr := lc.Listen(ctx, "tcp", addr)
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			// Stay locked: the thread dies with this goroutine.
			if ln != nil {
				ln.Close()
			}
			ch <- result{err: fmt.Errorf("setns back: %w", err)}
			return
		}
		runtime.UnlockOSThread()
		ch <- result{ln: ln, err: lerr}
	}()
	r := <-ch
	if r.err != nil {
		return nil, fmt.Errorf("listen %s in %s: %w", addr, ns, r.err)
	}
	return r.ln, nil
}

// relay accepts connections in the server namespace and joins each to a
// connection dialled from the root namespace: hosts reach a server that
// listens on the machine's loopback without the root namespace getting any
// lab address or route.
type relay struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

func newRelay(ln net.Listener, target string) *relay {
	r := &relay{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	r.wg.Add(1)
	go r.serve()
	return r
}

func (r *relay) serve() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return // closed
		}
		if !r.track(c) {
			c.Close()
			return
		}
		r.wg.Add(1)
		go r.join(c)
	}
}

// track remembers c so that close can cut it; false once closed.
func (r *relay) track(c net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.conns[c] = struct{}{}
	return true
}

func (r *relay) untrack(c net.Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.conns, c)
}

func (r *relay) join(in net.Conn) {
	defer r.wg.Done()
	defer r.untrack(in)
	defer in.Close()
	d := net.Dialer{Timeout: 5 * time.Second}
	out, err := d.Dial("tcp", r.target)
	if err != nil {
		return // the host sees the connection closed, as with a refused one
	}
	if !r.track(out) {
		out.Close()
		return
	}
	defer r.untrack(out)
	defer out.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(out, in)
	go pipe(in, out)
	<-done
	<-done
}

// close stops accepting, cuts every relayed connection and waits.
func (r *relay) close() {
	r.mu.Lock()
	r.closed = true
	for c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.ln.Close()
	r.wg.Wait()
}
