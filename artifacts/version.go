package artifacts

import (
	"strings"

	"github.com/Masterminds/semver/v3"
)

// CompareVersions orders two software versions and returns -1, 0 or 1.
//
// It tries three schemes in turn and uses the first that fits both:
//
//  1. SWUpdate's own numeric versions (what -N/--no-downgrading and
//     --max-version compare): one to four dot-separated decimal parts,
//     each 0..65535, compared part by part with missing parts as 0, so
//     1.0 == 1.0.0 and 1.2.10 > 1.2.9.
//  2. SemVer 2.0 as parsed by Masterminds/semver (loose: "v" prefix and
//     missing minor/patch allowed), so 2.0.0-rc1 < 2.0.0; build metadata
//     is ignored.
//  3. Plain byte-wise string comparison, so the order is at least total
//     and stable for anything else ("2024-05-01b", "abc").
//
// Mixed pairs fall through: "1.2" vs "1.2.0-rc1" compare as SemVer,
// "1.2.3.4" vs "1.2.3-rc1" (not both numeric, not both SemVer) as strings.
func CompareVersions(a, b string) int {
	if na, ok := parseNumericVersion(a); ok {
		if nb, ok := parseNumericVersion(b); ok {
			for i := range na {
				if na[i] != nb[i] {
					if na[i] < nb[i] {
						return -1
					}
					return 1
				}
			}
			return 0
		}
	}
	if sa, err := semver.NewVersion(a); err == nil {
		if sb, err := semver.NewVersion(b); err == nil {
			return sa.Compare(sb)
		}
	}
	return strings.Compare(a, b)
}

// parseNumericVersion parses SWUpdate's "major.minor.revision.build",
// each a 16-bit number (SWUpdate packs them into one uint64).
func parseNumericVersion(v string) ([4]uint16, bool) {
	var out [4]uint16
	parts := strings.Split(v, ".")
	if len(parts) == 0 || len(parts) > 4 {
		return out, false
	}
	for i, p := range parts {
		if p == "" || len(p) > 5 {
			return out, false
		}
		n := 0
		for j := 0; j < len(p); j++ {
			if p[j] < '0' || p[j] > '9' {
				return out, false
			}
			n = n*10 + int(p[j]-'0')
		}
		if n > 65535 {
			return out, false
		}
		out[i] = uint16(n)
	}
	return out, true
}
