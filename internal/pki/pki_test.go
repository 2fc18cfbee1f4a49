package pki

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func serve(t *testing.T, b Bundle) *httptest.Server {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(b.CertFile, b.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func get(cfg *tls.Config, url string) error {
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

func TestEnsureAndPin(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	b, err := Ensure(dir, []string{"localhost", "127.0.0.1"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, caKeyFile)); fi.Mode().Perm() != 0o600 {
		t.Fatalf("CA key mode %v, want 0600", fi.Mode().Perm())
	}
	srv := serve(t, b)

	var saved []byte
	if err := get(PinnedConfig(b.CAHash, func(p []byte) { saved = p }), srv.URL); err != nil {
		t.Fatalf("pinned request: %v", err)
	}
	if string(saved) != string(b.CAPEM) {
		t.Fatal("onCA did not receive the CA certificate")
	}
	wrong := strings.Repeat("0", 64)
	if err := get(PinnedConfig(wrong, nil), srv.URL); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("wrong pin: err = %v, want a CA mismatch", err)
	}
	pool, err := PoolConfig(saved)
	if err != nil {
		t.Fatal(err)
	}
	if err := get(pool, srv.URL); err != nil {
		t.Fatalf("pool request: %v", err)
	}

	// A second start reuses the CA; a new SAN re-issues only the leaf.
	b2, err := Ensure(dir, []string{"localhost", "127.0.0.1"}, now)
	if err != nil || b2.CAHash != b.CAHash {
		t.Fatalf("second Ensure: hash %s vs %s, err %v", b2.CAHash, b.CAHash, err)
	}
	leaf1, _ := os.ReadFile(b.CertFile)
	b3, err := Ensure(dir, []string{"localhost", "127.0.0.1", "169.254.77.1"}, now)
	if err != nil || b3.CAHash != b.CAHash {
		t.Fatalf("Ensure with new SAN: %v", err)
	}
	leaf3, _ := os.ReadFile(b3.CertFile)
	if string(leaf1) == string(leaf3) {
		t.Fatal("leaf not re-issued for a new SAN")
	}
	// Near expiry re-issues the leaf too.
	b4, err := Ensure(dir, []string{"localhost"}, now.Add(380*24*time.Hour))
	if err != nil || b4.CAHash != b.CAHash {
		t.Fatalf("Ensure near expiry: %v", err)
	}
	leaf4, _ := os.ReadFile(b4.CertFile)
	if string(leaf4) == string(leaf3) {
		t.Fatal("leaf not re-issued near its expiry")
	}
}

func TestUserSupplied(t *testing.T) {
	dir := t.TempDir()
	b, err := Ensure(dir, []string{"localhost"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	u, err := UserSupplied(b.CertFile, b.KeyFile, "")
	if err != nil {
		t.Fatal(err)
	}
	if u.CAHash != b.CAHash {
		t.Fatalf("CA taken from chain: %s, want %s", u.CAHash, b.CAHash)
	}
	if _, err := UserSupplied(b.CertFile, filepath.Join(dir, "missing"), ""); err == nil {
		t.Fatal("missing key accepted")
	}
}
