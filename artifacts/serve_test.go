package artifacts_test

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/gosling-ota/gosling/artifacts"
)

func mustTime(tb testing.TB, s string) time.Time {
	tb.Helper()
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

// fileServer serves one file through ServeFile on ln.
func fileServer(tb testing.TB, ln net.Listener, content []byte, fi artifacts.FileInfo) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "blob")
	if err := os.WriteFile(path, content, 0o600); err != nil {
		tb.Fatal(err)
	}
	srv := &fasthttp.Server{
		Handler: func(rc *fasthttp.RequestCtx) {
			f, err := os.Open(path)
			if err != nil {
				rc.Error(err.Error(), fasthttp.StatusInternalServerError)
				return
			}
			artifacts.ServeFile(rc, f, fi)
		},
		ReadTimeout:  5 * time.Second,
		WriteTimeout: 5 * time.Second,
	}
	go srv.Serve(ln) //nolint:errcheck // ends with Shutdown
	tb.Cleanup(func() { _ = srv.Shutdown() })
}

func TestServeFile(t *testing.T) {
	content := make([]byte, 300000) // above fasthttp's small-file threshold, so sendfile is used
	for i := range content {
		content[i] = byte(i * 7)
	}
	mod := mustTime(t, "2026-11-28T02:07:52Z")
	fi := artifacts.FileInfo{
		Size: int64(len(content)), ModTime: mod.Add(300 * time.Millisecond),
		ETag: "abc123", Filename: "image-1.2.0.swu",
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fileServer(t, ln, content, fi)
	url := "http://" + ln.Addr().String() + "/artifact"
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}, Timeout: 10 * time.Second}

	size := strconv.Itoa(len(content))
	lastMod := mod.UTC().Format(http.TimeFormat)
	earlier := mod.Add(-time.Hour).UTC().Format(http.TimeFormat)
	later := mod.Add(time.Hour).UTC().Format(http.TimeFormat)

	tests := []struct {
		name       string
		method     string
		headers    map[string]string
		wantStatus int
		wantHeader map[string]string
		wantBody   []byte            // nil: expect an empty body
		wantParts  []artifacts.Range // multipart/byteranges parts
	}{
		{
			name: "full GET", method: "GET", wantStatus: 200, wantBody: content,
			wantHeader: map[string]string{
				"Content-Length": size, "Accept-Ranges": "bytes", "ETag": `"abc123"`,
				"Last-Modified": lastMod, "Content-Type": "application/octet-stream",
				"Content-Disposition": "attachment;filename=image-1.2.0.swu",
			},
		},
		{
			name: "HEAD", method: "HEAD", wantStatus: 200,
			wantHeader: map[string]string{"Content-Length": size, "Accept-Ranges": "bytes", "ETag": `"abc123"`},
		},
		{
			name: "HEAD ignores Range", method: "HEAD", headers: map[string]string{"Range": "bytes=10-"}, wantStatus: 200,
			wantHeader: map[string]string{"Content-Length": size},
		},
		{
			name: "resume bytes=N-", method: "GET", headers: map[string]string{"Range": "bytes=100000-"}, wantStatus: 206,
			wantBody:   content[100000:],
			wantHeader: map[string]string{"Content-Range": "bytes 100000-299999/" + size, "Content-Length": "200000"},
		},
		{
			name: "closed range", method: "GET", headers: map[string]string{"Range": "bytes=5-14"}, wantStatus: 206,
			wantBody:   content[5:15],
			wantHeader: map[string]string{"Content-Range": "bytes 5-14/" + size, "Content-Length": "10"},
		},
		{
			name: "suffix", method: "GET", headers: map[string]string{"Range": "bytes=-7"}, wantStatus: 206,
			wantBody:   content[len(content)-7:],
			wantHeader: map[string]string{"Content-Range": "bytes 299993-299999/" + size},
		},
		{
			name: "multi range", method: "GET", headers: map[string]string{"Range": "bytes=0-9, 1000-1999, -5"}, wantStatus: 206,
			wantParts: []artifacts.Range{{0, 10}, {1000, 1000}, {299995, 5}},
		},
		{
			name: "If-Range etag match", method: "GET", headers: map[string]string{"Range": "bytes=10-19", "If-Range": `"abc123"`}, wantStatus: 206,
			wantBody: content[10:20],
		},
		{
			name: "If-Range etag mismatch", method: "GET", headers: map[string]string{"Range": "bytes=10-19", "If-Range": `"other"`}, wantStatus: 200,
			wantBody: content,
		},
		{
			name: "If-Range weak never matches", method: "GET", headers: map[string]string{"Range": "bytes=10-19", "If-Range": `W/"abc123"`}, wantStatus: 200,
			wantBody: content,
		},
		{
			name: "If-Range date match", method: "GET", headers: map[string]string{"Range": "bytes=10-19", "If-Range": lastMod}, wantStatus: 206,
			wantBody: content[10:20],
		},
		{
			name: "If-Range date mismatch", method: "GET", headers: map[string]string{"Range": "bytes=10-19", "If-Range": earlier}, wantStatus: 200,
			wantBody: content,
		},
		{
			name: "unsatisfiable", method: "GET", headers: map[string]string{"Range": "bytes=300000-"}, wantStatus: 416,
			wantHeader: map[string]string{"Content-Range": "bytes */" + size, "Content-Length": "0"},
		},
		{
			name: "malformed range ignored", method: "GET", headers: map[string]string{"Range": "bytes=abc"}, wantStatus: 200,
			wantBody: content,
		},
		{
			name: "too many ranges served whole", method: "GET", headers: map[string]string{"Range": "bytes=0-0,1-1,2-2,3-3,4-4,5-5,6-6,7-7,8-8,9-9,10-10,11-11,12-12,13-13,14-14,15-15,16-16"}, wantStatus: 200,
			wantBody: content,
		},
		{
			name: "overlapping abuse served whole", method: "GET", headers: map[string]string{"Range": "bytes=0-,0-,1-"}, wantStatus: 200,
			wantBody: content,
		},
		{name: "If-None-Match", method: "GET", headers: map[string]string{"If-None-Match": `"x", W/"abc123"`}, wantStatus: 304, wantHeader: map[string]string{"ETag": `"abc123"`}},
		{name: "If-None-Match star", method: "HEAD", headers: map[string]string{"If-None-Match": "*"}, wantStatus: 304},
		{name: "If-None-Match other", method: "GET", headers: map[string]string{"If-None-Match": `"x"`}, wantStatus: 200, wantBody: content},
		{name: "If-Modified-Since same", method: "GET", headers: map[string]string{"If-Modified-Since": lastMod}, wantStatus: 304},
		{name: "If-Modified-Since earlier", method: "GET", headers: map[string]string{"If-Modified-Since": earlier}, wantStatus: 200, wantBody: content},
		{name: "If-None-Match beats If-Modified-Since", method: "GET", headers: map[string]string{"If-None-Match": `"x"`, "If-Modified-Since": later}, wantStatus: 200, wantBody: content},
		{name: "If-Match mismatch", method: "GET", headers: map[string]string{"If-Match": `"x"`}, wantStatus: 412},
		{name: "If-Match weak", method: "GET", headers: map[string]string{"If-Match": `W/"abc123"`}, wantStatus: 412},
		{name: "If-Match match with range", method: "GET", headers: map[string]string{"If-Match": `"abc123"`, "Range": "bytes=0-0"}, wantStatus: 206, wantBody: content[:1]},
		{name: "If-Unmodified-Since earlier", method: "GET", headers: map[string]string{"If-Unmodified-Since": earlier}, wantStatus: 412},
		{name: "If-Unmodified-Since later", method: "GET", headers: map[string]string{"If-Unmodified-Since": later}, wantStatus: 200, wantBody: content},
		{name: "POST", method: "POST", wantStatus: 405, wantHeader: map[string]string{"Allow": "GET, HEAD"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, url, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if len(resp.TransferEncoding) > 0 {
				t.Errorf("Transfer-Encoding = %v, want none", resp.TransferEncoding)
			}
			if resp.StatusCode != 304 && resp.Header.Get("Content-Length") == "" {
				t.Error("no Content-Length")
			}
			for k, v := range tt.wantHeader {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if tt.wantParts != nil {
				checkMultipart(t, resp, body, content, tt.wantParts)
				return
			}
			if !bytes.Equal(body, tt.wantBody) {
				t.Errorf("body: got %d bytes, want %d", len(body), len(tt.wantBody))
			}
		})
	}
}

