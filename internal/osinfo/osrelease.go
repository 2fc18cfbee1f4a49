package osinfo

import (
	"bufio"
	"bytes"
	"strings"

	"github.com/patchbay/patchbay"
)

// ParseOSRelease reads an os-release file (os-release(5)): lines of
// NAME=VALUE, where VALUE follows shell quoting: 'single quotes' are
// literal, "double quotes" take backslash escapes of \ " $ and `,
// unquoted text takes a backslash escape of any character, and quoted and
// unquoted parts join ("a"'b'c is abc). Blank lines and lines starting
// with # are skipped, and so are lines that are not an assignment or have
// an unterminated quote, as systemd skips them. A later assignment of a
// name wins.
func ParseOSRelease(data []byte) map[string]string {
	vars := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(strings.TrimSuffix(sc.Text(), "\r"))
		if line == "" || line[0] == '#' {
			continue
		}
		name, raw, ok := strings.Cut(line, "=")
		if !ok || !validVarName(name) {
			continue
		}
		value, ok := unquote(raw)
		if !ok {
			continue
		}
		vars[name] = value
	}
	return vars
}

// OSFromRelease picks the fields of patchbay.OS from os-release variables,
// with the defaults os-release(5) gives for ID, NAME and PRETTY_NAME. The
// codename is VERSION_CODENAME, or UBUNTU_CODENAME on Ubuntu releases that
// only have that.
func OSFromRelease(vars map[string]string) patchbay.OS {
	os := patchbay.OS{
		ID:         vars["ID"],
		IDLike:     vars["ID_LIKE"],
		VersionID:  vars["VERSION_ID"],
		Codename:   vars["VERSION_CODENAME"],
		Name:       vars["NAME"],
		PrettyName: vars["PRETTY_NAME"],
	}
	if os.ID == "" {
		os.ID = "linux"
	}
	if os.Name == "" {
		os.Name = "Linux"
	}
	if os.PrettyName == "" {
		os.PrettyName = "Linux"
	}
	if os.Codename == "" {
		os.Codename = vars["UBUNTU_CODENAME"]
	}
	return os
}

func validVarName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || i > 0 && '0' <= c && c <= '9' {
			continue
		}
		return false
	}
	return true
}

// unquote evaluates the shell quoting of an os-release value; ok is false
// for an unterminated quote or a trailing lone backslash.
func unquote(raw string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch c {
		case '\'':
			end := strings.IndexByte(raw[i+1:], '\'')
			if end < 0 {
				return "", false
			}
			b.WriteString(raw[i+1 : i+1+end])
			i += end + 1
		case '"':
			i++
			for ; i < len(raw) && raw[i] != '"'; i++ {
				if raw[i] == '\\' && i+1 < len(raw) && strings.IndexByte("\\\"$`", raw[i+1]) >= 0 {
					i++
				}
				b.WriteByte(raw[i])
			}
			if i >= len(raw) {
				return "", false
			}
		case '\\':
			if i+1 >= len(raw) {
				return "", false
			}
			i++
			b.WriteByte(raw[i])
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}
