package lab

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"time"
)

// DefaultMirrorMaxAge is how long the mirror step's output is reused before
// the lab asks the mirror again for what is pending.
const DefaultMirrorMaxAge = 24 * time.Hour

// The three archives the mirror step publishes, as the lab repository's
// top-level directories. Host sources name them under http://169.254.77.1/.
const (
	ArchiveDebian   = "debian"          // bookworm: the installed packages' index
	ArchiveSecurity = "debian-security" // bookworm-security
	ArchiveUpdates  = "debian-updates"  // bookworm-updates
)

// PendingUpdate is one real Debian update that the base image lacks.
type PendingUpdate struct {
	Name    string `json:"name"`
	From    string `json:"from"`    // installed version; "" for a new dependency
	To      string `json:"to"`      // candidate version
	Origin  string `json:"origin"`  // as apt prints it: "Debian-Security:12/oldstable-security"
	Archive string `json:"archive"` // ArchiveSecurity, ArchiveUpdates or ArchiveDebian
}

// Mirror is the mirror step's output: an apt archive tree per suite with
// exactly the packages hosts need, copied from the real mirror.
type Mirror struct {
	Dir     string          `json:"-"`
	BaseKey string          `json:"base_key"`
	Created time.Time       `json:"created"`
	Updates []PendingUpdate `json:"updates"`
}

// Security lists the pending updates from bookworm-security.
func (m Mirror) Security() []PendingUpdate {
	var out []PendingUpdate
	for _, u := range m.Updates {
		if u.Archive == ArchiveSecurity {
			out = append(out, u)
		}
	}
	return out
}

// MirrorStats says what EnsureMirror had to do.
type MirrorStats struct {
	Built    bool
	Duration time.Duration
}

// suite is one real suite the mirror step copies from.
type suite struct {
	archive  string // lab directory
	codename string // bookworm, bookworm-security, bookworm-updates
	uri      string // the real mirror
}

func mirrorSuites() []suite {
	return []suite{
		{ArchiveDebian, baseSuite, debianMirror},
		{ArchiveSecurity, baseSuite + "-security", securityMirror},
		{ArchiveUpdates, baseSuite + "-updates", debianMirror},
	}
}

// listPrefix is the file-name prefix apt gives the lists of a suite.
func (s suite) listPrefix() string {
	u := strings.TrimPrefix(s.uri, "http://")
	return strings.ReplaceAll(u, "/", "_") + "_dists_" + s.codename + "_"
}

// EnsureMirror returns the mirror step's output for base: reused from the
// cache while younger than maxAge, made again otherwise. When the mirror
// cannot be reached, an older output is reused with a warning.
//
// The step runs in a throw-away overlay of the base in the root network
// namespace (the only place that reaches the mirror): it adds the
// bookworm, bookworm-security and bookworm-updates sources, lists what
// `apt-get -s dist-upgrade` would install, downloads exactly those
// versions, and writes a small archive per suite with Release files
// labelled as Debian's, so hosts see `Debian-Security:12/oldstable-security`.
func EnsureMirror(ctx context.Context, log *slog.Logger, cache string, base Base, maxAge time.Duration) (Mirror, MirrorStats, error) {
	start := time.Now()
	var st MirrorStats
	unlock, err := lockCache(ctx, cache)
	if err != nil {
		return Mirror{}, st, err
	}
	defer unlock()
	prev, prevErr := newestMirror(cache, base.Key)
	if prevErr == nil && time.Since(prev.Created) < maxAge {
		st.Duration = time.Since(start)
		return prev, st, nil
	}
	m, err := buildMirror(ctx, log, cache, base)
	if err != nil {
		if prevErr == nil {
			log.Warn("lab: mirror step failed, reusing an older output", "err", err, "created", prev.Created)
			st.Duration = time.Since(start)
			return prev, st, nil
		}
		return Mirror{}, st, fmt.Errorf("mirror step: %w", err)
	}
	pruneMirrors(log, cache, base.Key, m.Dir)
	st.Built = true
	st.Duration = time.Since(start)
	log.Info("lab: mirror step done", "updates", len(m.Updates), "security", len(m.Security()), "duration", st.Duration.Round(time.Millisecond))
	return m, st, nil
}

func mirrorGlob(cache, baseKey string) string {
	return filepath.Join(cache, "mirror-"+baseKey+"-*")
}

