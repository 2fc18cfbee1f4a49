package deb

import (
	"fmt"
	"slices"
	"strings"

	"github.com/patchbay/patchbay"
)

// stateOnDisk reads the package state of dpkg (deb-status(5)), the third
// word of Status, and reports whether the package's files are (at least
// partly) on disk. Packages lists those, so a package that an interrupted
// dpkg run left half-installed or unpacked stays in the inventory, with the
// version dpkg recorded, rather than silently vanishing. Removed packages
// ("config-files": only configuration files remain) and purged ones
// ("not-installed") are not on disk.
func stateOnDisk(state string) (onDisk, known bool) {
	switch state {
	case "installed", "half-installed", "unpacked", "half-configured", "triggers-awaited", "triggers-pending":
		return true, true
	case "not-installed", "config-files":
		return false, true
	}
	return false, false
}

// validStatus reports whether the want and error words of Status are ones
// dpkg writes.
func validStatus(want, eflag string) bool {
	switch want {
	case "unknown", "install", "hold", "deinstall", "purge":
	default:
		return false
	}
	return eflag == "ok" || eflag == "reinstreq"
}

// parseStatus reads a dpkg status file and returns the packages present on
// disk (see stateOnDisk), sorted by Key. A file dpkg itself would refuse
// (a broken line, an unknown state, a present package without a version or
// architecture, one package twice) is an error: a partial inventory would
// be taken for a complete one.
func parseStatus(data []byte) ([]patchbay.Package, error) {
	paras, err := parseControl(data)
	if err != nil {
		return nil, fmt.Errorf("parse dpkg status: %w", err)
	}
	pkgs := make([]patchbay.Package, 0, len(paras))
	seen := make(map[string]bool, len(paras))
	for _, p := range paras {
		pkg, present, err := statusPackage(p)
		if err != nil {
			return nil, fmt.Errorf("parse dpkg status: paragraph at line %d: %w", p.line, err)
		}
		if !present {
			continue
		}
		if seen[pkg.Key()] {
			return nil, fmt.Errorf("parse dpkg status: paragraph at line %d: %s listed twice", p.line, pkg.Key())
		}
		seen[pkg.Key()] = true
		pkgs = append(pkgs, pkg)
	}
	slices.SortFunc(pkgs, func(a, b patchbay.Package) int { return strings.Compare(a.Key(), b.Key()) })
	return pkgs, nil
}

// statusPackage reads one status paragraph; present reports whether the
// package's files are on disk.
func statusPackage(p paragraph) (pkg patchbay.Package, present bool, err error) {
	name := p.get("Package")
	if !validName(name) {
		return pkg, false, fmt.Errorf("invalid package name %q", name)
	}
	status := strings.Fields(p.get("Status"))
	if len(status) != 3 || !validStatus(status[0], status[1]) {
		return pkg, false, fmt.Errorf("package %s: invalid Status %q", name, p.get("Status"))
	}
	onDisk, known := stateOnDisk(status[2])
	if !known {
		return pkg, false, fmt.Errorf("package %s: invalid Status %q", name, p.get("Status"))
	}
	if !onDisk {
		return pkg, false, nil
	}
	pkg = patchbay.Package{Name: name, Arch: p.get("Architecture"), Version: p.get("Version")}
	if !validWord(pkg.Version) {
		return pkg, false, fmt.Errorf("package %s: invalid Version %q", name, pkg.Version)
	}
	if !validWord(pkg.Arch) {
		return pkg, false, fmt.Errorf("package %s: invalid Architecture %q", name, pkg.Arch)
	}
	pkg.SourceName, pkg.SourceVersion, err = parseSource(p.get("Source"), name, pkg.Version)
	if err != nil {
		return pkg, false, fmt.Errorf("package %s: %w", name, err)
	}
	return pkg, true, nil
}

// parseSource reads a Source field, "name" or "name (version)"; the source
// version is given when a binNMU or a differently versioned binary makes
// it differ from the binary's. Absent parts default to the binary's.
func parseSource(field, binName, binVersion string) (name, version string, err error) {
	if field == "" {
		return binName, binVersion, nil
	}
	name, rest, _ := strings.Cut(field, " ")
	rest = strings.TrimSpace(rest)
	if !validName(name) {
		return "", "", fmt.Errorf("invalid Source %q", field)
	}
	if rest == "" {
		return name, binVersion, nil
	}
	version, ok := strings.CutPrefix(rest, "(")
	version, ok2 := strings.CutSuffix(version, ")")
	version = strings.TrimSpace(version)
	if !ok || !ok2 || !validWord(version) {
		return "", "", fmt.Errorf("invalid Source %q", field)
	}
	return name, version, nil
}

// validName reports whether s is a package name dpkg accepts (its
// pkg_name_is_illegal): an ASCII letter or digit, then letters, digits and
// "-+._". This is also the check a name passes before it reaches an apt
// command line.
func validName(s string) bool {
	if s == "" || !isAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isAlnum(s[i]) && !strings.ContainsRune("-+._", rune(s[i])) {
			return false
		}
	}
	return true
}

// validWord reports whether s is non-empty printable ASCII without blanks,
// what a version or architecture field must at least be.
func validWord(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}
