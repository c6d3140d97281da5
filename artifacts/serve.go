package artifacts

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// FileInfo describes the file ServeFile sends.
type FileInfo struct {
	// Size is the file's length; it becomes Content-Length and must be
	// exact, since the response is never chunked.
	Size int64
	// ModTime becomes Last-Modified; the zero time omits it and disables
	// date-based conditions.
	ModTime time.Time
	// ETag is the unquoted strong entity tag, e.g. the sha256; "" omits it.
	ETag string
	// Filename becomes Content-Disposition: attachment;filename=...
	Filename string
	// ContentType defaults to application/octet-stream.
	ContentType string
}

const defaultContentType = "application/octet-stream"

// ServeFile answers a GET or HEAD for f with RFC 9110 semantics, the way
// update clients need it (SWUpdate HEADs for the size and resumes with
// "Range: bytes=N-"; CDNs ignore Range on chunked responses):
//
//   - Accept-Ranges: bytes, a quoted strong ETag, Last-Modified and
//     Content-Disposition on every answer; other methods get 405.
//   - If-Match / If-Unmodified-Since failing → 412; If-None-Match /
//     If-Modified-Since matching → 304 (evaluated in RFC 9110 §13.2.2 order).
//   - Range on GET: one range → 206 with Content-Range; several →
//     206 multipart/byteranges; none satisfiable → 416 with
//     "Content-Range: bytes */size". If-Range (ETag or date) not matching,
//     a malformed header, more than MaxRanges ranges, or ranges adding up to
//     more than the file (overlap abuse) → the whole file with 200. Range on
//     HEAD is ignored, as RFC 9110 requires, so HEAD always reports the
//     full size.
//   - Every response has an exact Content-Length; the body is never chunked.
//
// ServeFile takes ownership of f: fasthttp closes it after writing the
// body, or ServeFile closes it at once when no body is sent. f must stay
// unchanged while it is being sent (store blobs are immutable). Do not wrap
// the handler in fasthttp.CompressHandler: compression would change the
// length and break ranges.
func ServeFile(rc *fasthttp.RequestCtx, f *os.File, fi FileInfo) {
	handedOff := false
	defer func() {
		if !handedOff {
			_ = f.Close()
		}
	}()
	resp := &rc.Response
	if !rc.IsGet() && !rc.IsHead() {
		resp.Header.Set("Allow", "GET, HEAD")
		rc.SetStatusCode(fasthttp.StatusMethodNotAllowed)
		return
	}
	ct := fi.ContentType
	if ct == "" {
		ct = defaultContentType
	}
	etag := ""
	resp.Header.Set("Accept-Ranges", "bytes")
	if fi.ETag != "" {
		etag = `"` + fi.ETag + `"`
		resp.Header.Set("ETag", etag)
	}
	// HTTP dates have one-second resolution; compare at that resolution
	// or a file modified at .5s would never be "not modified".
	mod := fi.ModTime.Truncate(time.Second)
	if !mod.IsZero() {
		resp.Header.SetLastModified(mod)
	}
	if fi.Filename != "" {
		resp.Header.Set("Content-Disposition", contentDisposition(fi.Filename))
	}

	if status := preconditions(&rc.Request.Header, etag, mod); status != 0 {
		rc.SetStatusCode(status)
		return
	}

	var ranges []Range
	if rh := rc.Request.Header.Peek("Range"); len(rh) > 0 && rc.IsGet() &&
		ifRangeMatches(rc.Request.Header.Peek("If-Range"), etag, mod) {
		rs, err := ParseRange(string(rh), fi.Size)
		switch {
		case errors.Is(err, ErrUnsatisfiable):
			resp.Header.Set("Content-Range", "bytes */"+strconv.FormatInt(fi.Size, 10))
			rc.SetStatusCode(fasthttp.StatusRequestedRangeNotSatisfiable)
			return
		case err != nil:
			// Malformed or too many: ignore the header and send it all.
		case totalLength(rs) > fi.Size:
			// Overlapping ranges asking for more than the file would let a
			// small request cost many times the file; send it once instead.
		default:
			ranges = rs
		}
	}

	switch len(ranges) {
	case 0:
		resp.Header.SetContentType(ct)
		rc.SetStatusCode(fasthttp.StatusOK)
		// The bare *os.File lets fasthttp hand the body to the kernel
		// (sendfile) and close it afterwards.
		resp.SetBodyStream(f, int(fi.Size))
		handedOff = true
	case 1:
		r := ranges[0]
		if _, err := f.Seek(r.Start, io.SeekStart); err != nil {
			rc.Error("seek failed", fasthttp.StatusInternalServerError)
			return
		}
		resp.Header.SetContentType(ct)
		resp.Header.Set("Content-Range", contentRange(r, fi.Size))
		rc.SetStatusCode(fasthttp.StatusPartialContent)
		resp.SetBodyStream(&fileSection{f: f, lr: io.LimitedReader{R: f, N: r.Length}}, int(r.Length))
		handedOff = true
	default:
		body, length, boundary := multipartBody(f, ct, ranges, fi.Size)
		resp.Header.SetContentType("multipart/byteranges; boundary=" + boundary)
		rc.SetStatusCode(fasthttp.StatusPartialContent)
		resp.SetBodyStream(body, int(length))
		handedOff = true
	}
}

