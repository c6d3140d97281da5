package main_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gosling-ota/gosling/cmd/gosling/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

// Generous bounds for waits on the real client; with a 1s poll interval
// each step normally takes a few seconds.
const (
	waitStep    = 45 * time.Second // one client step: register, install, report
	waitFlushed = 30 * time.Second // last-seen times are flushed every 10s
)

// uploadSWU builds spec's image, uploads it and checks the answer describes
// it. It returns the software id and the image.
func uploadSWU(t *testing.T, g *testenv.Gosling, spec testenv.SWUSpec) (int64, []byte) {
	t.Helper()
	image := testenv.BuildSWU(t, spec)
	name := "image-" + spec.Version + ".swu"
	sw := g.MustJSON(t, http.StatusCreated, "POST", "/api/v1/software?filename="+url.QueryEscape(name), image)
	sum := sha256.Sum256(image)
	if sw.Int("id") == 0 || sw.Str("version") != spec.Version || sw.Str("sha256") != hex.EncodeToString(sum[:]) ||
		sw.Int("size") != int64(len(image)) || sw.Str("filename") != name {
		t.Fatalf("upload answered %s; want version %s, sha256 %x, size %d, filename %s", sw, spec.Version, sum, len(image), name)
	}
	return sw.Int("id"), image
}

// device returns a device through the admin API.
func device(t *testing.T, g *testenv.Gosling, id string) testenv.Object {
	t.Helper()
	return g.MustJSON(t, http.StatusOK, "GET", "/api/v1/devices/"+id, nil)
}

// waitDevice waits until cond accepts the device (which must exist by then).
func waitDevice(t *testing.T, g *testenv.Gosling, id string, timeout time.Duration, cond func(d testenv.Object) (bool, string)) testenv.Object {
	t.Helper()
	var last testenv.Object
	testenv.Eventually(t, timeout, func() (bool, string) {
		status, d, err := g.Admin("GET", "/api/v1/devices/"+id, nil)
		if err != nil || status != http.StatusOK {
			return false, fmt.Sprintf("GET device %s: %d %v %s", id, status, err, d)
		}
		last = d
		ok, msg := cond(d)
		return ok, fmt.Sprintf("device %s: %s", d, msg)
	})
	return last
}

// action returns one action with its feedback and log.
func action(t *testing.T, g *testenv.Gosling, deviceID string, actionID int64) testenv.Object {
	t.Helper()
	return g.MustJSON(t, http.StatusOK, "GET", fmt.Sprintf("/api/v1/devices/%s/actions/%d", deviceID, actionID), nil)
}

// actionLog is everything the device said about an action: the log lines
// and the feedback details, whatever shape the API gives them.
func actionLog(a testenv.Object) string {
	var b strings.Builder
	b.WriteString(a.Str("log"))
	for _, f := range a.List("feedback") {
		b.WriteString(f.Str("details"))
	}
	return b.String()
}

// waitAction waits until the action has the status and its log contains
// every one of logs.
func waitAction(t *testing.T, g *testenv.Gosling, deviceID string, actionID int64, status string, logs ...string) testenv.Object {
	t.Helper()
	var last testenv.Object
	testenv.Eventually(t, waitStep, func() (bool, string) {
		last = action(t, g, deviceID, actionID)
		if last.Str("status") != status {
			return false, fmt.Sprintf("action status %q, want %q: %s", last.Str("status"), status, last)
		}
		for _, l := range logs {
			if !strings.Contains(actionLog(last), l) {
				return false, fmt.Sprintf("action log lacks %q: %s", l, last)
			}
		}
		return true, ""
	})
	return last
}

// openActionID waits until the device has an open action and returns its id.
func openActionID(t *testing.T, g *testenv.Gosling, deviceID string) int64 {
	t.Helper()
	d := waitDevice(t, g, deviceID, waitStep, func(d testenv.Object) (bool, string) {
		return d.Int("action_id") != 0, "no open action"
	})
	return d.Int("action_id")
}

// lastSeen parses the device's last_seen; zero when absent.
func lastSeen(t *testing.T, d testenv.Object) time.Time {
	t.Helper()
	s := d.Str("last_seen")
	if s == "" || s == "null" {
		return time.Time{}
	}
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("last_seen %q: %v", s, err)
	}
	return ts
}

// wantAttributes checks a device's reported attributes.
func wantAttributes(d testenv.Object, want map[string]string) (bool, string) {
	attrs := d.Obj("attributes")
	for k, v := range want {
		if attrs.Str(k) != v {
			return false, fmt.Sprintf("attribute %s = %q, want %q", k, attrs.Str(k), v)
		}
	}
	return true, ""
}

// wantFile checks that the rawfile handler wrote want to path.
func wantFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("payload not installed: %v", err)
	}
	if string(got) != string(want) {
		t.Fatalf("installed payload %s has %d bytes (sha256 %x), want %d bytes (sha256 %x)",
			path, len(got), sha256.Sum256(got), len(want), sha256.Sum256(want))
	}
}

// wantAllOK checks that every request the client sent through the proxy got
// a status SWUpdate counts as success (200, 206, 226): it treats anything
// else, 201 and 204 included, as an error and retries or gives up.
func wantAllOK(t *testing.T, p *testenv.Proxy) {
	t.Helper()
	for _, r := range p.Requests() {
		switch r.Status {
		case http.StatusOK, http.StatusPartialContent, http.StatusIMUsed:
		default:
			t.Errorf("%s %s answered %d; the client needs 200, 206 or 226", r.Method, r.URI, r.Status)
		}
	}
}
