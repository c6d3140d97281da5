package ddi

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// Lenient JSON. SWUpdate 2022.12 builds its feedback bodies with printf,
// so a failure report can carry raw newlines, tabs, other control
// characters and even unescaped quotes inside strings. Such a body is not
// JSON, but it is the one report that says why a device failed; losing it
// to a 400 is worse than reading it loosely.

// decodeLenient unmarshals body into v; if that fails, it repairs the
// usual printf damage and tries again. It returns the first error when
// the repaired body does not decode either.
func decodeLenient(body []byte, v any) error {
	err := json.Unmarshal(body, v)
	if err == nil {
		return nil
	}
	if fixed, changed := repairJSON(body); changed && json.Unmarshal(fixed, v) == nil {
		return nil
	}
	return err
}

// repairJSON escapes what printf-built JSON leaves raw inside strings:
// control characters, backslashes that start no valid escape, and quotes
// that cannot end the string because no ',', ':', ']' or '}' follows them.
// The quote rule is a heuristic; when it guesses wrong the caller falls
// back to scanning.
func repairJSON(b []byte) ([]byte, bool) {
	out := make([]byte, 0, len(b)+32)
	in, changed := false, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !in {
			out = append(out, c)
			if c == '"' {
				in = true
			}
			continue
		}
		switch {
		case c == '\\':
			if i+1 < len(b) && validEscape(b[i+1:]) {
				out = append(out, c, b[i+1])
				i++
			} else {
				out = append(out, '\\', '\\')
				changed = true
			}
		case c == '"':
			if quoteEnds(b[i+1:]) {
				out = append(out, c)
				in = false
			} else {
				out = append(out, '\\', '"')
				changed = true
			}
		case c < 0x20:
			changed = true
			switch c {
			case '\n':
				out = append(out, '\\', 'n')
			case '\r':
				out = append(out, '\\', 'r')
			case '\t':
				out = append(out, '\\', 't')
			default:
				out = append(out, `\u00`...)
				out = append(out, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&0xf])
			}
		default:
			out = append(out, c)
		}
	}
	return out, changed
}

// validEscape reports whether rest (after a backslash) starts a JSON escape.
func validEscape(rest []byte) bool {
	switch rest[0] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return true
	case 'u':
		if len(rest) < 5 {
			return false
		}
		for _, h := range rest[1:5] {
			if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
				return false
			}
		}
		return true
	}
	return false
}

// quoteEnds reports whether a quote followed by rest can close a string.
func quoteEnds(rest []byte) bool {
	rest = bytes.TrimLeft(rest, " \t\r\n")
	return len(rest) == 0 || bytes.IndexByte([]byte(",:]}"), rest[0]) >= 0
}

// scanString finds `"key"` followed by ':' and a string value, and returns
// the value without validating anything else in body. It is the last
// resort for bodies no repair can save.
func scanString(body []byte, key string) (string, bool) {
	pat := []byte(`"` + key + `"`)
	for off := 0; ; {
		i := bytes.Index(body[off:], pat)
		if i < 0 {
			return "", false
		}
		rest := bytes.TrimLeft(body[off+i+len(pat):], " \t\r\n")
		off += i + len(pat)
		if len(rest) == 0 || rest[0] != ':' {
			continue
		}
		rest = bytes.TrimLeft(rest[1:], " \t\r\n")
		if len(rest) == 0 || rest[0] != '"' {
			continue
		}
		end := bytes.IndexByte(rest[1:], '"')
		if end < 0 {
			return "", false
		}
		return string(rest[1 : 1+end]), true
	}
}

// stringify renders a decoded JSON value (decoded with UseNumber) as the
// string the store keeps: strings as they are, numbers and booleans as
// their literal, null as "", anything else as compact JSON.
func stringify(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}
