package ddi

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/gosling-ota/gosling/schema"
)

// A hand-written reader for the common feedback body. encoding/json into
// wireFeedback plus a second decode of details into []any cost about a
// fifth of the frontline's CPU under load; this reader makes one pass over
// the bytes and allocates the Feedback, its details slice and one string
// holding every detail line and the device time.
//
// It only answers for strictly valid JSON of the usual shape and declines
// (ok=false) everything else, which parseFeedbackSlow then reads exactly
// as before. Whenever it answers, finishFeedback of its result must equal
// parseFeedbackSlow's answer (FuzzParseFeedback checks that). It declines:
//   - invalid JSON of any kind, including the printf damage decodeLenient
//     repairs, trailing data and nesting deeper than fbMaxDepth;
//   - invalid UTF-8 in any string (encoding/json would replace it);
//   - member names of the known objects that contain escapes, that occur
//     twice, or that differ from a known name only in case (encoding/json
//     matches names case-insensitively and merges duplicates);
//   - a known member of the wrong type (encoding/json then fails and the
//     slow path scans), and a missing or null status, execution, result
//     or finished (the slow path's "is required" errors);
//   - details that are a number or an object, or whose first maxDetails
//     elements include an object or array (stringify re-marshals those);
//   - a device time longer than maxDeviceTime bytes (finishFeedback cuts
//     it; declining saves keeping the long original alive).

// fbMaxDepth bounds the nesting the fast path follows. encoding/json
// allows 10000; declining earlier only costs speed, and it bounds this
// reader's recursion.
const fbMaxDepth = 512

// Member names of the objects wireFeedback reads, for the case-folding
// check on unknown names.
var (
	fbTopNames      = [][]byte{[]byte("id"), []byte("time"), []byte("timestamp"), []byte("status")}
	fbStatusNames   = [][]byte{[]byte("execution"), []byte("result"), []byte("code"), []byte("details")}
	fbResultNames   = [][]byte{[]byte("finished"), []byte("progress")}
	fbProgressNames = [][]byte{[]byte("cnt"), []byte("of")}
)

// fbVal locates one JSON value in the body, so the reader can validate
// first and allocate only once it knows it will answer.
type fbVal struct {
	lo, hi int  // the value's bytes; for a string, its contents between the quotes
	n      int  // a string's length once unescaped
	kind   byte // the value's first byte ('"', '{', '[', 't', 'f', 'n', '-', digit); 0 when absent
	esc    bool // a string with escapes
}

// fbScan is the reader's state. bad is sticky, so the readers need not
// propagate errors: once set, each returns at once and the caller
// declines at the end.
type fbScan struct {
	b   []byte
	i   int
	bad bool

	time, timestamp   fbVal
	exec, fin         fbVal
	code, cnt, of     fbVal
	progress          bool               // result.progress was an object
	lines             [maxDetails]fbLine // the first maxDetails details elements
	nLines, nElements int                // kept lines; all elements (for the truncation marker)
}

// fbLine is an fbVal packed into half the space: the scanner holds
// maxDetails of them, and zeroing that array is a visible part of a
// parse. fastParseFeedback declines bodies whose offsets do not fit.
type fbLine struct {
	lo, hi, n int32
	kind      byte
	esc       bool
}

// line packs v to keep it in fbScan.lines.
func line(v fbVal) fbLine {
	return fbLine{lo: int32(v.lo), hi: int32(v.hi), n: int32(v.n), kind: v.kind, esc: v.esc}
}

// val unpacks l for the code that works on fbVal.
func (l fbLine) val() fbVal {
	return fbVal{lo: int(l.lo), hi: int(l.hi), n: int(l.n), kind: l.kind, esc: l.esc}
}

