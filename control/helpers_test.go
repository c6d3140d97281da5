package control_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gosling-ota/gosling/artifacts"
	"github.com/gosling-ota/gosling/cache"
	"github.com/gosling-ota/gosling/control"
	"github.com/gosling-ota/gosling/schema"
	"github.com/gosling-ota/gosling/schema/sqlite"
)

const (
	adminToken = "test-admin-token-0123456789"
	tenantA    = "DEFAULT"
	tenantB    = "other"
)

// env is one admin API on a real SQLite store and artifact store.
type env struct {
	srv     *control.Server
	url     string
	db      *sqlite.DB
	blobDir string
	bus     *busRecorder
	// localBus is the bus itself, for tests that publish as a frontline.
	localBus *cache.LocalBus
}

// newEnv starts an admin API for tenants DEFAULT and other; mod may change
// the configuration.
func newEnv(tb testing.TB, mod ...func(*control.Config)) *env {
	tb.Helper()
	return newEnvStore(tb, nil, mod...)
}

// newEnvStore is newEnv with the store wrapped (wrap may be nil).
func newEnvStore(tb testing.TB, wrap func(*sqlite.DB) control.Store, mod ...func(*control.Config)) *env {
	tb.Helper()
	dir := tb.TempDir()
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, "gosling.db"))
	if err != nil {
		tb.Fatalf("open sqlite: %v", err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	blobDir := filepath.Join(dir, "blobs")
	blobs, err := artifacts.OpenStore(blobDir)
	if err != nil {
		tb.Fatalf("open artifacts: %v", err)
	}
	bus := cache.NewLocalBus()
	rec := &busRecorder{}
	tb.Cleanup(bus.Subscribe(rec.add))
	cfg := control.Config{Tenants: []string{tenantA, tenantB}, AdminToken: adminToken}
	for _, m := range mod {
		m(&cfg)
	}
	var store control.Store = db
	if wrap != nil {
		store = wrap(db)
	}
	srv, err := control.New(cfg, store, bus, blobs, nil)
	if err != nil {
		tb.Fatalf("control.New: %v", err)
	}
	hs := httptest.NewServer(srv.Handler())
	tb.Cleanup(hs.Close)
	return &env{srv: srv, url: hs.URL, db: db, blobDir: blobDir, bus: rec, localBus: bus}
}

// busRecorder keeps the invalidations published on a bus.
type busRecorder struct {
	mu   sync.Mutex
	seen []cache.Invalidation
}

func (b *busRecorder) add(inv cache.Invalidation) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seen = append(b.seen, inv)
}

// take returns the invalidations published since the last take.
func (b *busRecorder) take() []cache.Invalidation {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.seen
	b.seen = nil
	return out
}

// response is a finished HTTP exchange.
type response struct {
	status int
	header http.Header
	body   []byte
}

// decode unmarshals the body into v, failing the test on error.
func (r response) decode(tb testing.TB, v any) {
	tb.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		tb.Fatalf("decode %q: %v", r.body, err)
	}
}

// apiError is the error answer's shape.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// errorOf returns the error answer of r, failing the test if it is not one.
func (r response) errorOf(tb testing.TB) apiError {
	tb.Helper()
	var e apiError
	r.decode(tb, &e)
	if e.Error.Code == "" || e.Error.Message == "" {
		tb.Fatalf("not an error answer: %s", r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		tb.Fatalf("error Content-Type %q, want application/json", ct)
	}
	return e
}

// wantError checks an error answer's status and code and that its message
// contains msg.
func (r response) wantError(tb testing.TB, status int, code, msg string) {
	tb.Helper()
	if r.status != status {
		tb.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	e := r.errorOf(tb)
	if e.Error.Code != code {
		tb.Fatalf("code %q, want %q (%s)", e.Error.Code, code, e.Error.Message)
	}
	if !strings.Contains(e.Error.Message, msg) {
		tb.Fatalf("message %q does not contain %q", e.Error.Message, msg)
	}
}

// wantStatus fails the test unless r has the status.
func (r response) wantStatus(tb testing.TB, status int) {
	tb.Helper()
	if r.status != status {
		tb.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
}

// request sends a request with the admin token and the given content type
// (none when ""); body may be nil.
func (e *env) request(tb testing.TB, method, path, contentType string, body io.Reader) response {
	tb.Helper()
	return e.requestAuth(tb, method, path, contentType, body, "Bearer "+adminToken)
}

// requestAuth is request with an explicit Authorization header ("" for none).
func (e *env) requestAuth(tb testing.TB, method, path, contentType string, body io.Reader, auth string) response {
	tb.Helper()
	req, err := http.NewRequest(method, e.url+path, body)
	if err != nil {
		tb.Fatalf("new request: %v", err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		tb.Fatalf("read %s %s: %v", method, path, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// json sends v (a string is sent as is) as a JSON body.
func (e *env) json(tb testing.TB, method, path string, v any) response {
	tb.Helper()
	var body io.Reader
	switch v := v.(type) {
	case nil:
	case string:
		body = strings.NewReader(v)
	default:
		b, err := json.Marshal(v)
		if err != nil {
			tb.Fatalf("marshal: %v", err)
		}
		body = bytes.NewReader(b)
	}
	return e.request(tb, method, path, "application/json", body)
}

// uploadRaw posts a .swu as the raw body.
func (e *env) uploadRaw(tb testing.TB, query string, swu []byte) response {
	tb.Helper()
	return e.request(tb, http.MethodPost, "/api/v1/software?"+query, "application/octet-stream", bytes.NewReader(swu))
}

// uploadMultipart posts a .swu as the multipart part "file".
func (e *env) uploadMultipart(tb testing.TB, query, filename string, swu []byte) response {
	tb.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile("file", filename)
	if err != nil {
		tb.Fatal(err)
	}
	_, _ = fw.Write(swu)
	_ = mw.Close()
	return e.request(tb, http.MethodPost, "/api/v1/software?"+query, mw.FormDataContentType(), &buf)
}

// mustUpload uploads a .swu (raw) and returns the created software.
func (e *env) mustUpload(tb testing.TB, query, filename string, swu []byte) *schema.Software {
	tb.Helper()
	if query != "" {
		query += "&"
	}
	res := e.uploadRaw(tb, query+"filename="+filename, swu)
	res.wantStatus(tb, http.StatusCreated)
	var sw schema.Software
	res.decode(tb, &sw)
	return &sw
}

// blobFiles lists every regular file under the artifact directory, temp
// files included.
func (e *env) blobFiles(tb testing.TB) []string {
	tb.Helper()
	var files []string
	err := filepath.WalkDir(e.blobDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(e.blobDir, path)
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("walk blobs: %v", err)
	}
	slices.Sort(files)
	return files
}

// wantNoSoftware fails unless the tenant has no software records and the
// artifact directory holds no file at all.
func (e *env) wantNoSoftware(tb testing.TB) {
	tb.Helper()
	list, err := e.db.SoftwareList(context.Background(), schema.SoftwareFilter{Tenant: tenantA})
	if err != nil {
		tb.Fatal(err)
	}
	if len(list) != 0 {
		tb.Fatalf("store has %d software records, want none", len(list))
	}
	if files := e.blobFiles(tb); len(files) != 0 {
		tb.Fatalf("artifact dir holds %v, want nothing", files)
	}
}

// wantInvalidations fails unless exactly want was published since the last
// check.
func (e *env) wantInvalidations(tb testing.TB, want ...cache.Invalidation) {
	tb.Helper()
	got := e.bus.take()
	if !slices.Equal(got, want) {
		tb.Fatalf("invalidations %+v, want %+v", got, want)
	}
}
