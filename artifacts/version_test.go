package artifacts_test

import (
	"testing"

	"github.com/gosling-ota/gosling/artifacts"
)

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		// SWUpdate numeric.
		{"1.2.10", "1.2.9", 1},
		{"1.0", "1.0.0", 0},
		{"1", "1.0.0.0", 0},
		{"1.0.0.1", "1.0.0", 1},
		{"0.9", "0.10", -1},
		{"65535.0", "65534.9.9.9", 1},
		{"01.2", "1.2", 0},
		// SemVer.
		{"2.0.0-rc1", "2.0.0", -1},
		{"2.0.0-rc.2", "2.0.0-rc.10", -1},
		{"v1.2.3", "1.2.3", 0},
		{"1.2.3+build5", "1.2.3", 0},
		{"1.2", "1.2.1-alpha", -1}, // mixed: numeric vs SemVer → SemVer
		// Lexical fallback.
		{"1.2.3.4", "1.2.3-rc1", 1},  // four parts is not SemVer
		{"65536.0", "9.0", 1},        // too big for SWUpdate, still SemVer
		{"1.0.0.0.1", "1.0.0.2", -1}, // neither both numeric nor SemVer → text
		{"abc", "abd", -1},
		{"", "", 0},
		{"release-b", "release-a", 1},
	}
	for _, tt := range tests {
		if got := artifacts.CompareVersions(tt.a, tt.b); got != tt.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := artifacts.CompareVersions(tt.b, tt.a); got != -tt.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", tt.b, tt.a, got, -tt.want)
		}
	}
}
