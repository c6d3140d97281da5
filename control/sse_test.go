package control_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gosling-ota/gosling/cache"
	"github.com/gosling-ota/gosling/control"
	"github.com/gosling-ota/gosling/schema"
)

// sseEvent is one parsed Server-Sent Event.
type sseEvent struct {
	name, id, data string
}

// stream opens a Server-Sent Events stream and returns its events; the
// channel closes when the stream ends.
func (e *env) stream(t *testing.T, path string) <-chan sseEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", e.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Accept", "text/event-stream")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	ch := make(chan sseEvent, 100)
	go func() {
		defer close(ch)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		var ev sseEvent
		var data []string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if len(data) > 0 || ev.name != "" {
					ev.data = strings.Join(data, "\n")
					ch <- ev
				}
				ev, data = sseEvent{}, nil
			case strings.HasPrefix(line, ":"):
			case strings.HasPrefix(line, "event: "):
				ev.name = line[len("event: "):]
			case strings.HasPrefix(line, "id: "):
				ev.id = line[len("id: "):]
			case strings.HasPrefix(line, "data: "):
				data = append(data, line[len("data: "):])
			}
		}
	}()
	return ch
}

// next returns the next event, failing after a while.
func next(t *testing.T, ch <-chan sseEvent) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("stream ended")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	return sseEvent{}
}

// nextOf skips events until one named name.
func nextOf(t *testing.T, ch <-chan sseEvent, name string) sseEvent {
	t.Helper()
	for {
		if ev := next(t, ch); ev.name == name {
			return ev
		}
	}
}

// noRecheck makes streams depend on the bus alone (the periodic re-read is
// a minute away), so a test proves the bus wakes them.
func noRecheck(c *control.Config) { c.StreamRecheck = time.Minute }

func TestActionLogFollow(t *testing.T) {
	e := newEnv(t, noRecheck)
	a := mustAction(t, e, "dev-1")
	ctx := context.Background()
	record := func(fb ...*schema.Feedback) {
		t.Helper()
		if _, err := e.db.RecordFeedback(ctx, fb); err != nil {
			t.Fatal(err)
		}
		// What a frontline does after recording feedback.
		_ = e.localBus.Publish(ctx, cache.Invalidation{Kind: cache.KindDevice, Tenant: tenantA, Key: a.DeviceID})
	}
	record(feedback(a, schema.ExecProceeding, schema.FinishedNone, "first", "second"))

	// Paged JSON.
	var page struct {
		Lines  []string `json:"lines"`
		Next   int      `json:"next"`
		Status string   `json:"status"`
	}
	base := "/api/v1/devices/dev-1/actions/" + itoa(a.ID) + "/log"
	e.request(t, "GET", base, "", nil).decode(t, &page)
	if strings.Join(page.Lines, "|") != "first|second" || page.Next != 1 || page.Status != "running" {
		t.Fatalf("log page %+v", page)
	}
	e.request(t, "GET", base+"?offset=1", "", nil).decode(t, &page)
	if len(page.Lines) != 0 || page.Next != 1 {
		t.Fatalf("log page at the end %+v", page)
	}
	e.request(t, "GET", "/api/v1/devices/dev-1/actions/999/log", "", nil).wantError(t, 404, schema.ENOTFOUND, "")

	ch := e.stream(t, base+"?follow=1")
	if ev := next(t, ch); ev.data != "first" || ev.id != "1" {
		t.Fatalf("first event %+v", ev)
	}
	if ev := next(t, ch); ev.data != "second" {
		t.Fatalf("second event %+v", ev)
	}
	if ev := next(t, ch); ev.name != "status" || !strings.Contains(ev.data, `"running"`) {
		t.Fatalf("status event %+v", ev)
	}
	// Lines recorded after the stream started arrive through the bus.
	record(feedback(a, schema.ExecProceeding, schema.FinishedNone, "third"))
	if ev := next(t, ch); ev.data != "third" || ev.id != "2" {
		t.Fatalf("live event %+v", ev)
	}
	record(feedback(a, schema.ExecClosed, schema.FinishedSuccess, "done"))
	if ev := next(t, ch); ev.data != "done" {
		t.Fatalf("last line %+v", ev)
	}
	end := nextOf(t, ch, "end")
	if !strings.Contains(end.data, `"succeeded"`) {
		t.Fatalf("end %+v", end)
	}
	if _, ok := <-ch; ok {
		t.Fatal("stream goes on after end")
	}

	// A closed action's stream sends everything from the offset, then ends.
	ch = e.stream(t, base+"?follow=1&offset=1")
	if ev := next(t, ch); ev.data != "third" {
		t.Fatalf("replay %+v", ev)
	}
	if ev := next(t, ch); ev.data != "done" {
		t.Fatalf("replay %+v", ev)
	}
	nextOf(t, ch, "end")
}

