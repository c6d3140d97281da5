package schema

import "regexp"

// matchRE reports whether rev fully matches the pattern, as SWUpdate's
// "#RE:" revisions do. It runs only when a device is due for new software,
// not on every poll, so compiling per call is cheap enough.
func matchRE(pattern, rev string) bool {
	re, err := regexp.Compile("^(?:" + pattern + ")$")
	return err == nil && re.MatchString(rev)
}
