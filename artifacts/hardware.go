package artifacts

import (
	"regexp"
	"strings"
)

// Hardware is one hardware-compatibility list of an image.
type Hardware struct {
	// Board is the board name the list applies to; "" applies to every
	// board that has no entry of its own.
	Board string
	// Revisions are accepted hardware revisions: exact strings, or POSIX
	// extended regular expressions prefixed with "#RE:".
	Revisions []string
}

// regexPrefix marks a revision pattern, as in SWUpdate's hw-compatibility.c.
const regexPrefix = "#RE:"

// Compatible reports whether a device with this board and revision
// accepts the image; see HardwareCompatible.
func (m *Manifest) Compatible(board, revision string) bool {
	return HardwareCompatible(m.Hardware, board, revision)
}

// HardwareCompatible applies SWUpdate's rule to a stored hardware list:
// use the entry for board if there is one, else the entry with Board "";
// the revision must equal one of its revisions or match one of its
// "#RE:" patterns (POSIX ERE, unanchored as with regexec). An empty hw
// means the image declares no compatibility and fits every device; a
// non-empty hw with no entry for the board and no "" entry fits none
// (SWUpdate: "HW compatibility not found").
//
// Patterns are compiled on each call; callers on a hot path should cache
// the answer per (image, board, revision) rather than the patterns.
func HardwareCompatible(hw []Hardware, board, revision string) bool {
	if len(hw) == 0 {
		return true
	}
	var entry *Hardware
	for i := range hw {
		if hw[i].Board == board {
			entry = &hw[i]
			break
		}
	}
	if entry == nil {
		for i := range hw {
			if hw[i].Board == "" {
				entry = &hw[i]
				break
			}
		}
	}
	if entry == nil {
		return false
	}
	for _, r := range entry.Revisions {
		if revisionMatch(r, revision) {
			return true
		}
	}
	return false
}

func revisionMatch(pattern, revision string) bool {
	expr, ok := strings.CutPrefix(pattern, regexPrefix)
	if !ok {
		return pattern == revision
	}
	re, err := regexp.CompilePOSIX(expr)
	if err != nil {
		// SWUpdate treats a pattern that does not compile as no match.
		return false
	}
	return re.MatchString(revision)
}
