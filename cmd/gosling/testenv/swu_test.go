package testenv_test

import (
	"os"
	"strings"
	"testing"

	"github.com/gosling-ota/gosling/cmd/gosling/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

// TestBuildSWU checks the builder against the real client: swupdate -c
// parses the image, verifies its signature and cpio checksums, and checks
// hardware compatibility.
func TestBuildSWU(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		spec       testenv.SWUSpec
		board, rev string
		ok         bool
		want       string // in the output
	}{
		{"libconfig board section", testenv.SWUSpec{Version: "2.0.0", Board: "devboard", Revisions: []string{"1.0", "1.1"}}, "devboard", "1.1", true, "Version 2.0.0"},
		{"libconfig root rules", testenv.SWUSpec{Version: "2.0.0"}, "otherboard", "1.0", true, "Hardware otherboard Revision: 1.0"},
		{"rawfile", testenv.SWUSpec{Version: "2.0.0", Board: "devboard", Path: t.TempDir()}, "devboard", "1.0", true, "Found File: payload.bin -->"},
		{"json", testenv.SWUSpec{Version: "3.1.4", Board: "devboard", JSON: true}, "devboard", "1.0", true, "Version 3.1.4"},
		{"wrong revision", testenv.SWUSpec{Version: "2.0.0", Board: "devboard"}, "devboard", "2.0", false, "SW not compatible with hardware"},
		{"unsigned", testenv.SWUSpec{Version: "2.0.0", Unsigned: true}, "devboard", "1.0", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, ok := testenv.CheckSWU(t, testenv.BuildSWU(t, tt.spec), tt.board, tt.rev)
			if ok != tt.ok || (tt.want != "" && !strings.Contains(out, tt.want)) {
				t.Fatalf("swupdate -c accepted=%v, want %v (and output with %q):\n%s", ok, tt.ok, tt.want, out)
			}
		})
	}
}