func TestActionLogHeartbeatAndRecheck(t *testing.T) {
	e := newEnv(t, func(c *control.Config) { c.StreamRecheck, c.StreamHeartbeat = 20*time.Millisecond, 10*time.Millisecond })
	a := mustAction(t, e, "dev-1")
	ch := e.stream(t, "/api/v1/devices/dev-1/actions/"+itoa(a.ID)+"/log?follow=1")
	nextOf(t, ch, "status")
	// Feedback whose invalidation is lost is still picked up by the recheck.
	if _, err := e.db.RecordFeedback(context.Background(), []*schema.Feedback{feedback(a, schema.ExecClosed, schema.FinishedFailure, "broken")}); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, ch); ev.data != "broken" {
		t.Fatalf("event %+v", ev)
	}
	nextOf(t, ch, "end")
}

func TestRolloutEventsFollow(t *testing.T) {
	e := newEnv(t, noRecheck)
	sw := e.mustUpload(t, "", "a.swu", mustSWU(t, "2.0", 300))
	newFleet(t, e, 10)
	ro := e.createRollout(t, map[string]any{"name": "r", "software_id": sw.ID})
	ch := e.stream(t, "/api/v1/rollouts/"+itoa(ro.ID)+"/events?follow=1")
	var ev schema.RolloutEvent
	first := next(t, ch)
	if err := json.Unmarshal([]byte(first.data), &ev); err != nil || ev.Type != "created" || first.id != itoa(ev.ID) {
		t.Fatalf("first event %+v (%v)", first, err)
	}
	e.tick(t) // the engine publishes the catalog after opening wave 0
	if err := json.Unmarshal([]byte(next(t, ch).data), &ev); err != nil || ev.Type != "wave_opened" {
		t.Fatalf("wave event %+v", ev)
	}
	e.request(t, "POST", "/api/v1/rollouts/"+itoa(ro.ID)+"/abort", "", nil).wantStatus(t, 200)
	if err := json.Unmarshal([]byte(next(t, ch).data), &ev); err != nil || ev.Type != "aborted" {
		t.Fatalf("abort event %+v", ev)
	}
	if end := next(t, ch); end.name != "end" || !strings.Contains(end.data, "aborted") {
		t.Fatalf("end %+v", end)
	}
	// Paged: after= skips what was seen.
	var page struct {
		Items []schema.RolloutEvent `json:"items"`
		Next  int64                 `json:"next"`
	}
	e.request(t, "GET", "/api/v1/rollouts/"+itoa(ro.ID)+"/events?limit=2", "", nil).decode(t, &page)
	if len(page.Items) != 2 || page.Next != page.Items[1].ID {
		t.Fatalf("page %+v", page)
	}
	e.request(t, "GET", "/api/v1/rollouts/"+itoa(ro.ID)+"/events?after="+itoa(page.Next), "", nil).decode(t, &page)
	if len(page.Items) != 1 || page.Items[0].Type != "aborted" {
		t.Fatalf("second page %+v", page)
	}
}
