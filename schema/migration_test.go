package schema_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/gosling-ota/gosling/schema"
)

func TestLoadMigrations(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	ms, err := schema.LoadMigrations(fstest.MapFS{
		"migrations/010_later.sql": file("B"),
		"migrations/002_first.sql": file("A"),
		"migrations/README":        file("ignored"),
	})
	if err != nil || len(ms) != 2 || ms[0].Version != 2 || ms[0].Name != "002_first" || ms[0].SQL != "A" || ms[1].Version != 10 {
		t.Fatalf("LoadMigrations = %+v, %v", ms, err)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"name must be NNN_name.sql": {"migrations/init.sql": file("x")},
		"share version":             {"migrations/001_a.sql": file("x"), "migrations/1_b.sql": file("y")},
	} {
		if _, err := schema.LoadMigrations(fsys); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("want an error mentioning %q, got %v", name, err)
		}
	}
}
