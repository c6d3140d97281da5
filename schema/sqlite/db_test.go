package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gosling-ota/gosling/schema"
	"github.com/gosling-ota/gosling/schema/sqlite"
	"github.com/gosling-ota/gosling/schema/storetest"
)

// MustOpen opens a database in a new temporary directory and closes it at
// the end of the test.
func MustOpen(tb testing.TB) *sqlite.DB {
	tb.Helper()
	return mustOpenPath(tb, filepath.Join(tb.TempDir(), "gosling.db"))
}

func mustOpenPath(tb testing.TB, path string) *sqlite.DB {
	tb.Helper()
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) schema.Store {
		db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "gosling.db"))
		if err != nil {
			t.Fatal(err)
		}
		return db // storetest.Run closes it
	})
}

func TestOpen(t *testing.T) {
	t.Run("Reopen", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "gosling.db")
		db, err := sqlite.Open(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		storetest.MustCreateDevice(t, db, "acme", "dev-1")
		sw := storetest.MustCreateSoftware(t, db, "acme", "1.0")
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		// Reopening applies no migration again and keeps the data.
		for range 2 {
			db = mustOpenPath(t, path)
			if _, err := db.Device(t.Context(), "acme", "dev-1"); err != nil {
				t.Fatalf("device after reopen: %v", err)
			}
			if _, err := db.Software(t.Context(), "acme", sw.ID); err != nil {
				t.Fatalf("software after reopen: %v", err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		// Two stores on one file (two processes, or serve and migrate):
		// both migrate, neither fails, and they see each other's writes.
		path := filepath.Join(t.TempDir(), "gosling.db")
		a, b := mustOpenPath(t, path), mustOpenPath(t, path)
		storetest.MustCreateDevice(t, a, "acme", "dev-a")
		if _, err := b.Device(t.Context(), "acme", "dev-a"); err != nil {
			t.Fatal(err)
		}
		// Their writers contend for the file lock; busy_timeout and
		// BEGIN IMMEDIATE make them wait for each other instead of failing.
		var wg sync.WaitGroup
		for i, db := range []*sqlite.DB{a, b, a, b} {
			wg.Go(func() {
				for j := range 50 {
					id := "dev-" + strconv.Itoa(i) + "-" + strconv.Itoa(j)
					if err := db.CreateDevice(t.Context(), &schema.Device{Tenant: "acme", ID: id}); err != nil {
						t.Errorf("create %s: %v", id, err)
						return
					}
					if err := db.TouchDevices(t.Context(), []schema.Seen{{Tenant: "acme", DeviceID: "dev-a", At: time.Now()}}); err != nil {
						t.Errorf("touch: %v", err)
						return
					}
				}
			})
		}
		wg.Wait()
		if _, n, err := a.Devices(t.Context(), schema.DeviceFilter{Tenant: "acme"}); err != nil || n != 201 {
			t.Fatalf("%d devices, %v; want 201", n, err)
		}
	})
	t.Run("BadPath", func(t *testing.T) {
		for _, p := range []string{"", ":memory:", "file:x.db", "x.db?mode=ro"} {
			if db, err := sqlite.Open(t.Context(), p); err == nil {
				db.Close()
				t.Errorf("Open(%q) succeeded", p)
			}
		}
		if _, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "missing", "dir", "x.db")); err == nil {
			t.Error("Open in a missing directory succeeded")
		}
	})
	t.Run("WAL", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "gosling.db")
		db := mustOpenPath(t, path)
		storetest.MustCreateDevice(t, db, "acme", "dev-1")
		if _, err := os.Stat(path + "-wal"); err != nil {
			t.Fatalf("no WAL file: %v", err)
		}
	})
}

func BenchmarkRecordFeedback(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run("batch="+strconv.Itoa(n), func(b *testing.B) {
			storetest.BenchRecordFeedback(b, MustOpen(b), n)
		})
	}
}

func BenchmarkTouchDevices(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		b.Run("batch="+strconv.Itoa(n), func(b *testing.B) {
			storetest.BenchTouchDevices(b, MustOpen(b), n)
		})
	}
}
