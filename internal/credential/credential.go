// Package credential makes and reads the secrets Patchbay hands out: API
// tokens for people and scripts, per-host credentials for agents, and
// enrolment tokens that also pin the server's CA certificate (as kubeadm's
// join token and discovery hash do). Only SHA-256 hashes of the secrets are
// ever stored.
package credential

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
)

// Prefixes tell the kinds apart at a glance (and for secret scanners).
const (
	PrefixAPI  = "pba_"
	PrefixHost = "pbh_"
	// enrolment tokens: "pbe1." + id + "." + secret + "." + CA SHA-256 hex
	prefixEnroll = "pbe1."
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

func random(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // the kernel's RNG does not fail
	}
	return strings.ToLower(b32.EncodeToString(b))
}

// Hash returns the hex SHA-256 of a secret, the form stored in databases.
func Hash(secret string) string {
	s := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(s[:])
}

// NewAPIToken returns a new API token secret.
func NewAPIToken() string { return PrefixAPI + random(20) }

// NewHostCredential returns a new host credential secret.
func NewHostCredential() string { return PrefixHost + random(20) }

// NewID returns a short random public id (for token ids).
func NewID() string { return random(5) }

// Enroll is a parsed enrolment token.
type Enroll struct {
	ID     string // public id, stored in clear
	Secret string // stored hashed
	CAHash string // hex SHA-256 of the DER of the server's CA certificate
}

// NewEnroll makes an enrolment token for a server whose CA has caHash.
func NewEnroll(caHash string) Enroll {
	return Enroll{ID: NewID(), Secret: random(20), CAHash: caHash}
}

// String is the form printed for the operator and given to agents.
func (e Enroll) String() string {
	return prefixEnroll + e.ID + "." + e.Secret + "." + e.CAHash
}

// SecretHash is what the server stores for the token.
func (e Enroll) SecretHash() string { return Hash(e.ID + "." + e.Secret) }

var enrollRE = regexp.MustCompile(`^pbe1\.([a-z2-7]{8})\.([a-z2-7]{32})\.([0-9a-f]{64})$`)

// ParseEnroll reads an enrolment token and says what is wrong with a bad one.
func ParseEnroll(s string) (Enroll, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, prefixEnroll) {
		return Enroll{}, fmt.Errorf("enrolment token must start with %q (make one with `patchbay tokens create`)", prefixEnroll)
	}
	m := enrollRE.FindStringSubmatch(s)
	if m == nil {
		return Enroll{}, fmt.Errorf("malformed enrolment token: want pbe1.<id>.<secret>.<ca-sha256>")
	}
	return Enroll{ID: m[1], Secret: m[2], CAHash: m[3]}, nil
}
