package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
)

// PinnedConfig returns a TLS client configuration for first contact: it
// trusts exactly the CA whose certificate hashes to caHash, which the server
// must send in its chain, and checks the server's name as usual.
// onCA receives the CA certificate once verified, so the caller can save it.
func PinnedConfig(caHash string, onCA func(pemBytes []byte)) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // replaced by VerifyConnection below, which checks the chain against the pinned CA
		VerifyConnection: func(cs tls.ConnectionState) error {
			var ca *x509.Certificate
			for _, c := range cs.PeerCertificates {
				if CAHash(c.Raw) == caHash {
					ca = c
				}
			}
			if ca == nil {
				return errors.New("server's CA does not match the CA hash in the enrolment token: refusing to trust it")
			}
			if len(cs.PeerCertificates) == 0 {
				return errors.New("server sent no certificate")
			}
			pool := x509.NewCertPool()
			pool.AddCert(ca)
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			if _, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{DNSName: cs.ServerName, Roots: pool, Intermediates: inter}); err != nil {
				return fmt.Errorf("verify server certificate: %w", err)
			}
			if onCA != nil {
				onCA(encodeCert(ca))
			}
			return nil
		},
	}
}

// PoolConfig returns a TLS client configuration that trusts the CA
// certificates in caPEM (and nothing else).
func PoolConfig(caPEM []byte) (*tls.Config, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("no CA certificate in PEM data")
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}, nil
}
