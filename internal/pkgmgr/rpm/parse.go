package rpm

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/patchbay/patchbay"
)

// queryFormat asks rpm for one tab-separated record per installed package:
// NAME, EPOCH, VERSION, RELEASE, ARCH, SOURCERPM. Package names, versions
// and file names cannot hold a tab or a newline. EPOCH rather than EPOCHNUM
// so that the old rpm of EL7 gives the same output. Sample (rpm 4.18, the
// lab of testdata/capture.sh):
//
//	demo-epoch	2	3.1	1.el9	noarch	demo-epoch-3.1-1.el9.src.rpm
//	demo-app-libs	(none)	1.0	1.el9	noarch	demo-app-1.0-1.el9.src.rpm
//	gpg-pubkey	(none)	19141cae	6b07375c	(none)	(none)
const queryFormat = `%{NAME}\t%{EPOCH}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\t%{SOURCERPM}\n`

// none is what rpm prints for a tag a header does not have.
const none = "(none)"

// parseQuery parses the output of rpm -qa --queryformat queryFormat. It
// keeps every record, duplicates included (installonly packages such as
// kernel are installed side by side), and leaves out gpg-pubkey: rpm
// stores each imported signing key as such a pseudo-package, with no
// architecture and no source, which is no software to patch.
//
// Version is [epoch:]version-release with the epoch left out when it is
// absent or 0, as dnf and yum print it. SourceVersion is the same with the
// source RPM's version-release: the source file name has no epoch, but an
// epoch belongs to the spec, so every binary of a source has the source's.
func parseQuery(out []byte) ([]patchbay.Package, error) {
	var pkgs []patchbay.Package
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 6 {
			return nil, fmt.Errorf("rpm query line %d: %d fields, want 6", n, len(f))
		}
		name, epoch, version, release, arch, srpm := f[0], f[1], f[2], f[3], f[4], f[5]
		if name == "gpg-pubkey" {
			continue
		}
		if !ValidName(name) {
			return nil, fmt.Errorf("rpm query line %d: bad package name %q", n, name)
		}
		if arch == none {
			arch = "" // possible for other pseudo-packages; rpm sorts them as noarch-less
		} else if !validArch(arch) {
			return nil, fmt.Errorf("rpm query line %d: %s: bad arch %q", n, name, arch)
		}
		evr := EVR{Version: version, Release: release}
		if epoch != none {
			e, err := strconv.Atoi(epoch)
			if err != nil || !allDigits(epoch) {
				return nil, fmt.Errorf("rpm query line %d: %s: bad epoch %q", n, name, epoch)
			}
			evr.Epoch = e
		}
		v := evr.String()
		if _, err := ParseEVR(v); err != nil || release == "" {
			return nil, fmt.Errorf("rpm query line %d: %s: bad version %q", n, name, v)
		}
		p := patchbay.Package{Name: name, Arch: arch, Version: v}
		if srcName, srcVR, ok := splitSourceRPM(srpm); ok {
			p.SourceName = srcName
			sv := EVR{Epoch: evr.Epoch}
			sv.Version, sv.Release, _ = strings.Cut(srcVR, "-")
			p.SourceVersion = sv.String()
		} else if srpm != none {
			return nil, fmt.Errorf("rpm query line %d: %s: bad source rpm %q", n, name, srpm)
		}
		pkgs = append(pkgs, p)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read rpm query: %w", err)
	}
	return pkgs, nil
}

// splitSourceRPM splits a source package file name into the source name
// and its version-release: "openssl-3.0.7-27.el9.src.rpm" gives "openssl"
// and "3.0.7-27.el9". ok is false for "(none)" and anything else that is
// not such a file name.
func splitSourceRPM(s string) (name, versionRelease string, ok bool) {
	base, found := strings.CutSuffix(s, ".src.rpm")
	if !found {
		base, found = strings.CutSuffix(s, ".nosrc.rpm")
	}
	if !found {
		return "", "", false
	}
	i := strings.LastIndexByte(base, '-')
	if i <= 0 {
		return "", "", false
	}
	j := strings.LastIndexByte(base[:i], '-')
	if j <= 0 {
		return "", "", false
	}
	name, versionRelease = base[:j], base[j+1:]
	if !ValidName(name) {
		return "", "", false
	}
	if _, err := ParseEVR(versionRelease); err != nil {
		return "", "", false
	}
	return name, versionRelease, true
}

