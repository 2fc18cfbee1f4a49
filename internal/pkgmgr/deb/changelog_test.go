package deb

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/pkgmgr/osexec"
)

// realChangelog is a real Debian changelog (pcre2 10.42-1+deb12u2, from
// the changelog parser's test data).
func realChangelog(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("../../vuln/changelog/testdata/pcre2.changelog")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// tarEntry is one file of a package tree: a regular file with body, a
// directory (body nil, no link) or a symlink.
type tarEntry struct {
	name, link string
	body       []byte
}

// packageTar builds a file tree as dpkg-deb --fsys-tarfile prints one
// ("./usr/share/doc/..." names).
func packageTar(t testing.TB, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Typeflag: tar.TypeReg, Size: int64(len(e.body))}
		switch {
		case e.link != "":
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, e.link, 0
		case e.body == nil:
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		}
		if err := w.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			w.Write(e.body)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestExtractChangelog(t *testing.T) {
	real := realChangelog(t)
	upstream := []byte("2022-12-11 Version 10.42\n  upstream notes, not a Debian changelog\n")
	long := bytes.Repeat([]byte("  * a line of forty characters or so...\n"), 200)
	cut := long[:bytes.LastIndexByte(long[:1000], '\n')+1]
	tests := []struct {
		name    string
		tar     []byte
		max     int
		want    extracted
		wantErr string
	}{
		{name: "changelog.Debian.gz preferred to the upstream changelog.gz",
			tar: packageTar(t, tarEntry{name: "./"}, tarEntry{name: "./usr/share/doc/libpcre2-8-0/"},
				tarEntry{name: "./usr/share/doc/libpcre2-8-0/changelog.gz", body: gz(t, upstream)},
				tarEntry{name: "./usr/share/doc/libpcre2-8-0/changelog.Debian.gz", body: gz(t, real)}),
			want: extracted{path: "usr/share/doc/libpcre2-8-0/changelog.Debian.gz", text: string(real)}},
		{name: "a native package's changelog.gz",
			tar:  packageTar(t, tarEntry{name: "./usr/share/doc/libpcre2-8-0/changelog.gz", body: gz(t, real)}),
			want: extracted{path: "usr/share/doc/libpcre2-8-0/changelog.gz", text: string(real)}},
		{name: "doc directory linked to another package's",
			tar:  packageTar(t, tarEntry{name: "./usr/share/doc/libpcre2-8-0", link: "libpcre2-common"}),
			want: extracted{link: "libpcre2-common"}},
		{name: "doc directory linked by an absolute path",
			tar:  packageTar(t, tarEntry{name: "./usr/share/doc/libpcre2-8-0", link: "/usr/share/doc/libpcre2-common"}),
			want: extracted{link: "libpcre2-common"}},
		{name: "changelog file linked into another package's doc directory",
			tar:  packageTar(t, tarEntry{name: "./usr/share/doc/libpcre2-8-0/changelog.Debian.gz", link: "../libpcre2-common/changelog.Debian.gz"}),
			want: extracted{link: "libpcre2-common"}},
		{name: "doc directory linked outside usr/share/doc",
			tar:     packageTar(t, tarEntry{name: "./usr/share/doc/libpcre2-8-0", link: "../../../etc"}),
			wantErr: "outside usr/share/doc"},
		{name: "another package's changelog is not this one's",
			tar:     packageTar(t, tarEntry{name: "./usr/share/doc/other/changelog.Debian.gz", body: gz(t, real)}),
			wantErr: "ships no"},
		{name: "no changelog", tar: packageTar(t, tarEntry{name: "./usr/bin/x", body: []byte("x")}), wantErr: "ships no"},
		{name: "not gzip",
			tar:     packageTar(t, tarEntry{name: "./usr/share/doc/libpcre2-8-0/changelog.Debian.gz", body: real}),
			wantErr: "gzip"},
		{name: "cut at a line end after max bytes",
			tar: packageTar(t, tarEntry{name: "./usr/share/doc/libpcre2-8-0/changelog.Debian.gz", body: gz(t, long)}), max: 1000,
			want: extracted{path: "usr/share/doc/libpcre2-8-0/changelog.Debian.gz", text: string(cut), truncated: true}},
		{name: "not a tar", tar: []byte("garbage that is not a tar stream at all, but long enough........................................................................................................................................................................................................................................................................................................................................................................................................................................................................................................................"),
			wantErr: "read package files"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			max := tt.max
			if max == 0 {
				max = patchbay.MaxChangelogBytes
			}
			got, err := extractChangelog(bytes.NewReader(tt.tar), "libpcre2-8-0", max)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(extracted{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzExtractChangelog: whatever the tar stream, the text is at most max
// bytes, and a success is a changelog or a link, never neither.
func FuzzExtractChangelog(f *testing.F) {
	real := realChangelog(f)
	f.Add(packageTar(f, tarEntry{name: "./usr/share/doc/p/changelog.Debian.gz", body: gz(f, real)}))
	f.Add(packageTar(f, tarEntry{name: "./usr/share/doc/p", link: "q"}))
	f.Add(packageTar(f, tarEntry{name: "./usr/share/doc/p/changelog.gz", link: "../q/changelog.gz"}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		const max = 4096
		got, err := extractChangelog(bytes.NewReader(data), "p", max)
		if err != nil {
			return
		}
		if len(got.text) > max {
			t.Fatalf("text of %d bytes, max %d", len(got.text), max)
		}
		if (got.path == "") == (got.link == "") {
			t.Fatalf("want exactly one of a changelog and a link: %+v", got)
		}
		if got.link != "" && (!validName(got.link) && strings.ContainsAny(got.link, "/") || got.link == "p") {
			t.Fatalf("link %q", got.link)
		}
	})
}

// buildDeb builds a real .deb with dpkg-deb: package name at version,
// built from source (a "Source: src (version)" field when they differ),
// shipping changelog as usr/share/doc/NAME/changelog.Debian.gz.
func buildDeb(t *testing.T, name, version, source string, changelog []byte) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), name)
	doc := filepath.Join(root, "usr/share/doc", name)
	for _, d := range []string{filepath.Join(root, "DEBIAN"), doc} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	control := "Package: " + name + "\nVersion: " + version + "\nArchitecture: all\nMaintainer: Patchbay Tests <tests@example.org>\n"
	if source != "" {
		control += "Source: " + source + "\n"
	}
	control += "Description: changelog test package\n"
	if err := os.WriteFile(filepath.Join(root, "DEBIAN/control"), []byte(control), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(doc, "changelog.Debian.gz"), gz(t, changelog), 0o644); err != nil {
		t.Fatal(err)
	}
	deb := root + ".deb"
	if out, err := exec.Command("dpkg-deb", "--root-owner-group", "--build", root, deb).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb --build: %v\n%s", err, out)
	}
	return deb
}

// TestReadDebReal: a real .deb built by dpkg-deb, read through real
// dpkg-deb: the changelog comes back byte for byte, with the package's
// source and source version from its control file.
func TestReadDebReal(t *testing.T) {
	real := realChangelog(t)
	m := New("/", osexec.Runner{})
	tests := []struct {
		name, pkg, version, source string
		want                       patchbay.ChangelogFile
	}{
		{name: "binary named apart from its source", pkg: "libpcre2-8-0", version: "10.42-1+deb12u2", source: "pcre2",
			want: patchbay.ChangelogFile{Package: "libpcre2-8-0", Version: "10.42-1+deb12u2", Source: "pcre2", SourceVersion: "10.42-1+deb12u2",
				Path: "usr/share/doc/libpcre2-8-0/changelog.Debian.gz", Text: string(real)}},
		{name: "binNMU: source version apart", pkg: "pcre2-utils", version: "10.42-1+deb12u2+b1", source: "pcre2 (10.42-1+deb12u2)",
			want: patchbay.ChangelogFile{Package: "pcre2-utils", Version: "10.42-1+deb12u2+b1", Source: "pcre2", SourceVersion: "10.42-1+deb12u2",
				Path: "usr/share/doc/pcre2-utils/changelog.Debian.gz", Text: string(real)}},
		{name: "no Source field", pkg: "pcre2", version: "10.42-1+deb12u2",
			want: patchbay.ChangelogFile{Package: "pcre2", Version: "10.42-1+deb12u2", Source: "pcre2", SourceVersion: "10.42-1+deb12u2",
				Path: "usr/share/doc/pcre2/changelog.Debian.gz", Text: string(real)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			deb := buildDeb(t, tt.pkg, tt.version, tt.source, real)
			got, link, err := m.readDeb(context.Background(), deb, tt.pkg)
			if err != nil {
				t.Fatal(err)
			}
			if link != "" {
				t.Errorf("link %q", link)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	t.Run("another package's .deb", func(t *testing.T) {
		deb := buildDeb(t, "pcre2", "10.42-1+deb12u2", "", real)
		if _, _, err := m.readDeb(context.Background(), deb, "libpcre2-8-0"); err == nil || !strings.Contains(err.Error(), "holds package") {
			t.Errorf("err = %v", err)
		}
	})
}
