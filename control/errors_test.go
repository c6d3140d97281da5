package control_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gosling-ota/gosling/artifacts"
	"github.com/gosling-ota/gosling/cache"
	"github.com/gosling-ota/gosling/control"
	"github.com/gosling-ota/gosling/schema"
	"github.com/gosling-ota/gosling/schema/sqlite"
)

// brokenStore fails Rollouts with an error that must not reach clients.
type brokenStore struct{ *sqlite.DB }

func (brokenStore) Rollouts(context.Context, string) ([]*schema.Rollout, error) {
	return nil, errors.New("disk on fire at /var/lib/secret")
}

// brokenBus fails every publish.
type brokenBus struct{ cache.Bus }

func (brokenBus) Publish(context.Context, cache.Invalidation) error { return errors.New("redis down") }

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestInternalErrors checks that an unexpected store failure is answered
// 500 without details and logged with them, and that a failed publish does
// not fail a committed write.
func TestInternalErrors(t *testing.T) {
	dir := t.TempDir()
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	blobs, err := artifacts.OpenStore(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	srv, err := control.New(control.Config{Tenants: []string{tenantA}, AdminToken: adminToken},
		brokenStore{db}, brokenBus{cache.NewLocalBus()}, blobs, logger)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	e := &env{srv: srv, url: hs.URL, db: db}

	res := e.request(t, "GET", "/api/v1/rollouts", "", nil)
	res.wantError(t, 500, schema.EINTERNAL, "internal error")
	if strings.Contains(string(res.body), "disk on fire") {
		t.Fatalf("internal detail leaked: %s", res.body)
	}
	if l := logs.String(); !strings.Contains(l, "disk on fire") || !strings.Contains(l, "component=control") || !strings.Contains(l, "path=/api/v1/rollouts") {
		t.Fatalf("log does not carry the error: %s", l)
	}

	e.json(t, "POST", "/api/v1/devices", map[string]any{"id": "dev-1"}).wantStatus(t, http.StatusCreated)
	if !strings.Contains(logs.String(), "redis down") {
		t.Fatalf("failed publish not logged: %s", logs.String())
	}
}

// TestConcurrentUploads races identical uploads of one version: exactly one
// is created, the others get 409, and the blob of the winner stays.
func TestConcurrentUploads(t *testing.T) {
	e := newEnv(t)
	swu := mustSWU(t, "7.0", 20000, "1.0")
	const n = 8
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			req, _ := http.NewRequest("POST", e.url+"/api/v1/software?filename=x.swu", bytes.NewReader(swu))
			req.Header.Set("Authorization", "Bearer "+adminToken)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			res.Body.Close()
			statuses <- res.StatusCode
		})
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	if count[201] != 1 || count[409] != n-1 {
		t.Fatalf("statuses %v, want one 201 and %d 409", count, n-1)
	}
	list, _ := e.db.SoftwareList(context.Background(), schema.SoftwareFilter{Tenant: tenantA})
	if len(list) != 1 || !hasBlob(e.blobFiles(t), list[0].SHA256) || len(e.blobFiles(t)) != 1 {
		t.Fatalf("records %d, files %v: want the winner's blob alone", len(list), e.blobFiles(t))
	}
}
