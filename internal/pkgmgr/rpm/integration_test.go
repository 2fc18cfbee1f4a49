package rpm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/pkgmgr"
	"github.com/patchbay/patchbay/internal/pkgmgr/osexec"
)

// rpmLab is a real RPM "host" in a temporary directory: dummy packages
// built with rpmbuild, a file:// repository and an installroot that dnf
// itself installs into, as testdata/capture.sh builds, smaller.
type rpmLab struct {
	t    *testing.T
	dir  string
	root string
	repo string
	args []string // dnf options that point at the lab
}

func newRPMLab(t *testing.T) *rpmLab {
	requireTools(t, "rpm", "rpmbuild", "dnf", "createrepo_c", "modifyrepo_c")
	dir := t.TempDir()
	l := &rpmLab{t: t, dir: dir, root: filepath.Join(dir, "root"), repo: filepath.Join(dir, "repo")}
	for _, d := range []string{l.root, l.repo, filepath.Join(dir, "specs")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Debian's rpm and dnf keep the rpmdb in ~/.rpmdb inside the root;
	// they agree, so no --dbpath. "local" and "show-leaves" are plugins
	// of Debian's dnf-plugins-core that a RHEL host does not run.
	l.args = []string{"--releasever=9", "--repofrompath=lab,file://" + l.repo, "--setopt=lab.gpgcheck=0",
		"--setopt=reposdir=/nonexistent", "--disableplugin=local", "--disableplugin=show-leaves"}
	return l
}

// run runs a lab command through the real runner and fails on a non-zero
// exit.
func (l *rpmLab) run(path string, args ...string) pkgmgr.Result {
	l.t.Helper()
	res, err := osexec.Runner{}.Run(context.Background(), pkgmgr.Cmd{Path: path, Args: args, Timeout: 2 * time.Minute})
	if err != nil || res.ExitCode != 0 {
		l.t.Fatalf("%s %s: %v, exit %d\n%s%s", path, strings.Join(args, " "), err, res.ExitCode, res.Stdout, res.Stderr)
	}
	return res
}

func (l *rpmLab) dnf(args ...string) pkgmgr.Result {
	l.t.Helper()
	return l.run("dnf", append(append([]string{"--installroot=" + l.root}, l.args...), args...)...)
}

// build makes NAME-VERSION-RELEASE.ARCH.rpm; epoch "" for none.
func (l *rpmLab) build(name, epoch, version, release, arch string) {
	l.t.Helper()
	spec := fmt.Sprintf("Name: %s\nVersion: %s\nRelease: %s\nSummary: lab\nLicense: MIT\nBuildArch: %s\n", name, version, release, arch)
	if epoch != "" {
		spec += "Epoch: " + epoch + "\n"
	}
	spec += "%description\nlab\n%files\n"
	f := filepath.Join(l.dir, "specs", name+"-"+version+"-"+release+".spec")
	if err := os.WriteFile(f, []byte(spec), 0o644); err != nil {
		l.t.Fatal(err)
	}
	l.run("rpmbuild", "--quiet", "--define", "_topdir "+filepath.Join(l.dir, "build"), "-bb", f)
}

// publish copies built packages into the repository and updates its
// metadata.
func (l *rpmLab) publish(files ...string) {
	l.t.Helper()
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(l.dir, "build", "RPMS", f))
		if err != nil {
			l.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(l.repo, filepath.Base(f)), b, 0o644); err != nil {
			l.t.Fatal(err)
		}
	}
	l.run("createrepo_c", "--quiet", "--update", l.repo)
}

