package control

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gosling-ota/gosling/cache"
	"github.com/gosling-ota/gosling/schema"
)

// Server-Sent Events (text/event-stream) for following a log or a rollout.
//
// A stream is fed by the cache bus: the writer of the data (a frontline
// recording feedback, the engine or an operator changing a rollout)
// publishes an invalidation, and every stream that cares re-reads the store
// from where it stopped. The bus may lose messages (Redis pub/sub), so a
// stream also re-reads every Config.StreamRecheck; and it sends a comment
// every Config.StreamHeartbeat, so proxies keep an idle stream open and a
// gone client is noticed. Reads always go to the store, so a stream never
// shows what is not durable.

// wantsStream reports whether a request asks to follow: ?follow=1 (or
// true), or Accept: text/event-stream.
func wantsStream(r *http.Request) bool {
	switch r.URL.Query().Get("follow") {
	case "1", "true":
		return true
	}
	return strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}

// sseWriter writes events to one client.
type sseWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

// startSSE sends the stream's headers. The server's write timeout is
// lifted for this response: a stream lasts as long as what it follows.
func startSSE(w http.ResponseWriter) (*sseWriter, error) {
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // not every ResponseWriter supports it
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	sw := &sseWriter{w: w, rc: rc}
	return sw, sw.flush()
}

// event writes one event; data is split at newlines into data: fields (the
// client joins them again). name "" is the default "message" event; id ""
// sends no id.
func (sw *sseWriter) event(name, id, data string) error {
	var b strings.Builder
	if name != "" {
		b.WriteString("event: " + name + "\n")
	}
	if id != "" {
		b.WriteString("id: " + id + "\n")
	}
	for line := range strings.SplitSeq(strings.ReplaceAll(data, "\r\n", "\n"), "\n") {
		b.WriteString("data: " + strings.ReplaceAll(line, "\r", "") + "\n")
	}
	b.WriteByte('\n')
	_, err := sw.w.Write([]byte(b.String()))
	return err
}

// jsonEvent writes an event whose data is v as JSON (one line).
func (sw *sseWriter) jsonEvent(name, id string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return sw.event(name, id, string(b))
}

// comment writes a comment line (ignored by clients; keeps the stream alive).
func (sw *sseWriter) comment(text string) error {
	if _, err := sw.w.Write([]byte(": " + text + "\n\n")); err != nil {
		return err
	}
	return sw.flush()
}

func (sw *sseWriter) flush() error { return sw.rc.Flush() }

// watch subscribes to the bus and returns a channel that receives a value
// (coalesced: at most one waiting) whenever match accepts an invalidation or
// the bus signals KindAll (it may have lost messages). stop unsubscribes.
func (s *Server) watch(match func(cache.Invalidation) bool) (wake <-chan struct{}, stop func()) {
	ch := make(chan struct{}, 1)
	stop = s.bus.Subscribe(func(inv cache.Invalidation) {
		if inv.Kind == cache.KindAll || match(inv) {
			select {
			case ch <- struct{}{}:
			default: // a wake-up is already pending; bus callbacks must not block
			}
		}
	})
	return ch, stop
}

// errStreamDone ends a follow loop without an error.
var errStreamDone = errors.New("stream done")

// follow calls poll, then again on every wake-up, recheck and until poll
// returns errStreamDone or an error, the client leaves or ctx ends. It
// sends heartbeats in between. A poll error after the stream started cannot
// become an HTTP status, so it is sent as an "error" event (and logged when
// internal) and ends the stream.
func (s *Server) follow(ctx context.Context, r *http.Request, sw *sseWriter, wake <-chan struct{}, poll func() error) {
	recheck := time.NewTicker(s.cfg.StreamRecheck)
	defer recheck.Stop()
	heartbeat := time.NewTicker(s.cfg.StreamHeartbeat)
	defer heartbeat.Stop()
	for {
		if err := poll(); err != nil {
			if errors.Is(err, errStreamDone) || ctx.Err() != nil {
				return
			}
			code := schema.ErrorCode(err)
			if code == schema.EINTERNAL {
				s.logger.ErrorContext(ctx, "stream failed", slog.String("path", r.URL.Path), slog.Any("err", err))
			}
			_ = sw.jsonEvent("error", "", errorDetail{Code: code, Message: schema.ErrorMessage(err)})
			_ = sw.flush()
			return
		}
		if err := sw.flush(); err != nil {
			return
		}
	wait:
		for {
			select {
			case <-ctx.Done():
				return
			case <-wake:
				break wait
			case <-recheck.C:
				break wait
			case <-heartbeat.C:
				if err := sw.comment("heartbeat"); err != nil {
					return
				}
			}
		}
	}
}
