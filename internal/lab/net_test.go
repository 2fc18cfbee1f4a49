package lab_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/lab"
	"github.com/patchbay/patchbay/internal/lab/labtest"
)

// TestNetwork checks what a host can reach: the lab server address and
// nothing else; a root-namespace server only through ExposeTCP; and
// nothing while its network is cut.
func TestNetwork(t *testing.T) {
	l := labtest.New(t, lab.Options{Hosts: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	h := l.Hosts()[0]

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from the root namespace, path %s", r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	_, rootPort, _ := net.SplitHostPort(srv.Listener.Addr().String())

	t.Run("lab repository reachable", func(t *testing.T) {
		out, code := fetch(ctx, t, h, lab.RepoIP, "80", "/lab/Release")
		if code != 0 || !strings.Contains(out, "200 OK") || !strings.Contains(out, "Label: Patchbay-Lab") {
			t.Errorf("GET /lab/Release: exit %d\n%s", code, out)
		}
	})

	t.Run("nothing else reachable", func(t *testing.T) {
		other := l.Hosts()[1]
		// A server on the other host that would answer "hello".
		mustExec(ctx, t, other, "sh", "-c", `exec >/dev/null 2>&1; perl -MIO::Socket::INET -e '
			my $s = IO::Socket::INET->new(LocalPort => 8081, Listen => 5, ReuseAddr => 1) or die;
			while (my $c = $s->accept) { while (my $l = <$c>) { last if $l =~ /^\r?$/ } print $c "HTTP/1.0 200 OK\r\n\r\nhello from another host\n"; close $c }' &`)
		for i := 0; ; i++ {
			out, code := fetch(ctx, t, other, "127.0.0.1", "8081", "/")
			if code == 0 && strings.Contains(out, "hello") {
				break
			}
			if i == 50 {
				t.Fatalf("server on the other host does not answer locally: exit %d\n%s", code, out)
			}
			time.Sleep(100 * time.Millisecond)
		}
		tests := []struct {
			name, host, port string
			fast             bool // fails at once rather than after ARP gives up
		}{
			{"internet", "1.1.1.1", "80", true},
			{"root namespace loopback", "127.0.0.1", rootPort, true},
			{"closed port of the lab server", lab.RepoIP, "81", true},
			{"another host", other.IP(), "8081", false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				start := time.Now()
				out, code := fetch(ctx, t, h, tt.host, tt.port, "/")
				t.Logf("%s: exit %d %q", tt.name, code, out)
				if code == 0 || strings.Contains(out, "hello") {
					t.Errorf("host reached %s:%s (exit %d):\n%s", tt.host, tt.port, code, out)
				}
				if d := time.Since(start); tt.fast && d > 3*time.Second {
					t.Errorf("failing to reach %s took %s, want a fast failure", tt.host, d)
				}
			})
		}
		routes := mustExec(ctx, t, h, "cat", "/proc/net/route")
		for _, line := range lines(routes)[1:] {
			if f := strings.Fields(line); f[1] == "00000000" {
				t.Errorf("host has a default route: %s", line)
			}
		}
	})

	t.Run("ExposeTCP", func(t *testing.T) {
		addr, err := l.ExposeTCP(ctx, srv.Listener.Addr().String(), 18080)
		if err != nil {
			t.Fatal(err)
		}
		if addr != lab.RepoIP+":18080" {
			t.Errorf("ExposeTCP address %s", addr)
		}
		for i := 0; i < 3; i++ {
			out, code := fetch(ctx, t, h, lab.RepoIP, "18080", fmt.Sprintf("/hello/%d", i))
			if code != 0 || !strings.Contains(out, fmt.Sprintf("hello from the root namespace, path /hello/%d", i)) {
				t.Errorf("through the relay: exit %d\n%s", code, out)
			}
		}
	})

	t.Run("cut and restore", func(t *testing.T) {
		if err := h.CutNetwork(ctx); err != nil {
			t.Fatal(err)
		}
		out, code := fetch(ctx, t, h, lab.RepoIP, "80", "/lab/Release")
		if code == 0 {
			t.Errorf("fetch with the network cut worked:\n%s", out)
		}
		res, err := h.Exec(ctx, "apt-get", "update", "-q", "--error-on=any")
		if err != nil || res.ExitCode == 0 {
			t.Errorf("apt-get update with the network cut: exit %d, %v", res.ExitCode, err)
		}
		if err := h.RestoreNetwork(ctx); err != nil {
			t.Fatal(err)
		}
		out, code = fetch(ctx, t, h, lab.RepoIP, "80", "/lab/Release")
		if code != 0 || !strings.Contains(out, "200 OK") {
			t.Errorf("fetch after restoring the network: exit %d\n%s", code, out)
		}
	})
}
