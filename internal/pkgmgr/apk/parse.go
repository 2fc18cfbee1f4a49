package apk

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"

	"github.com/patchbay/patchbay"
)

// parseInstalled parses apk's database of installed packages,
// /lib/apk/db/installed: one block of "X:value" lines per package, blocks
// separated by a blank line. The fields read here (apk-package(5)):
//
//	P:musl                  name
//	V:1.2.5-r0              version, always with its -rN package release
//	A:x86_64                architecture
//	o:musl                  origin: the APKBUILD (source) the package was built from
//
// The other fields (C checksum, S/I sizes, T description, D/p/i/r
// dependencies, F/R/a/M/Z the files) are skipped. A block without P or V,
// a line that is not "X:value", or a name listed twice is an error.
// SourceVersion is the package's version: all subpackages of an APKBUILD
// share its pkgver-pkgrel. A package without an origin is its own.
func parseInstalled(data []byte) ([]patchbay.Package, error) {
	var (
		pkgs    []patchbay.Package
		cur     patchbay.Package
		inBlock bool
		start   int
		seen    = map[string]bool{}
	)
	flush := func() error {
		if !inBlock {
			return nil
		}
		inBlock = false
		p := cur
		cur = patchbay.Package{}
		if p.Name == "" || p.Version == "" {
			return fmt.Errorf("apk installed db line %d: package without P: or V:", start)
		}
		if !ValidName(p.Name) {
			return fmt.Errorf("apk installed db line %d: bad package name %q", start, p.Name)
		}
		if !ValidVersion(p.Version) {
			return fmt.Errorf("apk installed db line %d: %s: bad version %q", start, p.Name, p.Version)
		}
		if p.SourceName == "" {
			p.SourceName = p.Name
		} else if !ValidName(p.SourceName) {
			return fmt.Errorf("apk installed db line %d: %s: bad origin %q", start, p.Name, p.SourceName)
		}
		if p.Arch != "" && !validArch(p.Arch) {
			return fmt.Errorf("apk installed db line %d: %s: bad arch %q", start, p.Name, p.Arch)
		}
		p.SourceVersion = p.Version
		if seen[p.Name] {
			return fmt.Errorf("apk installed db line %d: %s listed twice", start, p.Name)
		}
		seen[p.Name] = true
		pkgs = append(pkgs, p)
		return nil
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" {
			if err := flush(); err != nil {
				return nil, err
			}
			continue
		}
		if len(line) < 2 || line[1] != ':' {
			return nil, fmt.Errorf("apk installed db line %d: not a field: %q", n, line)
		}
		if !inBlock {
			inBlock, start = true, n
		}
		value := line[2:]
		switch line[0] {
		case 'P':
			cur.Name = value
		case 'V':
			cur.Version = value
		case 'A':
			cur.Arch = value
		case 'o':
			cur.SourceName = value
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read apk installed db: %w", err)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return pkgs, nil
}

// pending is one line of `apk version -l '<'`.
type pending struct {
	NameVersion string // "musl-1.2.5-r0", as installed
	Available   string // "1.2.5-r1"
	Tag         string // repository tag ("edge" for @edge), empty for the untagged ones
}

// parseVersionList parses the output of `apk version -l '<'` (apk-tools
// 2.12 to 3, app_version.c):
//
//	Installed:                                Available:
//	musl-1.2.5-r0                           < 1.2.5-r1
//	busybox-1.36.1-r29                      < 1.36.1-r30 edge
//
// The header is apk_msg (gone with -q); each package line is the installed
// name-version padded to a column, the comparison, the newest available
// version and the repository tag (empty for the default repositories).
// Only "<" lines are kept. Any other line is an error, so that a format
// not understood does not read as "no updates".
func parseVersionList(out []byte) ([]pending, error) {
	var list []pending
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		words := strings.Fields(sc.Text())
		switch {
		case len(words) == 0:
			continue
		case len(words) == 2 && words[0] == "Installed:" && words[1] == "Available:":
			continue
		case len(words) < 3 || len(words) > 4:
			return nil, fmt.Errorf("apk version line %d: cannot read %q", n, sc.Text())
		}
		if words[1] != "<" {
			continue
		}
		if _, _, ok := splitNameVersion(words[0]); !ok {
			return nil, fmt.Errorf("apk version line %d: bad package %q", n, words[0])
		}
		if !ValidVersion(words[2]) {
			return nil, fmt.Errorf("apk version line %d: bad version %q", n, words[2])
		}
		p := pending{NameVersion: words[0], Available: words[2]}
		if len(words) == 4 {
			p.Tag = strings.TrimPrefix(words[3], "@")
		}
		list = append(list, p)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read apk version: %w", err)
	}
	return list, nil
}

// splitNameVersion splits "py3-foo-2-1.0-r0" as apk does: at the
// rightmost "-" that is followed by a valid version.
func splitNameVersion(s string) (name, version string, ok bool) {
	for i := strings.LastIndexByte(s, '-'); i > 0; i = strings.LastIndexByte(s[:i], '-') {
		if i+1 < len(s) && isDigit(s[i+1]) && ValidVersion(s[i+1:]) && ValidName(s[:i]) {
			return s[:i], s[i+1:], true
		}
	}
	return "", "", false
}

// ValidName reports whether s is a possible apk package name: letters,
// digits and "+-._", starting with a letter or digit ("libstdc++",
// "py3-cryptography", "R").
func ValidName(s string) bool {
	if s == "" || !isAlnum(s[0]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '+' && c != '-' && c != '.' && c != '_' {
			return false
		}
	}
	return true
}

// ValidVersion reports whether s is an apk version (apk-tools version.c):
//
//	digits{.digits}[letter]{_suffix[digits]}[~hash][-rdigits]
//
// with suffix one of alpha, beta, pre, rc, cvs, svn, git, hg, p, and hash
// lowercase hexadecimal.
func ValidVersion(s string) bool {
	i := 0
	digits := func() bool {
		j := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		return i > j
	}
	if !digits() {
		return false
	}
	for i < len(s) && s[i] == '.' {
		i++
		if !digits() {
			return false
		}
	}
	if i < len(s) && s[i] >= 'a' && s[i] <= 'z' {
		i++
	}
	for i < len(s) && s[i] == '_' {
		i++
		found := false
		for _, suffix := range [...]string{"alpha", "beta", "pre", "rc", "cvs", "svn", "git", "hg", "p"} {
			if strings.HasPrefix(s[i:], suffix) {
				i += len(suffix)
				found = true
				break
			}
		}
		if !found {
			return false
		}
		digits()
	}
	if i < len(s) && s[i] == '~' {
		i++
		j := i
		for i < len(s) && (isDigit(s[i]) || s[i] >= 'a' && s[i] <= 'f') {
			i++
		}
		if i == j {
			return false
		}
	}
	if strings.HasPrefix(s[i:], "-r") {
		i += 2
		if !digits() {
			return false
		}
	}
	return i == len(s)
}

// validArch reports whether s is a possible apk architecture (x86_64,
// aarch64, armv7, armhf, x86, ppc64le, s390x, riscv64, loongarch64, noarch).
func validArch(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) && s[i] != '_' {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isAlnum(c byte) bool {
	return isDigit(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
