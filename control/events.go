package control

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/gosling-ota/gosling/cache"
	"github.com/gosling-ota/gosling/schema"
)

// eventPage is how many rollout events one store call returns.
const eventPage = 100

// eventList is a page of rollout events; Next is the after= of the
// following page (the last event's id, or the request's after).
type eventList struct {
	Items []*schema.RolloutEvent `json:"items"`
	Next  int64                  `json:"next"`
}

// rolloutEvents answers a rollout's history (created, started, wave opened,
// thresholds crossed, paused, resumed, aborted, finished …), oldest first,
// from ?after=ID (exclusive; default 0), at most ?limit= (default 100).
// With ?follow=1 or Accept: text/event-stream it is a Server-Sent Events
// stream instead: every event from after= (or Last-Event-ID) on, then new
// ones as they happen, each as a "message" event with the event's id and
// JSON; it ends with an "end" event once the rollout is finished or
// aborted and everything was sent.
func (s *Server) rolloutEvents(w http.ResponseWriter, r *http.Request, tenant string) error {
	ctx := r.Context()
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	after, err := queryInt64(r, "after")
	if err != nil {
		return err
	}
	stream := wantsStream(r)
	if v := r.Header.Get("Last-Event-ID"); stream && v != "" && r.URL.Query().Get("after") == "" {
		if after, err = strconv.ParseInt(v, 10, 64); err != nil || after < 0 {
			return schema.Errorf(schema.EINVALID, "Last-Event-ID %q: want an event id", v)
		}
	}
	if _, err := s.store.Rollout(ctx, tenant, id); err != nil {
		return err
	}
	if !stream {
		p, err := parsePage(r)
		if err != nil {
			return err
		}
		events, err := s.store.RolloutEvents(ctx, tenant, id, after, p.Limit)
		if err != nil {
			return err
		}
		body := eventList{Items: events, Next: after}
		if body.Items == nil {
			body.Items = []*schema.RolloutEvent{}
		}
		if n := len(events); n > 0 {
			body.Next = events[n-1].ID
		}
		writeJSON(w, http.StatusOK, body)
		return nil
	}

	// Subscribe before the first read, so nothing written in between is
	// missed.
	wake, stop := s.watch(func(inv cache.Invalidation) bool {
		return inv.Kind == cache.KindCatalog && inv.Tenant == tenant
	})
	defer stop()
	sw, err := startSSE(w)
	if err != nil {
		return nil
	}
	var st followState
	s.follow(ctx, r, sw, wake, func() error {
		return s.sendRolloutEvents(ctx, sw, tenant, id, &after, &st)
	})
	return nil
}

// eventSettle is how long after a rollout's last write its events are
// surely stored: a transition is written first and its events right after
// (they describe only transitions that happened).
const eventSettle = 2 * time.Second

// followState is what a rollout event stream remembers between reads.
type followState struct {
	finalSeen bool   // the rollout was final on an earlier read
	lastType  string // the type of the last event sent
}

// terminalEvents end a rollout's history: once one was sent and the
// rollout is final, nothing is left to wait for.
var terminalEvents = map[string]bool{"finished": true, "aborted": true, "error_threshold": true}

// sendRolloutEvents sends the events after *after and advances it. The
// rollout is read first; the stream ends once the rollout is final and its
// last transition's events are stored for sure: a terminal event was sent,
// or it was already final on the previous read, or its last write is older
// than eventSettle.
func (s *Server) sendRolloutEvents(ctx context.Context, sw *sseWriter, tenant string, id int64, after *int64, st *followState) error {
	ro, err := s.store.Rollout(ctx, tenant, id)
	if err != nil {
		if schema.ErrorCode(err) == schema.ENOTFOUND {
			_ = sw.event("end", "", `{"status":"deleted"}`)
			return errStreamDone
		}
		return err
	}
	for {
		events, err := s.store.RolloutEvents(ctx, tenant, id, *after, eventPage)
		if err != nil {
			return err
		}
		for _, e := range events {
			if err := sw.jsonEvent("", strconv.FormatInt(e.ID, 10), e); err != nil {
				return errStreamDone
			}
			*after, st.lastType = e.ID, e.Type
		}
		if len(events) < eventPage {
			break
		}
	}
	if ro.Status == schema.RolloutFinished || ro.Status == schema.RolloutAborted {
		if terminalEvents[st.lastType] || st.finalSeen || time.Since(ro.UpdatedAt) > eventSettle {
			_ = sw.jsonEvent("end", "", map[string]string{"status": ro.Status})
			return errStreamDone
		}
		st.finalSeen = true
	}
	return nil
}

// queryInt64 reads a non-negative integer query parameter (0 when absent).
func queryInt64(r *http.Request, name string) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, schema.Errorf(schema.EINVALID, "%s %q: want a non-negative integer", name, v)
	}
	return n, nil
}