// newestMirror loads the newest complete output for the base.
func newestMirror(cache, baseKey string) (Mirror, error) {
	dirs, err := filepath.Glob(mirrorGlob(cache, baseKey))
	if err != nil {
		return Mirror{}, err
	}
	sort.Sort(sort.Reverse(sort.StringSlice(dirs))) // names end in a unix time
	for _, d := range dirs {
		data, err := os.ReadFile(filepath.Join(d, "manifest.json"))
		if err != nil {
			continue
		}
		var m Mirror
		if err := json.Unmarshal(data, &m); err != nil {
			continue
		}
		m.Dir = d
		return m, nil
	}
	return Mirror{}, fs.ErrNotExist
}

// pruneMirrors removes the outputs older than keep. Labs hold hard links
// (or copies) of what they serve, so this never breaks a running lab.
func pruneMirrors(log *slog.Logger, cache, baseKey, keep string) {
	dirs, _ := filepath.Glob(mirrorGlob(cache, baseKey))
	for _, d := range dirs {
		if d != keep {
			if err := os.RemoveAll(d); err != nil {
				log.Warn("lab: prune mirror output", "dir", d, "err", err)
			}
		}
	}
}

// instRE matches an "Inst" line of `apt-get -s`:
// Inst perl-base [5.36.0-7+deb12u3] (5.36.0-7+deb12u4 Debian-Security:12/oldstable-security [amd64])
var instRE = regexp.MustCompile(`^Inst (\S+) (?:\[(\S+)\] )?\((\S+) (.*?) \[[^\]]+\]\)`)

// parsePlan reads the updates from `apt-get -s dist-upgrade` output.
func parsePlan(out []byte) []PendingUpdate {
	var ups []PendingUpdate
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		m := instRE.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		u := PendingUpdate{Name: m[1], From: m[2], To: m[3], Origin: m[4], Archive: ArchiveDebian}
		switch {
		case strings.Contains(u.Origin, "Debian-Security:"):
			u.Archive = ArchiveSecurity
		case strings.Contains(u.Origin, "-updates"):
			u.Archive = ArchiveUpdates
		}
		ups = append(ups, u)
	}
	return ups
}

// buildMirror runs the mirror step. The caller holds the cache lock.
func buildMirror(ctx context.Context, log *slog.Logger, cache string, base Base) (Mirror, error) {
	created := time.Now().UTC()
	scratch := filepath.Join(cache, "tmp", fmt.Sprintf("mirror-%d", os.Getpid()))
	if err := os.RemoveAll(scratch); err != nil {
		return Mirror{}, err
	}
	defer os.RemoveAll(scratch)
	ov := overlayDirs{lower: base.Rootfs, upper: filepath.Join(scratch, "upper"), work: filepath.Join(scratch, "work"), merged: filepath.Join(scratch, "root")}
	for _, d := range []string{ov.upper, ov.work, ov.merged} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return Mirror{}, err
		}
	}
	upper, err := os.OpenRoot(ov.upper)
	if err != nil {
		return Mirror{}, err
	}
	defer upper.Close()
	var src strings.Builder
	for _, s := range mirrorSuites() {
		fmt.Fprintf(&src, "deb %s %s main\n", s.uri, s.codename)
	}
	resolv, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		return Mirror{}, fmt.Errorf("read machine resolv.conf: %w", err)
	}
	if err := writeInRoot(upper, "/etc/apt/sources.list", []byte(src.String()), 0o644); err != nil {
		return Mirror{}, err
	}
	if err := writeInRoot(upper, "/etc/resolv.conf", resolv, 0o644); err != nil {
		return Mirror{}, err
	}

	// Phase 1: update from the real mirror, plan, list what is installed.
	start := time.Now()
	if _, err := ov.chroot(ctx, "/bin/sh", "-c", `set -e
apt-get update -q --error-on=any >/var/tmp/lab-update.log 2>&1 || { cat /var/tmp/lab-update.log >&2; exit 1; }
apt-get -s -q dist-upgrade >/var/tmp/lab-plan
dpkg-query -W -f '${Package}\t${Version}\n' >/var/tmp/lab-installed`); err != nil {
		return Mirror{}, fmt.Errorf("plan: %w", err)
	}
	plan, err := upper.ReadFile("var/tmp/lab-plan")
	if err != nil {
		return Mirror{}, err
	}
	ups := parsePlan(plan)
	log.Info("lab: mirror plan", "updates", len(ups), "duration", time.Since(start).Round(time.Millisecond))

	// Phase 2: download exactly those versions.
	if len(ups) > 0 {
		argv := []string{"/bin/sh", "-c", `set -e; mkdir -p /var/tmp/lab-dl; cd /var/tmp/lab-dl; apt-get download -q "$@"`, "sh"}
		for _, u := range ups {
			argv = append(argv, u.Name+"="+u.To)
		}
		if _, err := ov.chroot(ctx, argv...); err != nil {
			return Mirror{}, fmt.Errorf("download: %w", err)
		}
	}

	out := filepath.Join(cache, "tmp", fmt.Sprintf("mirror-out-%d", os.Getpid()))
	if err := os.RemoveAll(out); err != nil {
		return Mirror{}, err
	}
	defer os.RemoveAll(out)
	if err := writeArchives(ctx, ov.upper, out, ups); err != nil {
		return Mirror{}, err
	}
	m := Mirror{BaseKey: base.Key, Created: created, Updates: ups}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return Mirror{}, err
	}
	if err := os.WriteFile(filepath.Join(out, "manifest.json"), append(data, '\n'), 0o644); err != nil {
		return Mirror{}, err
	}
	m.Dir = filepath.Join(cache, fmt.Sprintf("mirror-%s-%d", base.Key, created.Unix()))
	if err := os.Rename(out, m.Dir); err != nil {
		return Mirror{}, err
	}
	return m, nil
}