// fastParseFeedback reads body if it is a well-formed feedback of the
// usual shape, returning the Feedback before finishFeedback; ok=false
// means "ask parseFeedbackSlow", never "invalid".
func fastParseFeedback(body []byte) (*schema.Feedback, bool) {
	if len(body) > math.MaxInt32 {
		return nil, false
	}
	s := fbScan{b: body}
	if !s.feedback() {
		return nil, false
	}
	timeVal, ok := s.deviceTime()
	if !ok {
		return nil, false
	}

	// Every detail line short enough to be kept whole, and the device
	// time, share one backing string. Longer lines are cut by clampLine,
	// which makes its own copy, so they get their own (short-lived) one.
	total := 0
	for _, l := range s.lines[:s.nLines] {
		if l.kind != 't' && l.kind != 'f' && l.kind != 'n' && l.n <= maxDetailBytes {
			total += int(l.n)
		}
	}
	if timeVal.kind != 0 {
		total += timeVal.n
	}
	var sb strings.Builder
	sb.Grow(total)
	for _, l := range s.lines[:s.nLines] {
		if l.kind != 't' && l.kind != 'f' && l.kind != 'n' && l.n <= maxDetailBytes {
			writeValue(&sb, body, l.val(), int(l.n))
		}
	}
	if timeVal.kind != 0 {
		writeValue(&sb, body, timeVal, timeVal.n)
	}
	backing := sb.String()

	// One allocation for the Feedback and what its pointers point to.
	a := &struct {
		fb   schema.Feedback
		prog schema.Progress
		code int
	}{}
	fb := &a.fb
	fb.Execution = internString(body, s.exec)
	fb.Finished = internString(body, s.fin)

	n := s.nLines
	if s.nElements > maxDetails {
		n++
	}
	fb.Details = make([]string, n)
	off := 0
	for i, l := range s.lines[:s.nLines] {
		switch v := l.val(); {
		case v.kind == 't':
			fb.Details[i] = "true"
		case v.kind == 'f':
			fb.Details[i] = "false"
		case v.kind == 'n':
			fb.Details[i] = ""
		case v.n <= maxDetailBytes:
			// clampLine would return it as it is: short enough, and
			// str has checked it is valid UTF-8.
			fb.Details[i] = backing[off : off+v.n]
			off += v.n
		default:
			var long strings.Builder
			long.Grow(maxDetailBytes + 1 + utf8.UTFMax)
			writeValue(&long, body, v, maxDetailBytes+1)
			fb.Details[i] = clampLine(long.String())
		}
	}
	if s.nElements > maxDetails {
		fb.Details[maxDetails] = "…[" + strconv.Itoa(s.nElements-maxDetails) + " more lines truncated]"
	}
	if timeVal.kind != 0 {
		fb.DeviceTime = backing[off : off+timeVal.n]
	}

	if s.progress {
		cnt, ok1 := fbInt(body, s.cnt)
		of, ok2 := fbInt(body, s.of)
		if ok1 || ok2 {
			a.prog = schema.Progress{Cnt: cnt, Of: of}
			fb.Progress = &a.prog
		}
	}
	if code, ok := fbInt(body, s.code); ok {
		a.code = code
		fb.Code = &a.code
	}
	return fb, true
}

// deviceTime mirrors rawString on time, then timestamp: a non-empty
// string, or any other non-null value as its literal text. ok=false
// declines a time too long to keep whole.
func (s *fbScan) deviceTime() (fbVal, bool) {
	for _, v := range [2]fbVal{s.time, s.timestamp} {
		switch v.kind {
		case 0, 'n':
			continue
		case '"':
			if v.n == 0 {
				continue
			}
		default:
			v.n = v.hi - v.lo
		}
		return v, v.n <= maxDeviceTime
	}
	return fbVal{}, true
}

// feedback reads the top-level object; it reports whether the whole body
// was read and has everything the fast path needs.
func (s *fbScan) feedback() bool {
	if s.peek() != '{' {
		return false
	}
	s.i++
	var seen uint8
	for first := true; s.more('}', first); first = false {
		k := s.name()
		switch string(k) {
		case "id":
			s.once(&seen, 1)
			s.value(1)
		case "time":
			s.once(&seen, 2)
			s.time = s.value(1)
		case "timestamp":
			s.once(&seen, 4)
			s.timestamp = s.value(1)
		case "status":
			s.once(&seen, 8)
			s.status()
		default:
			s.unknown(k, fbTopNames)
			s.value(1)
		}
	}
	s.ws()
	return !s.bad && seen&8 != 0 && s.i == len(s.b)
}