func checkMultipart(t *testing.T, resp *http.Response, body, content []byte, want []artifacts.Range) {
	t.Helper()
	if resp.ContentLength != int64(len(body)) {
		t.Errorf("Content-Length %d, body %d bytes", resp.ContentLength, len(body))
	}
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/byteranges" {
		t.Fatalf("Content-Type %q: %v", resp.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for i, r := range want {
		part, err := mr.NextPart()
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		wantCR := fmt.Sprintf("bytes %d-%d/%d", r.Start, r.Start+r.Length-1, len(content))
		if cr := part.Header.Get("Content-Range"); cr != wantCR {
			t.Errorf("part %d Content-Range = %q, want %q", i, cr, wantCR)
		}
		if ct := part.Header.Get("Content-Type"); ct != "application/octet-stream" {
			t.Errorf("part %d Content-Type = %q", i, ct)
		}
		data, err := io.ReadAll(part)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(data, content[r.Start:r.Start+r.Length]) {
			t.Errorf("part %d: wrong bytes", i)
		}
	}
	if _, err := mr.NextPart(); err != io.EOF {
		t.Errorf("after last part: %v", err)
	}
}

// TestServeFileInMemory covers details that do not need a socket:
// defaults, odd file names and an empty file.
func TestServeFileInMemory(t *testing.T) {
	tests := []struct {
		name        string
		content     []byte
		fi          artifacts.FileInfo
		rangeHeader string
		wantStatus  int
		wantHeader  map[string]string
	}{
		{
			name: "quoted filename, custom type, no validators", content: []byte("hello"),
			fi:         artifacts.FileInfo{Size: 5, Filename: `my "file".swu`, ContentType: "application/x-swu"},
			wantStatus: 200,
			wantHeader: map[string]string{"Content-Disposition": `attachment;filename="my \"file\".swu"`, "Content-Type": "application/x-swu", "ETag": "", "Last-Modified": ""},
		},
		{
			name: "non-ASCII filename", content: []byte("hello"),
			fi:         artifacts.FileInfo{Size: 5, Filename: "größe.swu"},
			wantStatus: 200,
			wantHeader: map[string]string{"Content-Disposition": `attachment;filename="gr__e.swu";filename*=UTF-8''gr%C3%B6%C3%9Fe.swu`},
		},
		{
			name: "empty file range", content: nil, fi: artifacts.FileInfo{Size: 0}, rangeHeader: "bytes=0-",
			wantStatus: 416, wantHeader: map[string]string{"Content-Range": "bytes */0"},
		},
		{
			name: "empty file", content: nil, fi: artifacts.FileInfo{Size: 0},
			wantStatus: 200, wantHeader: map[string]string{"Content-Length": "0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln := fasthttputil.NewInmemoryListener()
			fileServer(t, ln, tt.content, tt.fi)
			client := &http.Client{Transport: &http.Transport{
				Dial: func(string, string) (net.Conn, error) { return ln.Dial() },
			}}
			req, _ := http.NewRequest("GET", "http://inmemory/x", nil)
			if tt.rangeHeader != "" {
				req.Header.Set("Range", tt.rangeHeader)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			for k, v := range tt.wantHeader {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if tt.wantStatus == 200 && !bytes.Equal(body, tt.content) {
				t.Errorf("body = %q", body)
			}
		})
	}
}

// TestServeFileClosesFile checks that ServeFile releases the file on every
// path: handed to fasthttp for bodies, closed at once otherwise.
func TestServeFileClosesFile(t *testing.T) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Fatalf("counting open files needs /proc/self/fd: %v", err)
	}
	content := bytes.Repeat([]byte("x"), 100000)
	ln := fasthttputil.NewInmemoryListener()
	fileServer(t, ln, content, artifacts.FileInfo{Size: int64(len(content)), ETag: "e"})
	client := &http.Client{Transport: &http.Transport{
		Dial:              func(string, string) (net.Conn, error) { return ln.Dial() },
		DisableKeepAlives: true,
	}}
	requests := []struct{ method, header, value string }{
		{"GET", "", ""}, {"HEAD", "", ""}, {"GET", "Range", "bytes=5-"}, {"GET", "Range", "bytes=0-1,5-6"},
		{"GET", "Range", "bytes=999999-"}, {"GET", "If-None-Match", `"e"`}, {"GET", "If-Match", `"x"`}, {"POST", "", ""},
	}
	countFDs := func() int {
		entries, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(entries)
	}
	do := func() {
		for _, r := range requests {
			req, _ := http.NewRequest(r.method, "http://inmemory/x", nil)
			if r.header != "" {
				req.Header.Set(r.header, r.value)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	do() // warm up lazily opened descriptors
	before := countFDs()
	for range 20 {
		do()
	}
	if after := countFDs(); after > before+2 {
		t.Errorf("open descriptors grew from %d to %d", before, after)
	}
}