// preconditions returns 412, 304 or 0 (proceed) per RFC 9110 §13.2.2:
// If-Match, else If-Unmodified-Since; then If-None-Match, else
// If-Modified-Since. Only GET and HEAD reach here, so a matching
// If-None-Match means 304.
func preconditions(h *fasthttp.RequestHeader, etag string, mod time.Time) int {
	if im := h.Peek("If-Match"); len(im) > 0 {
		if !etagListMatch(im, etag, true) {
			return fasthttp.StatusPreconditionFailed
		}
	} else if ius := h.Peek("If-Unmodified-Since"); len(ius) > 0 && !mod.IsZero() {
		if t, err := fasthttp.ParseHTTPDate(ius); err == nil && mod.After(t) {
			return fasthttp.StatusPreconditionFailed
		}
	}
	if inm := h.Peek("If-None-Match"); len(inm) > 0 {
		if etagListMatch(inm, etag, false) {
			return fasthttp.StatusNotModified
		}
	} else if ims := h.Peek("If-Modified-Since"); len(ims) > 0 && !mod.IsZero() {
		if t, err := fasthttp.ParseHTTPDate(ims); err == nil && !mod.After(t) {
			return fasthttp.StatusNotModified
		}
	}
	return 0
}

// ifRangeMatches reports whether Range may be honoured: no If-Range, an
// If-Range ETag that strongly matches, or an If-Range date equal to
// Last-Modified. Anything else means the client's partial copy is stale
// and it must get the whole file.
func ifRangeMatches(v []byte, etag string, mod time.Time) bool {
	if len(v) == 0 {
		return true
	}
	if v[0] == '"' || (len(v) > 1 && v[0] == 'W' && v[1] == '/') {
		return etagListMatch(v, etag, true)
	}
	t, err := fasthttp.ParseHTTPDate(v)
	return err == nil && !mod.IsZero() && mod.Equal(t)
}

// etagListMatch reports whether the comma-separated entity-tag list in v
// (or "*") matches etag (quoted, always strong here). Strong comparison
// never matches a weak tag; weak comparison ignores "W/".
func etagListMatch(v []byte, etag string, strong bool) bool {
	s := strings.TrimSpace(string(v))
	if s == "*" {
		return true
	}
	for s != "" {
		s = strings.TrimLeft(s, " \t,")
		if s == "" {
			break
		}
		weak := strings.HasPrefix(s, "W/")
		if weak {
			s = s[2:]
		}
		if !strings.HasPrefix(s, `"`) {
			return false // malformed list: no match
		}
		end := strings.IndexByte(s[1:], '"')
		if end < 0 {
			return false
		}
		tag := s[:end+2]
		s = s[end+2:]
		if etag != "" && tag == etag && !(strong && weak) {
			return true
		}
	}
	return false
}