// status reads status; a null one is left to the slow path's error.
func (s *fbScan) status() {
	if s.peek() != '{' {
		s.bad = true
		return
	}
	s.i++
	var seen uint8
	for first := true; s.more('}', first); first = false {
		k := s.name()
		switch string(k) {
		case "execution":
			s.once(&seen, 1)
			if s.exec = s.value(2); s.exec.kind != '"' {
				s.bad = true
			}
		case "result":
			s.once(&seen, 2)
			s.result()
		case "code":
			s.once(&seen, 4)
			s.code = s.value(2)
		case "details":
			s.once(&seen, 8)
			s.details()
		default:
			s.unknown(k, fbStatusNames)
			s.value(2)
		}
	}
	if seen&3 != 3 {
		s.bad = true
	}
}

// result reads status.result, which must carry finished.
func (s *fbScan) result() {
	if s.peek() != '{' {
		s.bad = true
		return
	}
	s.i++
	var seen uint8
	for first := true; s.more('}', first); first = false {
		k := s.name()
		switch string(k) {
		case "finished":
			s.once(&seen, 1)
			if s.fin = s.value(3); s.fin.kind != '"' {
				s.bad = true
			}
		case "progress":
			s.once(&seen, 2)
			s.readProgress()
		default:
			s.unknown(k, fbResultNames)
			s.value(3)
		}
	}
	if seen&1 == 0 {
		s.bad = true
	}
}

// readProgress reads status.result.progress: an object, or null for none.
func (s *fbScan) readProgress() {
	switch s.peek() {
	case 'n':
		s.lit("null")
		return
	case '{':
		s.i++
		s.progress = true
	default:
		s.bad = true
		return
	}
	var seen uint8
	for first := true; s.more('}', first); first = false {
		k := s.name()
		switch string(k) {
		case "cnt":
			s.once(&seen, 1)
			s.cnt = s.value(4)
		case "of":
			s.once(&seen, 2)
			s.of = s.value(4)
		default:
			s.unknown(k, fbProgressNames)
			s.value(4)
		}
	}
}

// details reads status.details as detailLines would: an array whose
// first maxDetails elements become lines and whose length the marker
// reports, or one string or boolean as the only line, or null for none.
func (s *fbScan) details() {
	switch s.peek() {
	case '[':
		s.i++
		for first := true; s.more(']', first); first = false {
			v := s.value(3)
			if s.nElements < maxDetails {
				switch v.kind {
				case '{', '[':
					s.bad = true
				case '"', 't', 'f', 'n':
				default: // a number: its literal is the line
					v.n = v.hi - v.lo
				}
				s.lines[s.nLines] = line(v)
				s.nLines++
			}
			s.nElements++
		}
	case '"', 't', 'f':
		s.lines[0] = line(s.value(2))
		s.nLines, s.nElements = 1, 1
	case 'n':
		s.value(2)
	default:
		// A lone number goes through float64 in the slow path, an
		// object through json.Marshal: not worth mirroring.
		s.bad = true
	}
}

// once declines a known member seen twice: encoding/json would let the
// last win, or merge two objects.
func (s *fbScan) once(seen *uint8, bit uint8) {
	if *seen&bit != 0 {
		s.bad = true
	}
	*seen |= bit
}

// unknown declines a name encoding/json would match to a known field
// case-insensitively (Unicode folding included, as bytes.EqualFold does).
func (s *fbScan) unknown(k []byte, names [][]byte) {
	for _, n := range names {
		if bytes.EqualFold(k, n) {
			s.bad = true
			return
		}
	}
}

