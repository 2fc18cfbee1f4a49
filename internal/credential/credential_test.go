package credential

import (
	"strings"
	"testing"
)

func TestEnrollRoundTrip(t *testing.T) {
	ca := strings.Repeat("ab", 32)
	e := NewEnroll(ca)
	got, err := ParseEnroll(e.String())
	if err != nil {
		t.Fatal(err)
	}
	if got != e {
		t.Fatalf("round trip: got %+v, want %+v", got, e)
	}
	if e.SecretHash() == Hash(e.Secret) || len(e.SecretHash()) != 64 {
		t.Fatalf("secret hash must bind id and secret: %q", e.SecretHash())
	}
}

func TestParseEnrollErrors(t *testing.T) {
	good := NewEnroll(strings.Repeat("0", 64)).String()
	for _, tc := range []struct{ name, in, want string }{
		{"empty", "", "must start with"},
		{"api token", NewAPIToken(), "must start with"},
		{"truncated", good[:len(good)-1], "malformed"},
		{"upper-case hash", strings.ToUpper(good[:5]) + good[5:], "must start with"},
		{"extra field", good + ".x", "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseEnroll(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParseEnroll(%q) = %v, want error containing %q", tc.in, err, tc.want)
			}
		})
	}
	if _, err := ParseEnroll("  " + good + "\n"); err != nil {
		t.Fatalf("surrounding space must be accepted: %v", err)
	}
}

func TestSecretsDiffer(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		for _, s := range []string{NewAPIToken(), NewHostCredential(), NewID()} {
			if seen[s] {
				t.Fatalf("duplicate secret %q", s)
			}
			seen[s] = true
		}
	}
}
