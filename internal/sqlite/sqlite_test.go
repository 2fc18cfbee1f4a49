package sqlite

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/storetest"
)

// openTest opens a fresh database in a temporary directory.
func openTest(t testing.TB) *DB {
	t.Helper()
	db, err := Open(t.Context(), filepath.Join(t.TempDir(), "patchbay.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	return db
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) patchbay.Store { return openTest(t) })
}

// TestReopen checks that reopening a database keeps its data and applies
// no migration twice.
func TestReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "patchbay.db")
	db, err := Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok := patchbay.EnrollToken{ID: "tok", Hash: "h", Labels: map[string]string{}}
	if err := db.CreateEnrollToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	toks, err := db.ListEnrollTokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]patchbay.EnrollToken{tok}, toks); diff != "" {
		t.Errorf("tokens after reopen (-want +got):\n%s", diff)
	}
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != len(ms) {
		t.Errorf("schema_migrations has %d rows, want %d", n, len(ms))
	}
}

func TestOpenInvalidPath(t *testing.T) {
	for _, path := range []string{"", ":memory:", "/tmp/x.db?mode=ro"} {
		_, err := Open(t.Context(), path, nil)
		if patchbay.ErrorCode(err) != patchbay.EINVALID {
			t.Errorf("Open(%q) = %v, want an EINVALID error", path, err)
		}
	}
}

// TestMigrationGap: the embedded migrations skip 0006 (another branch's),
// and a 0006 that arrives later, after 0007 was applied, is applied once
// without 0007 running again.
func TestMigrationGap(t *testing.T) {
	ctx := t.Context()
	db := openTest(t)
	applied := func() []int {
		rows, err := db.read.QueryContext(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var vs []int
		for rows.Next() {
			var v int
			if err := rows.Scan(&v); err != nil {
				t.Fatal(err)
			}
			vs = append(vs, v)
		}
		return vs
	}
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	var want []int
	for _, m := range ms {
		want = append(want, m.version)
	}
	if diff := cmp.Diff(want, applied()); diff != "" {
		t.Fatalf("applied migrations (-want +got):\n%s", diff)
	}
	// 0008 is unused: a migration of that number arriving after 0009 was
	// applied (two branches merged) still runs, and nothing runs twice.
	if slices.Contains(want, 8) {
		t.Fatal("0008 is taken now: pick another free number for this test")
	}
	late := migration{version: 8, name: "0008_late.sql", sql: `CREATE TABLE late_table (x INTEGER) STRICT`}
	if err := db.applyMigrations(ctx, append(ms, late)); err != nil {
		t.Fatalf("a late 0008: %v", err)
	}
	want = append(want, 8)
	slices.Sort(want)
	if diff := cmp.Diff(want, applied()); diff != "" {
		t.Fatalf("applied migrations after a late 0008 (-want +got):\n%s", diff)
	}
	if _, err := db.write.ExecContext(ctx, `INSERT INTO late_table (x) VALUES (1)`); err != nil {
		t.Fatalf("the late migration's table: %v", err)
	}
}