// ws skips whitespace: only the four bytes JSON allows, as encoding/json
// does, so that what the fast path accepts is JSON to the slow path too.
func (s *fbScan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next byte after whitespace, 0 at the end or after an
// error, so that callers can switch on it.
func (s *fbScan) peek() byte {
	if s.bad {
		return 0
	}
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// more drives a loop over an array's elements or an object's members
// after its opening bracket: it consumes the separator or the closing
// bracket and reports whether another element follows.
func (s *fbScan) more(closing byte, first bool) bool {
	c := s.peek()
	if s.bad {
		return false
	}
	if c == closing {
		s.i++
		return false
	}
	if first {
		return true
	}
	if c != ',' {
		s.bad = true
		return false
	}
	s.i++
	return true
}

// name reads a member name of a known object and its colon. Escaped
// names are declined rather than unescaped: real clients never send them.
func (s *fbScan) name() []byte {
	if s.peek() != '"' {
		s.bad = true
		return nil
	}
	v := s.str()
	if v.esc {
		s.bad = true
	}
	s.colon()
	return s.b[v.lo:v.hi]
}

// colon consumes the ':' after a member name; without it the body is not
// JSON and the fast path declines.
func (s *fbScan) colon() {
	if s.peek() != ':' {
		s.bad = true
		return
	}
	s.i++
}

// value reads any JSON value: it validates it, because the fast path
// may only answer for bodies encoding/json accepts, and locates it for
// the callers that keep it. Unknown members are read this way and
// dropped.
func (s *fbScan) value(depth int) fbVal {
	c := s.peek()
	if s.bad {
		return fbVal{}
	}
	if c == '"' {
		return s.str()
	}
	v := fbVal{lo: s.i, kind: c}
	switch {
	case c == '{' || c == '[':
		if depth >= fbMaxDepth {
			s.bad = true
			return fbVal{}
		}
		s.i++
		closing := byte('}')
		if c == '[' {
			closing = ']'
		}
		for first := true; s.more(closing, first); first = false {
			if c == '{' {
				if s.peek() != '"' {
					s.bad = true
					break
				}
				s.str()
				s.colon()
			}
			s.value(depth + 1)
		}
	case c == 't':
		s.lit("true")
	case c == 'f':
		s.lit("false")
	case c == 'n':
		s.lit("null")
	case c == '-' || '0' <= c && c <= '9':
		s.num()
	default:
		s.bad = true
	}
	v.hi = s.i
	return v
}

// lit consumes the literal w; a misspelt literal is not JSON and declines.
func (s *fbScan) lit(w string) {
	if len(s.b)-s.i < len(w) || string(s.b[s.i:s.i+len(w)]) != w {
		s.bad = true
		return
	}
	s.i += len(w)
}

// num consumes a number as RFC 8259 spells it; what may follow it is
// checked by the enclosing reader.
func (s *fbScan) num() {
	b, i := s.b, s.i
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = skipDigits(b, i)
	default:
		s.bad = true
		return
	}
	if i < len(b) && b[i] == '.' {
		j := skipDigits(b, i+1)
		if j == i+1 {
			s.bad = true
			return
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := skipDigits(b, i)
		if j == i {
			s.bad = true
			return
		}
		i = j
	}
	s.i = i
}

// skipDigits returns the index after the run of digits at b[i:], for
// each of the three digit runs a number may have.
func skipDigits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}

// str consumes a string at s.i (a quote), validating escapes and UTF-8
// and measuring its unescaped length, so that the unescaping pass can
// write into a buffer of the right size.
func (s *fbScan) str() fbVal {
	b := s.b
	i := s.i + 1
	v := fbVal{lo: i, kind: '"'}
	for i < len(b) {
		// Plain ASCII is the common case; measure it in one loop.
		start := i
		for i < len(b) && fbPlain[b[i]] {
			i++
		}
		v.n += i - start
		if i == len(b) {
			break
		}
		switch c := b[i]; {
		case c == '"':
			v.hi = i
			s.i = i + 1
			return v
		case c == '\\':
			r, adv := unescape(b[i:])
			if adv == 0 {
				s.bad = true
				return fbVal{}
			}
			v.esc = true
			v.n += utf8.RuneLen(r)
			i += adv
		case c < 0x20:
			s.bad = true
			return fbVal{}
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				s.bad = true
				return fbVal{}
			}
			v.n += size
			i += size
		}
	}
	s.bad = true
	return fbVal{}
}

