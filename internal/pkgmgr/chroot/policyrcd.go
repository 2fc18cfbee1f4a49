package chroot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

const (
	// PolicyRCD is where invoke-rc.d and deb-systemd-invoke look for the
	// policy that decides whether a maintainer script may start a service
	// (Debian's policy-rc.d interface).
	PolicyRCD = "usr/sbin/policy-rc.d"
	// savedSuffix names the image's own policy-rc.d while ours is in
	// place.
	savedSuffix = ".patchbay-saved"
	// denyAll is a policy-rc.d that forbids every action: exit 101.
	denyAll = "#!/bin/sh\n# Written by the Patchbay agent while it patches this image offline; removed afterwards.\nexit 101\n"
)

// NoServices puts a policy-rc.d into the root filesystem at root that
// forbids every service action (exit 101), so that packages installed in
// the image start no daemon, and returns the function that puts back what
// was there: the image's own policy-rc.d, or nothing.
//
// The image's own file is kept beside ours (policy-rc.d.patchbay-saved)
// until restore. If a run was killed before restoring, the next call finds
// the saved file, keeps it as the image's own, and restore puts it back:
// the image never loses its file, and meanwhile ours (deny everything)
// stays, the safe side. Paths are resolved inside root (os.Root), so a
// symbolic link in the image cannot make this write outside it.
func NoServices(root string) (restore func() error, err error) {
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("open image root: %w", err)
	}
	saved := PolicyRCD + savedSuffix
	hadSaved := false
	if _, err := r.Lstat(saved); err == nil {
		hadSaved = true // a killed run's: the image's own file
	} else if !errors.Is(err, fs.ErrNotExist) {
		r.Close()
		return nil, fmt.Errorf("policy-rc.d: %w", err)
	}
	if !hadSaved {
		switch err := r.Rename(PolicyRCD, saved); {
		case err == nil:
			hadSaved = true
		case errors.Is(err, fs.ErrNotExist):
		default:
			r.Close()
			return nil, fmt.Errorf("keep the image's policy-rc.d: %w", err)
		}
	}
	if err := r.MkdirAll(filepath.Dir(PolicyRCD), 0o755); err != nil {
		r.Close()
		return nil, fmt.Errorf("policy-rc.d: %w", err)
	}
	if err := writeIn(r, PolicyRCD, denyAll); err != nil {
		r.Close()
		return nil, fmt.Errorf("write policy-rc.d: %w", err)
	}
	return func() error {
		defer r.Close()
		if hadSaved {
			if err := r.Rename(saved, PolicyRCD); err != nil {
				return fmt.Errorf("restore the image's policy-rc.d: %w", err)
			}
			return nil
		}
		if err := r.Remove(PolicyRCD); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove policy-rc.d: %w", err)
		}
		return nil
	}, nil
}

// writeIn writes an executable file atomically (temporary file, rename).
func writeIn(r *os.Root, name, content string) error {
	tmp := name + ".patchbay-tmp"
	f, err := r.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		r.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		r.Remove(tmp)
		return err
	}
	return r.Rename(tmp, name)
}
