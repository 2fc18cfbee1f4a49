package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultCacheDir holds the base image and the mirror step's output across
// lab runs, unless PATCHBAY_LAB_CACHE or Options.CacheDir says otherwise.
const DefaultCacheDir = "/var/cache/patchbay-lab"

// CacheDirEnv names the environment variable that overrides DefaultCacheDir.
const CacheDirEnv = "PATCHBAY_LAB_CACHE"

// CacheDir resolves the cache directory: explicit, then environment, then
// default.
func CacheDir(explicit string) string {
	if explicit != "" {
		return explicit
	}
	if d := os.Getenv(CacheDirEnv); d != "" {
		return d
	}
	return DefaultCacheDir
}

// lockCache takes an exclusive lock on the cache directory, so concurrent
// labs (two test packages) do not build the same image twice. The returned
// func releases it.
func lockCache(ctx context.Context, dir string) (func(), error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create cache dir: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open cache lock: %w", err)
	}
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			// Builds happen under the lock: whatever tmp holds now was
			// left by a killed build.
			if err := os.RemoveAll(filepath.Join(dir, "tmp")); err != nil {
				f.Close()
				return nil, fmt.Errorf("clean cache tmp: %w", err)
			}
			return func() { f.Close() }, nil
		}
		if err != unix.EWOULDBLOCK {
			f.Close()
			return nil, fmt.Errorf("lock cache: %w", err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("lock cache: %w", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