// writeArchives lays out the three archives under out from the scratch
// overlay's upper dir (lists and downloaded .debs).
func writeArchives(ctx context.Context, upper, out string, ups []PendingUpdate) error {
	lists := filepath.Join(upper, "var/lib/apt/lists")
	dl := filepath.Join(upper, "var/tmp/lab-dl")
	arch := debArch()
	byName := map[string]PendingUpdate{}
	for _, u := range ups {
		byName[u.Name] = u
	}
	// Which downloaded file is which package.
	debs, _ := filepath.Glob(filepath.Join(dl, "*.deb"))
	files := map[string]string{} // name → path
	for _, d := range debs {
		f, err := runArgs(ctx, "dpkg-deb", "-f", d, "Package")
		if err != nil {
			return err
		}
		files[strings.TrimSpace(string(f))] = d
	}
	for _, u := range ups {
		if files[u.Name] == "" {
			return fmt.Errorf("apt-get download gave no file for %s %s", u.Name, u.To)
		}
	}
	installed, err := os.ReadFile(filepath.Join(upper, "var/tmp/lab-installed"))
	if err != nil {
		return err
	}
	keep := map[string]bool{} // "name version" of the bookworm stanzas hosts need
	for _, line := range strings.Split(string(installed), "\n") {
		if n, v, ok := strings.Cut(line, "\t"); ok {
			keep[n+" "+v] = true
		}
	}
	for _, u := range ups {
		if u.Archive == ArchiveDebian {
			keep[u.Name+" "+u.To] = true
		}
	}

	for _, s := range mirrorSuites() {
		root := filepath.Join(out, s.archive)
		dist := filepath.Join(root, "dists", s.codename)
		pkgDir := filepath.Join(dist, "main", "binary-"+arch)
		if err := os.MkdirAll(pkgDir, 0o755); err != nil {
			return err
		}
		fields, err := readReleaseFields(filepath.Join(lists, s.listPrefix()+"InRelease"))
		if err != nil {
			return err
		}
		fields.Architectures, fields.Components = arch, "main"
		var packages []byte
		if s.archive == ArchiveDebian {
			// The real index, cut to the installed versions (and new
			// dependencies): hosts see where their packages come from.
			packages, err = filterPackages(filepath.Join(lists, s.listPrefix()+"main_binary-"+arch+"_Packages"), keep)
			if err != nil {
				return err
			}
			for _, u := range ups {
				if u.Archive != ArchiveDebian {
					continue
				}
				fn, err := stanzaFilename(packages, u.Name, u.To)
				if err != nil {
					return err
				}
				if err := linkOrCopy(files[u.Name], filepath.Join(root, fn)); err != nil {
					return err
				}
			}
		} else {
			pool := filepath.Join(root, "pool", "main")
			if err := os.MkdirAll(pool, 0o755); err != nil {
				return err
			}
			for _, u := range ups {
				if u.Archive == s.archive {
					if err := linkOrCopy(files[u.Name], filepath.Join(pool, filepath.Base(files[u.Name]))); err != nil {
						return err
					}
				}
			}
			packages, err = run(ctx, command{argv: []string{"apt-ftparchive", "packages", "pool"}, dir: root})
			if err != nil {
				return err
			}
		}
		if err := os.WriteFile(filepath.Join(pkgDir, "Packages"), packages, 0o644); err != nil {
			return err
		}
		rel, err := run(ctx, command{argv: releaseArgv(fields), dir: dist})
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dist, "Release"), rel, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// readReleaseFields reads the fields apt shows as an origin from a real
// InRelease file.
func readReleaseFields(path string) (releaseFields, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return releaseFields{}, fmt.Errorf("read release: %w", err)
	}
	var f releaseFields
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "-----BEGIN PGP SIGNATURE") {
			break
		}
		k, v, ok := strings.Cut(line, ": ")
		if !ok || strings.HasPrefix(line, " ") {
			continue
		}
		switch k {
		case "Origin":
			f.Origin = v
		case "Label":
			f.Label = v
		case "Suite":
			f.Suite = v
		case "Codename":
			f.Codename = v
		case "Version":
			f.Version = v
		}
	}
	if f.Origin == "" || f.Suite == "" || f.Codename == "" {
		return f, fmt.Errorf("read release %s: no Origin, Suite or Codename", filepath.Base(path))
	}
	return f, nil
}

