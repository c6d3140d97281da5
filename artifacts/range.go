package artifacts

import (
	"fmt"
	"math"
	"strings"
)

// Range is one satisfiable byte range of a representation.
type Range struct {
	Start, Length int64
}

// MaxRanges is the most ranges ParseRange accepts in one header. Real
// clients ask for one (resume) or a handful; thousands of tiny or
// overlapping ranges only serve to amplify work (RFC 9110 §14.2 lets
// servers refuse them).
const MaxRanges = 16

// ParseRange parses a Range header value ("bytes=0-99,200-", "bytes=-500")
// against a representation of size bytes, per RFC 9110 §14.1.
//
// It returns the satisfiable ranges in request order, each clamped to the
// representation. Ranges starting at or past the end are dropped; if none
// remain the error wraps ErrUnsatisfiable (answer 416). A header that does
// not parse, uses a unit other than bytes or has first > last wraps
// ErrInvalidRange (ignore the header, answer 200). More than MaxRanges
// range specs wraps ErrTooManyRanges.
func ParseRange(header string, size int64) ([]Range, error) {
	unit, set, ok := strings.Cut(header, "=")
	if !ok || !strings.EqualFold(strings.TrimSpace(unit), "bytes") {
		return nil, fmt.Errorf("%w: unit is not bytes", ErrInvalidRange)
	}
	var out []Range
	specs := 0
	for spec := range strings.SplitSeq(set, ",") {
		spec = strings.Trim(spec, " \t")
		if spec == "" {
			continue // empty list elements are allowed by the #rule
		}
		if specs++; specs > MaxRanges {
			return nil, fmt.Errorf("%w: more than %d", ErrTooManyRanges, MaxRanges)
		}
		first, last, ok := strings.Cut(spec, "-")
		if !ok {
			return nil, fmt.Errorf("%w: %q has no '-'", ErrInvalidRange, spec)
		}
		if first == "" {
			// Suffix range: the last n bytes.
			n, ok := parseDigits(last)
			if !ok {
				return nil, fmt.Errorf("%w: bad suffix length %q", ErrInvalidRange, last)
			}
			if n == 0 || size == 0 {
				continue // valid syntax, selects nothing
			}
			n = min(n, size)
			out = append(out, Range{Start: size - n, Length: n})
			continue
		}
		start, ok := parseDigits(first)
		if !ok {
			return nil, fmt.Errorf("%w: bad first position %q", ErrInvalidRange, first)
		}
		end := size - 1
		if last != "" {
			l, ok := parseDigits(last)
			if !ok || l < start {
				return nil, fmt.Errorf("%w: bad last position %q", ErrInvalidRange, last)
			}
			end = min(l, size-1)
		}
		if start >= size {
			continue
		}
		out = append(out, Range{Start: start, Length: end - start + 1})
	}
	if specs == 0 {
		return nil, fmt.Errorf("%w: no ranges", ErrInvalidRange)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: size is %d", ErrUnsatisfiable, size)
	}
	return out, nil
}

// parseDigits parses a non-negative decimal without sign or spaces
// (strconv.ParseInt would accept "+5"). Values too big for int64 saturate:
// "bytes=0-99999999999999999999" means "to the end" to the clients that
// send it.
func parseDigits(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		if n > (math.MaxInt64-9)/10 {
			n = math.MaxInt64
			continue
		}
		n = n*10 + int64(s[i]-'0')
	}
	return n, true
}