// NEVRA is one package build: name, [epoch:]version-release and arch.
type NEVRA struct {
	Name, Version, Arch string
}

// parseNEVRA splits "demo-epoch-2:3.2-1.el9.noarch" as dnf and yum print
// it (epoch, if any, between the name and the version).
func parseNEVRA(s string) (NEVRA, bool) {
	dot := strings.LastIndexByte(s, '.')
	if dot <= 0 {
		return NEVRA{}, false
	}
	arch, nevr := s[dot+1:], s[:dot]
	r := strings.LastIndexByte(nevr, '-')
	if r <= 0 {
		return NEVRA{}, false
	}
	v := strings.LastIndexByte(nevr[:r], '-')
	if v <= 0 {
		return NEVRA{}, false
	}
	n := NEVRA{Name: nevr[:v], Version: nevr[v+1:], Arch: arch}
	if !ValidName(n.Name) || !validArch(n.Arch) {
		return NEVRA{}, false
	}
	evr, err := ParseEVR(n.Version)
	if err != nil || evr.Release == "" {
		return NEVRA{}, false
	}
	n.Version = evr.String() // "0:1.0-1" as "1.0-1"
	return n, true
}

// splitNameArch splits dnf's "name.arch" column.
func splitNameArch(s string) (name, arch string, ok bool) {
	dot := strings.LastIndexByte(s, '.')
	if dot <= 0 {
		return "", "", false
	}
	name, arch = s[:dot], s[dot+1:]
	if !ValidName(name) || !validArch(arch) {
		return "", "", false
	}
	return name, arch, true
}

// available is one line of dnf/yum check-update: a package build in a
// repository.
type available struct {
	NEVRA
	Repo string
	// Obsoleting is set for a package of the "Obsoleting Packages"
	// section; Obsoletes are the installed packages (name.arch) it replaces.
	Obsoleting bool
	Obsoletes  []string
}

// parseCheckUpdate parses the output of `dnf -q check-update` (and of yum,
// which has the same layout), exit code 100. Each record is three columns:
//
//	demo-epoch.noarch                                     2:3.2-1.el9           lab
//
// A column too wide for its width pushes the next column onto a new,
// indented line. dnf 4 does this only on a terminal, yum 3 even into a
// pipe, so a record may span up to three lines:
//
//	demo-library-with-a-deliberately-very-long-package-name-for-wrapping.noarch
//	                                                      1.0-2.el9             lab
//
// After the header "Obsoleting Packages" each record of an obsoleting
// package is followed by indented records of the installed packages it
// replaces (their repository column starts with "@"). A line of more than
// three words that starts no record is a notice ("Last metadata expiration
// check: ...", "Security: kernel-... is an installed security update") and
// is skipped. A line that starts a record which then fails to parse is an
// error: a format not understood must not read as "no updates".
func parseCheckUpdate(out []byte) ([]available, error) {
	var (
		list       []available
		obsoleting bool
		pending    []string // words of a record not yet complete
		indented   bool     // the pending record started indented
		startLine  int
	)
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r\n\t ")
		words := strings.Fields(line)
		if len(pending) == 0 {
			switch {
			case len(words) == 0:
				continue
			case line == "Obsoleting Packages":
				obsoleting = true
				continue
			case len(words) > 3:
				continue // a notice
			}
			indented = line[0] == ' ' || line[0] == '\t'
			startLine = n
		} else if len(words) == 0 {
			return nil, fmt.Errorf("check-update line %d: record cut short: %q", startLine, strings.Join(pending, " "))
		}
		pending = append(pending, words...)
		if len(pending) < 3 {
			continue
		}
		if len(pending) > 3 {
			return nil, fmt.Errorf("check-update line %d: cannot read record %q", startLine, strings.Join(pending, " "))
		}
		name, arch, ok := splitNameArch(pending[0])
		if !ok {
			return nil, fmt.Errorf("check-update line %d: bad name.arch %q", startLine, pending[0])
		}
		evr, err := ParseEVR(pending[1])
		if err != nil || evr.Release == "" {
			return nil, fmt.Errorf("check-update line %d: %s: bad version %q", startLine, pending[0], pending[1])
		}
		a := available{NEVRA: NEVRA{Name: name, Version: evr.String(), Arch: arch}, Repo: pending[2]}
		pending = pending[:0]
		switch {
		case obsoleting && indented:
			if len(list) == 0 || !list[len(list)-1].Obsoleting {
				return nil, fmt.Errorf("check-update line %d: obsoleted package %s.%s follows no obsoleting one", startLine, name, arch)
			}
			last := &list[len(list)-1]
			last.Obsoletes = append(last.Obsoletes, name+"."+arch)
		default:
			a.Obsoleting = obsoleting
			list = append(list, a)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read check-update: %w", err)
	}
	if len(pending) > 0 {
		return nil, fmt.Errorf("check-update line %d: record cut short: %q", startLine, strings.Join(pending, " "))
	}
	return list, nil
}