func TestIntegrationDNF(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIPPED: builds a real dnf lab (about 10 s); not run with -short")
	}
	l := newRPMLab(t)
	if res, err := (osexec.Runner{}).Run(context.Background(), pkgmgr.Cmd{Path: "dnf", Args: []string{"needs-restarting", "--help"}, Timeout: time.Minute}); err != nil || res.ExitCode != 0 {
		missingTool(t, "dnf-plugins-core (dnf needs-restarting)")
	}
	ctx := context.Background()
	l.build("demo-app", "", "1.0", "1.el9", "noarch")
	l.build("demo-app", "", "1.0", "2.el9", "noarch")
	l.build("demo-epoch", "2", "3.1", "1.el9", "noarch")
	l.build("demo-epoch", "2", "3.2", "1.el9", "noarch")
	l.build("demo-zero-epoch", "0", "1.0", "1.el9", "x86_64")
	l.build("kernel", "", "5.14.0", "1.el9", "x86_64")
	l.build("kernel", "", "5.14.0", "2.el9", "x86_64")
	l.build("kernel", "", "5.14.0", "3.el9", "x86_64")
	l.publish("noarch/demo-app-1.0-1.el9.noarch.rpm", "noarch/demo-epoch-3.1-1.el9.noarch.rpm",
		"x86_64/demo-zero-epoch-1.0-1.el9.x86_64.rpm", "x86_64/kernel-5.14.0-1.el9.x86_64.rpm", "x86_64/kernel-5.14.0-2.el9.x86_64.rpm")
	l.dnf("-y", "-q", "install", "demo-app", "demo-epoch", "demo-zero-epoch", "kernel-5.14.0-1.el9")
	l.dnf("-y", "-q", "install", "kernel-5.14.0-2.el9")

	m := New(l.root, osexec.Runner{}, Options{Tool: "dnf", ExtraArgs: l.args})
	if m.Name() != "dnf" {
		t.Errorf("Name() = %q", m.Name())
	}

	// Updates reads only the cache: without one (dnf install made one; it
	// is removed) it must fail, not report "no updates".
	if err := os.RemoveAll(filepath.Join(l.root, "var/cache/dnf")); err != nil {
		t.Fatal(err)
	}
	if u, err := m.Updates(ctx); err == nil {
		t.Errorf("Updates before Refresh: no error, %+v", u)
	}

	pkgs, err := m.Packages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p := func(name, arch, version string) patchbay.Package {
		return patchbay.Package{Name: name, Arch: arch, Version: version, SourceName: name, SourceVersion: version}
	}
	want := []patchbay.Package{
		p("demo-app", "noarch", "1.0-1.el9"),
		p("demo-epoch", "noarch", "2:3.1-1.el9"),
		p("demo-zero-epoch", "x86_64", "1.0-1.el9"),
		p("kernel", "x86_64", "5.14.0-2.el9"),
	}
	if diff := cmp.Diff(want, pkgs); diff != "" {
		t.Errorf("Packages -want +got:\n%s", diff)
	}
	checkAgainstRPMQuery(t, l, pkgs)

	// Publish the updates and a security advisory for two of them.
	l.publish("noarch/demo-app-1.0-2.el9.noarch.rpm", "noarch/demo-epoch-3.2-1.el9.noarch.rpm", "x86_64/kernel-5.14.0-3.el9.x86_64.rpm")
	updateinfo := `<?xml version="1.0" encoding="UTF-8"?>
<updates>
  <update from="lab" status="final" type="security" version="1">
    <id>LAB-2026:0001</id><title>lab</title><severity>Important</severity>
    <issued date="2026-01-15 00:00:00"/><description>lab</description>
    <pkglist><collection short="lab"><name>lab</name>
      <package name="demo-app" epoch="0" version="1.0" release="2.el9" arch="noarch" src="demo-app-1.0-2.el9.src.rpm"><filename>demo-app-1.0-2.el9.noarch.rpm</filename></package>
      <package name="kernel" epoch="0" version="5.14.0" release="3.el9" arch="x86_64" src="kernel-5.14.0-3.el9.src.rpm"><filename>kernel-5.14.0-3.el9.x86_64.rpm</filename></package>
    </collection></pkglist>
  </update>
</updates>
`
	uiFile := filepath.Join(l.dir, "updateinfo.xml")
	if err := os.WriteFile(uiFile, []byte(updateinfo), 0o644); err != nil {
		t.Fatal(err)
	}
	l.run("modifyrepo_c", "--mdtype=updateinfo", uiFile, filepath.Join(l.repo, "repodata"))

	if err := m.Refresh(ctx); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	updates, err := m.Updates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantUpdates := []patchbay.Update{
		{Name: "demo-app", Arch: "noarch", InstalledVersion: "1.0-1.el9", CandidateVersion: "1.0-2.el9", Origin: "lab", Security: true},
		{Name: "demo-epoch", Arch: "noarch", InstalledVersion: "2:3.1-1.el9", CandidateVersion: "2:3.2-1.el9", Origin: "lab"},
		{Name: "kernel", Arch: "x86_64", InstalledVersion: "5.14.0-2.el9", CandidateVersion: "5.14.0-3.el9", Origin: "lab", Security: true},
	}
	if diff := cmp.Diff(wantUpdates, updates); diff != "" {
		t.Errorf("Updates -want +got:\n%s", diff)
	}

	// The kernels were installed after this machine booted.
	reboot, reasons, err := m.RebootRequired(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reboot || !cmp.Equal(reasons, []string{"kernel updated since boot"}) {
		t.Errorf("RebootRequired = %v %q, want true [kernel updated since boot]", reboot, reasons)
	}

	// Without the plugin: the running kernel against the newest installed.
	for _, tt := range []struct {
		running string
		want    bool
	}{{"5.14.0-1.el9.x86_64", true}, {"5.14.0-2.el9.x86_64", false}} {
		noPlugin := New(l.root, osexec.Runner{}, Options{Tool: "dnf", ExtraArgs: append(l.args[:len(l.args):len(l.args)], "--disableplugin=needs-restarting"),
			RunningKernel: func(context.Context) (string, error) { return tt.running, nil }})
		reboot, reasons, err := noPlugin.RebootRequired(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if reboot != tt.want {
			t.Errorf("running %s: RebootRequired = %v %q, want %v", tt.running, reboot, reasons, tt.want)
		}
	}

	// A repository that cannot be read fails Refresh and Updates.
	broken := New(l.root, osexec.Runner{}, Options{Tool: "dnf", ExtraArgs: append(l.args[:len(l.args):len(l.args)],
		"--repofrompath=gone,file://"+filepath.Join(l.dir, "missing"), "--setopt=gone.gpgcheck=0")})
	if err := broken.Refresh(ctx); err == nil || !strings.Contains(err.Error(), "gone") {
		t.Errorf("Refresh with a missing repository: %v, want an error naming it", err)
	}
	if _, err := broken.Updates(ctx); err == nil {
		t.Error("Updates with a missing repository: no error")
	}

	// Once upgraded, nothing is pending.
	l.dnf("-y", "-q", "upgrade")
	updates, err = m.Updates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(updates) != 0 {
		t.Errorf("after upgrade: %+v", updates)
	}
}

// checkAgainstRPMQuery compares Packages with rpm's own answer in another
// format: every name.arch rpm knows (less gpg-pubkey) is listed once, with
// the newest of rpm's versions for it.
func checkAgainstRPMQuery(t *testing.T, l *rpmLab, pkgs []patchbay.Package) {
	t.Helper()
	res := l.run("rpm", "--root", l.root, "-qa", "--queryformat", "%{NAME}.%{ARCH} %{EPOCHNUM} %{VERSION}-%{RELEASE}\n")
	versions := map[string][]string{}
	for line := range strings.Lines(string(res.Stdout)) {
		f := strings.Fields(line)
		if len(f) != 3 {
			t.Fatalf("rpm printed %q", line)
		}
		if strings.HasPrefix(f[0], "gpg-pubkey.") {
			continue
		}
		v := f[2]
		if f[1] != "0" {
			v = f[1] + ":" + v
		}
		versions[f[0]] = append(versions[f[0]], v)
	}
	if len(pkgs) != len(versions) {
		t.Errorf("Packages lists %d name.arch, rpm %d", len(pkgs), len(versions))
	}
	for _, p := range pkgs {
		vs := versions[p.Name+"."+p.Arch]
		found := false
		for _, v := range vs {
			found = found || v == p.Version
			if c, err := CompareVersions(v, p.Version); err != nil || c > 0 {
				t.Errorf("%s: rpm has %s, newer than the listed %s (%v)", p.Key(), v, p.Version, err)
			}
		}
		if !found {
			t.Errorf("%s %s: not among rpm's versions %q", p.Key(), p.Version, vs)
		}
	}
}
