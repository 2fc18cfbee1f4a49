// Package pki makes the server's own certificate authority and serving
// certificate on first start, and builds the TLS client configurations
// that trust them: by CA pin (an enrolment token carries the CA's
// SHA-256) or by the CA certificate saved after enrolment.
package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// File names inside the PKI directory.
const (
	CACertFile     = "ca.pem"
	caKeyFile      = "ca-key.pem"
	ServerCertFile = "server.pem"
	serverKeyFile  = "server-key.pem"
)

// Bundle is what the server serves with.
type Bundle struct {
	CertFile string // leaf followed by the CA, so first-contact clients can pin the CA
	KeyFile  string
	CAPEM    []byte
	CAHash   string // hex SHA-256 of the CA certificate's DER
}

// CAHash returns the hex SHA-256 of a certificate's DER bytes.
func CAHash(der []byte) string {
	s := sha256.Sum256(der)
	return hex.EncodeToString(s[:])
}

// Ensure makes sure dir holds a CA and a serving certificate valid at now
// for every name in sans (host names or IP addresses), creating or
// re-issuing what is missing, expiring within 30 days, or not covering
// sans. The CA is kept for ten years and never replaced while valid, so
// agents enrolled against it keep trusting the server.
func Ensure(dir string, sans []string, now time.Time) (Bundle, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Bundle{}, fmt.Errorf("pki dir: %w", err)
	}
	caCert, caKey, err := loadPair(filepath.Join(dir, CACertFile), filepath.Join(dir, caKeyFile))
	if errors.Is(err, os.ErrNotExist) {
		caCert, caKey, err = newCA(now)
		if err == nil {
			err = writePair(filepath.Join(dir, CACertFile), filepath.Join(dir, caKeyFile), caCert, caKey)
		}
	}
	if err != nil {
		return Bundle{}, fmt.Errorf("ca: %w", err)
	}
	certPath, keyPath := filepath.Join(dir, ServerCertFile), filepath.Join(dir, serverKeyFile)
	leaf, _, err := loadPair(certPath, keyPath)
	if err != nil || !covers(leaf, sans) || now.Add(30*24*time.Hour).After(leaf.NotAfter) || leaf.CheckSignatureFrom(caCert) != nil {
		leaf, leafKey, err := newLeaf(caCert, caKey, sans, now)
		if err != nil {
			return Bundle{}, fmt.Errorf("server certificate: %w", err)
		}
		if err := writePair(certPath, keyPath, leaf, leafKey, caCert); err != nil {
			return Bundle{}, fmt.Errorf("server certificate: %w", err)
		}
	}
	return Bundle{CertFile: certPath, KeyFile: keyPath, CAPEM: encodeCert(caCert), CAHash: CAHash(caCert.Raw)}, nil
}

// UserSupplied builds a Bundle from an operator's own certificate, key and
// (optionally) CA file. Without a CA file the last certificate of the chain
// in certFile is taken as the one agents pin.
func UserSupplied(certFile, keyFile, caFile string) (Bundle, error) {
	if _, err := tls.LoadX509KeyPair(certFile, keyFile); err != nil {
		return Bundle{}, fmt.Errorf("tls certificate: %w", err)
	}
	src := certFile
	if caFile != "" {
		src = caFile
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return Bundle{}, fmt.Errorf("tls ca: %w", err)
	}
	var last *pem.Block
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			last = b
		}
	}
	if last == nil {
		return Bundle{}, fmt.Errorf("tls ca: no certificate in %s", src)
	}
	return Bundle{CertFile: certFile, KeyFile: keyFile, CAPEM: pem.EncodeToMemory(last), CAHash: CAHash(last.Bytes)}, nil
}

func covers(c *x509.Certificate, sans []string) bool {
	for _, s := range sans {
		if ip := net.ParseIP(s); ip != nil {
			if !slices.ContainsFunc(c.IPAddresses, ip.Equal) {
				return false
			}
		} else if !slices.Contains(c.DNSNames, s) {
			return false
		}
	}
	return true
}

func newKey() (*ecdsa.PrivateKey, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err)
	}
	return n
}

func newCA(now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "Patchbay CA", Organization: []string{"Patchbay"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	c, err := x509.ParseCertificate(der)
	return c, key, err
}

func newLeaf(ca *x509.Certificate, caKey *ecdsa.PrivateKey, sans []string, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "patchbay server"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(397 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, s := range sans {
		if ip := net.ParseIP(s); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, s)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, err
	}
	c, err := x509.ParseCertificate(der)
	return c, key, err
}

func encodeCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// writePair writes certs (leaf first) and key atomically, key mode 0600.
func writePair(certPath, keyPath string, c *x509.Certificate, key *ecdsa.PrivateKey, chain ...*x509.Certificate) error {
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := writeAtomic(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return err
	}
	data := encodeCert(c)
	for _, x := range chain {
		data = append(data, encodeCert(x)...)
	}
	return writeAtomic(certPath, data, 0o644)
}

func writeAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func loadPair(certPath, keyPath string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	cb, err := os.ReadFile(certPath)
	if err != nil {
		return nil, nil, err
	}
	kb, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, err
	}
	pair, err := tls.X509KeyPair(cb, kb)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", certPath, err)
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, nil, fmt.Errorf("%s: not an ECDSA key", keyPath)
	}
	c, err := x509.ParseCertificate(pair.Certificate[0])
	return c, key, err
}
