package ddi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gosling-ota/gosling/artifacts"
	"github.com/gosling-ota/gosling/cache"
	"github.com/gosling-ota/gosling/ddi"
	"github.com/gosling-ota/gosling/ddi/dditest"
	"github.com/gosling-ota/gosling/schema"
	"github.com/gosling-ota/gosling/schema/sqlite"
)

const tenant = dditest.Tenant

// env is a running frontline (dditest.Frontline: a real SQLite store and
// a real artifacts store in a temp dir) with an HTTP client that treats
// redirects as errors, as devices do. The lowercase fields are the
// Frontline's, named as the tests here use them.
type env struct {
	*dditest.Frontline
	tb     testing.TB
	db     *sqlite.DB
	blobs  *artifacts.Store
	bus    *cache.LocalBus
	srv    *ddi.Server
	url    string // http://127.0.0.1:port
	client *http.Client
}

// MustEnv starts a frontline with cfg (Tenants defaults to DEFAULT).
func MustEnv(tb testing.TB, cfg ddi.Config) *env {
	tb.Helper()
	f := dditest.Start(tb, cfg)
	return &env{
		Frontline: f,
		tb:        tb, db: f.DB, blobs: f.Blobs, bus: f.Bus, srv: f.Srv, url: f.URL,
		client: &http.Client{
			Timeout: 20 * time.Second,
			// Devices treat a redirect as an error; so do the tests.
			CheckRedirect: func(*http.Request, []*http.Request) error { return errors.New("redirected") },
		},
	}
}

// base is the controller base URL of a device.
func (e *env) base(dev string) string { return e.url + "/" + tenant + "/controller/v1/" + dev }

// response is a finished HTTP exchange.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(tb testing.TB) map[string]any {
	tb.Helper()
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		tb.Fatalf("answer is not a JSON object: %v: %q", err, r.body)
	}
	return m
}

// Do sends a request; headers are "Name: value" strings (repeatable).
func (e *env) Do(method, url, body string, headers ...string) response {
	e.tb.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		e.tb.Fatalf("new request: %v", err)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.tb.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.tb.Fatalf("read answer: %v", err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// MustStatus fails unless r has status want.
func MustStatus(tb testing.TB, r response, want int) {
	tb.Helper()
	if r.status != want {
		tb.Fatalf("status %d, want %d; body %q", r.status, want, r.body)
	}
}

// MustDevice reads a device from the store.
func (e *env) MustDevice(id string) *schema.Device {
	e.tb.Helper()
	d, err := e.db.Device(context.Background(), tenant, id)
	if err != nil {
		e.tb.Fatalf("device %s: %v", id, err)
	}
	return d
}

// MustAction reads an action from the store.
func (e *env) MustAction(dev string, id int64) *schema.Action {
	e.tb.Helper()
	a, err := e.db.Action(context.Background(), tenant, dev, id)
	if err != nil {
		e.tb.Fatalf("action %d: %v", id, err)
	}
	return a
}

// Poll polls as dev and returns the answer's links (name → href).
func (e *env) Poll(dev string, headers ...string) (map[string]string, map[string]any) {
	e.tb.Helper()
	r := e.Do("GET", e.base(dev), "", headers...)
	MustStatus(e.tb, r, 200)
	m := r.json(e.tb)
	links := map[string]string{}
	if l, ok := m["_links"].(map[string]any); ok {
		for k, v := range l {
			links[k] = v.(map[string]any)["href"].(string)
		}
	}
	return links, m
}

// swupdateHeaders are what SWUpdate 2022.12 sends on JSON calls.
var swupdateHeaders = []string{
	"User-Agent: libcurl-agent/1.0",
	"Content-Type: application/json",
	"Accept: application/json",
	"charsets: utf-8",
	"charsets: utf-8",
}

// Feedback bodies as SWUpdate 2022.12 sends them (SWUPDATE.md).
const (
	fbProceeding = `{ "id": 1, "time": "20261128T020752", "status": { "result": { "progress": { "cnt" : 0, "of" : 1 }, "finished": "none" }, "execution": "proceeding", "details" : [ "Installing Update Chunk Artifacts." ] } }`
	fbSuccess    = `{ "id": 1, "time": "20261128T021752", "status": { "result": { "finished": "success" }, "execution": "closed", "details" : [ "Update Installed." ] } }`
	fbFailure    = `{ "id": 1, "time": "20261128T021752", "status": { "result": { "finished": "failure" }, "execution": "closed", "details" : [ "Update Failed." ] } }`
	// A literal newline inside a string: not JSON, but a real failure report.
	fbBrokenFailure = "{ \"id\": 1, \"time\": \"20261128T020752\", \"status\": { \"result\": { \"finished\": \"failure\" }, \"execution\": \"closed\", \"details\" : [ \"No artifact download URL reported by server.\n\" ] } }"
	fbCancelAck     = `{ "id": 1, "time": "20261128T020752", "status": { "result": { "finished": "success" }, "execution": "closed", "details" : [ "cancellation acknowledged." ] } }`
	configDataBody  = `{ "id": "", "time": "20261128T020752", "status": { "result": { "finished": "success" }, "execution": "closed", "details" : [ "" ] }, "data" : { "sw_version": "0.9.0","hw_revision": "1.0","hw_model": "devboard" } }`
)

// MustOffer registers dev, starts a rollout of a new software and polls
// until the deploymentBase is offered; it returns the offer's href and the
// action id.
func (e *env) MustOffer(dev string, headers ...string) (string, int64, *schema.Software, []byte) {
	e.tb.Helper()
	e.Poll(dev, headers...)
	sw, data := e.MustSoftware("1.2.0", 64<<10)
	e.MustRollout(sw)
	links, _ := e.Poll(dev, headers...)
	href, ok := links["deploymentBase"]
	if !ok {
		e.tb.Fatalf("no deploymentBase offered: %v", links)
	}
	d := e.MustDevice(dev)
	if d.ActionID == 0 {
		e.tb.Fatal("device has no open action after the offer")
	}
	return href, d.ActionID, sw, data
}