// fbPlain marks the bytes a string may hold as they are and that need no
// further look: printable ASCII except the quote and the backslash.
var fbPlain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// unescape decodes the escape at the start of b exactly as encoding/json
// does, including its treatment of surrogates (a valid pair is one rune,
// anything else U+FFFD); adv is 0 for an invalid escape.
func unescape(b []byte) (r rune, adv int) {
	if len(b) < 2 {
		return 0, 0
	}
	switch b[1] {
	case '"', '\\', '/':
		return rune(b[1]), 2
	case 'b':
		return '\b', 2
	case 'f':
		return '\f', 2
	case 'n':
		return '\n', 2
	case 'r':
		return '\r', 2
	case 't':
		return '\t', 2
	case 'u':
		r := hex4(b)
		if r < 0 {
			return 0, 0
		}
		if utf16.IsSurrogate(r) {
			if dec := utf16.DecodeRune(r, hex4(b[6:])); dec != unicode.ReplacementChar {
				return dec, 12
			}
			return unicode.ReplacementChar, 6
		}
		return r, 6
	}
	return 0, 0
}

// hex4 reads the \uXXXX at the start of b, or returns -1, like
// encoding/json's getu4, so that unescape can probe for a surrogate's
// second half the way encoding/json does.
func hex4(b []byte) rune {
	if len(b) < 6 || b[0] != '\\' || b[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range b[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// writeValue writes the text v stands for, a string unescaped and
// anything else as its literal bytes, but stops once it has written limit
// bytes or a little more: clampLine looks at no more than the first
// maxDetailBytes+1 bytes of a line, so a huge line need not be copied
// whole. The prefix may end inside a rune; clampLine cuts before it.
func writeValue(sb *strings.Builder, body []byte, v fbVal, limit int) {
	b := body[v.lo:v.hi]
	for w := 0; len(b) > 0 && w < limit; {
		if v.esc && b[0] == '\\' {
			r, adv := unescape(b)
			if r < utf8.RuneSelf {
				sb.WriteByte(byte(r))
				w++
			} else {
				n, _ := sb.WriteRune(r)
				w += n
			}
			b = b[adv:]
			continue
		}
		i := len(b)
		if v.esc {
			if j := bytes.IndexByte(b, '\\'); j >= 0 {
				i = j
			}
		}
		i = min(i, limit-w)
		sb.Write(b[:i])
		w += i
		b = b[i:]
	}
}

// internString returns a string value, without allocating for the
// executions and results clients actually send.
func internString(body []byte, v fbVal) string {
	if !v.esc {
		switch b := body[v.lo:v.hi]; string(b) {
		case schema.ExecClosed:
			return schema.ExecClosed
		case schema.ExecProceeding:
			return schema.ExecProceeding
		case schema.ExecCanceled:
			return schema.ExecCanceled
		case schema.ExecScheduled:
			return schema.ExecScheduled
		case schema.ExecRejected:
			return schema.ExecRejected
		case schema.ExecResumed:
			return schema.ExecResumed
		case schema.ExecDownloaded:
			return schema.ExecDownloaded
		case schema.ExecDownload:
			return schema.ExecDownload
		case schema.FinishedSuccess:
			return schema.FinishedSuccess
		case schema.FinishedFailure:
			return schema.FinishedFailure
		case schema.FinishedNone:
			return schema.FinishedNone
		}
	}
	var sb strings.Builder
	sb.Grow(v.n)
	writeValue(&sb, body, v, v.n)
	return sb.String()
}

// fbInt is rawInt on a located value. Plain integers, which is what
// clients send, are read here without building a string; everything
// else (floats, quoted numbers, junk) goes to rawInt itself so its rules
// hold exactly.
func fbInt(body []byte, v fbVal) (int, bool) {
	switch v.kind {
	case 0:
		return 0, false
	case '"':
		return rawInt(json.RawMessage(body[v.lo-1 : v.hi+1]))
	}
	b := body[v.lo:v.hi]
	neg := b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 18 {
		return rawInt(json.RawMessage(body[v.lo:v.hi]))
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return rawInt(json.RawMessage(body[v.lo:v.hi]))
		}
		n = n*10 + int(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}