// advisory is one line of `dnf -q updateinfo list --security`:
//
//	LAB-2026:0001 Important/Sec. demo-app-1.0-2.el9.noarch
//	LAB-2026:0002 bugfix         demo-epoch-2:3.2-1.el9.noarch
type advisory struct {
	ID   string
	Type string // "Important/Sec.", "Sec.", "bugfix", "enhancement" ...
	NEVRA
}

// Security reports whether the advisory is a security one. dnf writes the
// type of a security advisory as "Sec." after its severity, if any.
func (a advisory) Security() bool {
	return strings.HasSuffix(a.Type, "Sec.") || a.Type == "security"
}

// parseUpdateinfo parses `dnf -q updateinfo list` (and yum's `updateinfo
// list`, which ends with the line "updateinfo list done"). Lines that are
// not three words are notices and skipped; a three-word line whose package
// does not parse is an error.
func parseUpdateinfo(out []byte) ([]advisory, error) {
	var list []advisory
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		words := strings.Fields(line)
		if len(words) != 3 || line == "updateinfo list done" {
			continue
		}
		nevra, ok := parseNEVRA(words[2])
		if !ok {
			return nil, fmt.Errorf("updateinfo line %d: bad package %q", n, words[2])
		}
		list = append(list, advisory{ID: words[0], Type: words[1], NEVRA: nevra})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read updateinfo: %w", err)
	}
	return list, nil
}

// parseNeedsRestarting reads the output of `needs-restarting -r` (dnf
// plugin or yum-utils), for example:
//
//	Core libraries or services have been updated since boot-up:
//	  * kernel
//
//	Reboot is required to fully utilize these updates.
//	More information: https://access.redhat.com/solutions/27943
//
// or "No core libraries or services have been updated since boot-up." and
// "Reboot should not be necessary." (exit code 0). ok is false when the
// output is neither (the plugin is missing: "No such command:
// needs-restarting", exit code 1 as well), and the caller must find out
// another way. Each "* NAME" line gives the reason "NAME updated since
// boot".
func parseNeedsRestarting(out []byte) (reboot bool, reasons []string, ok bool) {
	text := string(out)
	switch {
	case strings.Contains(text, "Reboot is required"):
		for line := range strings.Lines(text) {
			if name, found := strings.CutPrefix(strings.TrimSpace(line), "* "); found && name != "" {
				reasons = append(reasons, strings.TrimSpace(name)+" updated since boot")
			}
		}
		if len(reasons) == 0 {
			reasons = []string{"needs-restarting: reboot required"}
		}
		return true, reasons, true
	case strings.Contains(text, "Reboot should not be necessary"):
		return false, nil, true
	}
	return false, nil, false
}