func totalLength(rs []Range) int64 {
	var n int64
	for _, r := range rs {
		n += r.Length
	}
	return n
}

func contentRange(r Range, size int64) string {
	return "bytes " + strconv.FormatInt(r.Start, 10) + "-" +
		strconv.FormatInt(r.Start+r.Length-1, 10) + "/" + strconv.FormatInt(size, 10)
}

// contentDisposition formats "attachment;filename=name" as hawkBit does,
// quoting the name when it is not a token and adding an RFC 6266
// filename* for names that are not printable ASCII.
func contentDisposition(name string) string {
	token, ascii := true, true
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c < 0x20 || c >= 0x7f:
			token, ascii = false, false
		case strings.IndexByte(`()<>@,;:\"/[]?={} `, c) >= 0:
			token = false
		}
	}
	if token {
		return "attachment;filename=" + name
	}
	var b strings.Builder
	b.WriteString(`attachment;filename="`)
	for _, r := range name {
		switch {
		case r < 0x20 || r >= 0x7f:
			b.WriteByte('_') // ASCII fallback for old clients
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	if !ascii {
		b.WriteString(";filename*=UTF-8''")
		for i := 0; i < len(name); i++ {
			if c := name[i]; isAttrChar(c) {
				b.WriteByte(c)
			} else {
				fmt.Fprintf(&b, "%%%02X", c)
			}
		}
	}
	return b.String()
}

// isAttrChar reports the bytes RFC 8187 allows unescaped in filename*.
func isAttrChar(c byte) bool {
	return isLetter(c) || isDigit(c) || strings.IndexByte("!#$&+-.^_`|~", c) >= 0
}

// fileSection is the body of a single-range response. Its WriteTo hands a
// LimitedReader over the *os.File to fasthttp's body writer, which unwraps
// it and lets the kernel copy the range (sendfile) exactly as for a whole
// file; an io.SectionReader would force a user-space copy. Close closes
// the file, which fasthttp does after writing.
type fileSection struct {
	f  *os.File
	lr io.LimitedReader
}

func (s *fileSection) Read(p []byte) (int, error) { return s.lr.Read(p) }

func (s *fileSection) WriteTo(w io.Writer) (int64, error) {
	if rf, ok := w.(io.ReaderFrom); ok {
		return rf.ReadFrom(&s.lr)
	}
	return io.Copy(w, &s.lr)
}

func (s *fileSection) Close() error { return s.f.Close() }

// multipartBody builds a multipart/byteranges body (RFC 9110 §14.6) and
// its exact length, computed up front because the response is never
// chunked. Parts read through io.SectionReader, which does not move the
// file offset.
func multipartBody(f *os.File, ct string, ranges []Range, size int64) (io.ReadCloser, int64, string) {
	boundary := newBoundary()
	readers := make([]io.Reader, 0, 2*len(ranges)+1)
	var length int64
	for i, r := range ranges {
		var b strings.Builder
		if i > 0 {
			b.WriteString("\r\n")
		}
		fmt.Fprintf(&b, "--%s\r\nContent-Type: %s\r\nContent-Range: %s\r\n\r\n", boundary, ct, contentRange(r, size))
		readers = append(readers, strings.NewReader(b.String()), io.NewSectionReader(f, r.Start, r.Length))
		length += int64(b.Len()) + r.Length
	}
	tail := "\r\n--" + boundary + "--\r\n"
	readers = append(readers, strings.NewReader(tail))
	length += int64(len(tail))
	return &multipartReader{r: io.MultiReader(readers...), f: f}, length, boundary
}

type multipartReader struct {
	r io.Reader
	f *os.File
}

func (m *multipartReader) Read(p []byte) (int, error) { return m.r.Read(p) }
func (m *multipartReader) Close() error               { return m.f.Close() }

// newBoundary returns a random multipart boundary; it only has to be
// unlikely to occur in the file, not secret.
func newBoundary() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}
