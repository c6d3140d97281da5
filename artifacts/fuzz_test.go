package artifacts_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/gosling-ota/gosling/artifacts"
)

// FuzzInspect checks that no input panics, hangs or yields a manifest
// together with an error. Run with: go test -fuzz=FuzzInspect ./artifacts/
func FuzzInspect(f *testing.F) {
	f.Add(MustSWU(f, defaults(true), libconfigDesc, true, member{Name: "a", Data: []byte("payload")}))
	f.Add(MustSWU(f, defaults(false), `{"software":{"version":"1"}}`, false))
	f.Add(MustSWU(f, archiveOpts{CRC: true, BadSum: "a"}, libconfigDesc, false, member{Name: "a", Data: []byte("x")}))
	f.Add([]byte("070701"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := artifacts.Inspect(bytes.NewReader(data))
		if (m == nil) == (err == nil) {
			t.Fatalf("manifest %v with error %v", m, err)
		}
		if m != nil && m.Version == "" {
			t.Fatal("manifest without version")
		}
	})
}

// FuzzParseDescription checks that the libconfig and JSON parsers never
// panic and only fail with the documented errors.
func FuzzParseDescription(f *testing.F) {
	for _, seed := range []string{
		libconfigDesc,
		`software = { version = "1"; b = { hardware-compatibility = ["#RE:^1"]; s = { m = { hardware-compatibility = []; }; }; }; };`,
		`software = { version = { ref = "#./v"; }; v = "2"; x = { ref = "#/software/x"; }; };`,
		`{"software": {"version": "1", "hardware-compatibility": ["1.0"], "b": {"hardware-compatibility": ["2"]}}}`,
		"software = { version = \"a\" \"b\"; n = 0x1fL; f = -1.5e-3; l = ( { }, ( ), [ ] ); }; // c\n# c\n/* c */",
		"",
		"{",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := artifacts.ParseDescription(data)
		if err != nil {
			if !errors.Is(err, artifacts.ErrBadDescription) && !errors.Is(err, artifacts.ErrNoVersion) {
				t.Fatalf("undocumented error %v", err)
			}
			return
		}
		if m.Version == "" {
			t.Fatal("no version without error")
		}
		for _, hw := range m.Hardware {
			_ = m.Compatible(hw.Board, "1.0")
		}
	})
}
