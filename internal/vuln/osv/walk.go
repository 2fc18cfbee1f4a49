package osv

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/patchbay/patchbay"
)

// maxDocument bounds one OSV document; the largest real ones (Ubuntu
// records with dozens of releases) are well under 1 MiB.
const maxDocument = 16 << 20

// Walk parses every advisory at path and calls fn with each, in a stable
// order (file names, sorted). path is one JSON file, a directory (every
// *.json below it, recursively), or a zip file in osv.dev's all.zip layout
// (recognised by its content, not its name). It stops at the first error of
// parsing or of fn, naming the file.
func Walk(ctx context.Context, path string, fn func(patchbay.Advisory) error) error {
	info, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("read advisories: %w", err)
	}
	if info.IsDir() {
		return walkDir(ctx, path, fn)
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read advisories: %w", err)
	}
	defer f.Close()
	magic := make([]byte, 4)
	if _, err := io.ReadFull(f, magic); err == nil && bytes.Equal(magic, []byte("PK\x03\x04")) {
		return WalkZip(ctx, f, info.Size(), fn)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("read advisories: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxDocument+1))
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return parseOne(path, data, fn)
}

func walkDir(ctx context.Context, dir string, fn func(patchbay.Advisory) error) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("read advisories: %w", err)
		}
		if d.IsDir() || !strings.HasSuffix(d.Name(), ".json") {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("read advisories: %w", err)
		}
		return parseOne(p, data, fn)
	})
}

// WalkZip parses every *.json member of a zip (osv.dev's per-ecosystem
// all.zip: one advisory per member) and calls fn with each, in the zip's
// order.
func WalkZip(ctx context.Context, r io.ReaderAt, size int64, fn func(patchbay.Advisory) error) error {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return fmt.Errorf("read advisories zip: %w", err)
	}
	for _, zf := range zr.File {
		if zf.FileInfo().IsDir() || !strings.HasSuffix(zf.Name, ".json") {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		data, err := readMember(zf)
		if err != nil {
			return err
		}
		if err := parseOne(zf.Name, data, fn); err != nil {
			return err
		}
	}
	return nil
}

func readMember(zf *zip.File) ([]byte, error) {
	rc, err := zf.Open()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", zf.Name, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxDocument+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", zf.Name, err)
	}
	return data, nil
}

func parseOne(name string, data []byte, fn func(patchbay.Advisory) error) error {
	if len(data) > maxDocument {
		return fmt.Errorf("read %s: larger than %d bytes", name, maxDocument)
	}
	adv, err := Parse(data)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return fn(adv)
}

// Fetch downloads url with a conditional GET: etag and lastModified are the
// validators of the previous download ("" when there is none). When the
// server answers 304 Not Modified, notModified is true and body is nil, and
// the validators given are returned unchanged. Otherwise body is the new
// content, which the caller reads and closes, with its new validators. Any
// status other than 200 and 304 is an error.
func Fetch(ctx context.Context, client *http.Client, url, etag, lastModified string) (body io.ReadCloser, newETag, newLastModified string, notModified bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, "", "", false, fmt.Errorf("fetch advisories: %w", err)
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	if lastModified != "" {
		req.Header.Set("If-Modified-Since", lastModified)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, "", "", false, fmt.Errorf("fetch advisories: %w", err)
	}
	switch resp.StatusCode {
	case http.StatusNotModified:
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		return nil, etag, lastModified, true, nil
	case http.StatusOK:
		return resp.Body, resp.Header.Get("ETag"), resp.Header.Get("Last-Modified"), false, nil
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return nil, "", "", false, fmt.Errorf("fetch advisories %s: %s", url, resp.Status)
}