// filterPackages returns the stanzas of a Packages file whose
// "name version" is in keep.
func filterPackages(path string, keep map[string]bool) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read packages index: %w", err)
	}
	defer f.Close()
	var out bytes.Buffer
	r := bufio.NewReaderSize(f, 1<<20)
	var stanza bytes.Buffer
	var name, version string
	flush := func() {
		if keep[name+" "+version] {
			out.Write(stanza.Bytes())
			out.WriteByte('\n')
		}
		stanza.Reset()
		name, version = "", ""
	}
	for {
		line, err := r.ReadString('\n')
		if line == "\n" || (err == io.EOF && line == "") {
			flush()
		} else {
			stanza.WriteString(line)
			if !strings.HasSuffix(line, "\n") {
				stanza.WriteByte('\n')
			}
			if v, ok := strings.CutPrefix(line, "Package: "); ok {
				name = strings.TrimSpace(v)
			} else if v, ok := strings.CutPrefix(line, "Version: "); ok {
				version = strings.TrimSpace(v)
			}
		}
		if err == io.EOF {
			if stanza.Len() > 0 {
				flush()
			}
			return out.Bytes(), nil
		}
		if err != nil {
			return nil, fmt.Errorf("read packages index: %w", err)
		}
	}
}

// stanzaFilename finds the Filename field of name/version in a Packages
// text.
func stanzaFilename(packages []byte, name, version string) (string, error) {
	for _, st := range strings.Split(string(packages), "\n\n") {
		if strings.Contains(st, "Package: "+name+"\n") && strings.Contains(st, "Version: "+version+"\n") {
			for _, line := range strings.Split(st, "\n") {
				if v, ok := strings.CutPrefix(line, "Filename: "); ok {
					return v, nil
				}
			}
		}
	}
	return "", fmt.Errorf("no Filename for %s %s in the bookworm index", name, version)
}

// linkOrCopy hard-links src at dst (creating dst's directory), copying when
// they are on different file systems.
func linkOrCopy(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	outF, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(outF, in); err != nil {
		outF.Close()
		return err
	}
	return outF.Close()
}

// linkTree mirrors the tree src at dst with hard links (or copies).
func linkTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return errors.New("mirror output holds a non-regular file: " + p)
		}
		return linkOrCopy(p, target)
	})
}

// debArch is the Debian architecture of this machine (Go and Debian agree
// on the names of the ones that matter).
func debArch() string { return runtime.GOARCH }

// overlayDirs is a throw-away overlay of the base image.
type overlayDirs struct{ lower, upper, work, merged string }

// chroot runs argv chrooted in a fresh mount of the overlay, in a private
// mount and PID namespace of the root network namespace: the overlay and
// every other mount vanish with the command, even if the lab is killed.
func (o overlayDirs) chroot(ctx context.Context, argv ...string) ([]byte, error) {
	full := append([]string{"unshare", "--pid", "--fork", "--kill-child", "--mount", "--uts", "--propagation", "private", "--",
		"/bin/sh", "-c", bootScript, "sh", o.merged, o.lower, o.upper, o.work, "lab-mirror", newUUID(), "", "--"}, argv...)
	return run(ctx, command{argv: full, env: []string{"DEBIAN_FRONTEND=noninteractive", "HOME=/root"}, timeout: 15 * time.Minute})
}
