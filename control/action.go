package control

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/gosling-ota/gosling/cache"
	"github.com/gosling-ota/gosling/schema"
)

// feedbackPage is how many feedback rows one store call returns while an
// action's history is assembled.
const feedbackPage = 500

// maxFeedback bounds the history answered for one action. hawkBit caps
// status rows at 1000 per action; this leaves room for a store that does not
// cap, without letting one request read without end.
const maxFeedback = 10000

// actionBody is an action with what the device reported about it.
type actionBody struct {
	*schema.Action
	// Feedback is the history in arrival order.
	Feedback []*schema.Feedback `json:"feedback"`
	// Log is every non-empty details line of the history, in order, one per
	// line: what an operator reads to see why an update failed.
	Log string `json:"log"`
}

// listActions answers a device's actions, newest first, paged.
func (s *Server) listActions(w http.ResponseWriter, r *http.Request, tenant string) error {
	ctx := r.Context()
	deviceID := r.PathValue("id")
	p, err := parsePage(r)
	if err != nil {
		return err
	}
	// An unknown device is 404, not an empty list.
	if _, err := s.store.Device(ctx, tenant, deviceID); err != nil {
		return err
	}
	actions, total, err := s.store.Actions(ctx, schema.ActionFilter{Tenant: tenant, DeviceID: deviceID, Offset: p.Offset, Limit: p.Limit})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newList(actions, total, p))
	return nil
}

// getAction answers one action with its feedback history and log.
func (s *Server) getAction(w http.ResponseWriter, r *http.Request, tenant string) error {
	ctx := r.Context()
	deviceID := r.PathValue("id")
	id, err := pathID(r, "actionId")
	if err != nil {
		return err
	}
	a, err := s.store.Action(ctx, tenant, deviceID, id)
	if err != nil {
		return err
	}
	body := actionBody{Action: a, Feedback: []*schema.Feedback{}}
	for len(body.Feedback) < maxFeedback {
		fb, err := s.store.Feedback(ctx, tenant, deviceID, id, len(body.Feedback), feedbackPage)
		if err != nil {
			return err
		}
		body.Feedback = append(body.Feedback, fb...)
		if len(fb) < feedbackPage {
			break
		}
	}
	var log strings.Builder
	for _, f := range body.Feedback {
		if f.Details == nil {
			f.Details = []string{}
		}
		for _, line := range f.Details {
			if line == "" {
				continue
			}
			log.WriteString(line)
			if !strings.HasSuffix(line, "\n") {
				log.WriteByte('\n')
			}
		}
	}
	body.Log = log.String()
	writeJSON(w, http.StatusOK, body)
	return nil
}

// cancelAction asks the device to cancel an open action. The device learns
// it on its next poll (cancelAction link); the action stays canceling until
// the device confirms. Canceling a closed action is 409.
func (s *Server) cancelAction(w http.ResponseWriter, r *http.Request, tenant string) error {
	deviceID := r.PathValue("id")
	id, err := pathID(r, "actionId")
	if err != nil {
		return err
	}
	a, err := s.store.CancelAction(r.Context(), tenant, deviceID, id)
	if err != nil {
		return err
	}
	s.publish(r, cache.KindDevice, tenant, deviceID)
	writeJSON(w, http.StatusOK, a)
	return nil
}

// logBody is a page of an action's log.
type logBody struct {
	// Lines are the details lines of the feedback records read, in order.
	Lines []string `json:"lines"`
	// Next is the offset of the following page: offsets count feedback
	// records (one record may carry several lines), as the store pages them.
	Next   int                 `json:"next"`
	Status schema.ActionStatus `json:"status"`
}

// logStatus is the "status" event of a followed log.
type logStatus struct {
	Status   schema.ActionStatus `json:"status"`
	Progress schema.Progress     `json:"progress"`
}

// actionLog answers an action's log: the details lines of its feedback,
// from ?offset= (feedback records), at most ?limit= records. With
// ?follow=1 or Accept: text/event-stream it is a Server-Sent Events stream:
// the lines from offset (or Last-Event-ID) on, then new ones as feedback
// arrives at any frontline, each line a "message" event whose id is the
// offset after its record; a "status" event whenever the action's status or
// progress changes; and an "end" event once the action is closed and every
// line was sent.
func (s *Server) actionLog(w http.ResponseWriter, r *http.Request, tenant string) error {
	ctx := r.Context()
	deviceID := r.PathValue("id")
	id, err := pathID(r, "actionId")
	if err != nil {
		return err
	}
	p, err := parsePage(r)
	if err != nil {
		return err
	}
	stream := wantsStream(r)
	if v := r.Header.Get("Last-Event-ID"); stream && v != "" && r.URL.Query().Get("offset") == "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return schema.Errorf(schema.EINVALID, "Last-Event-ID %q: want a log offset", v)
		}
		p.Offset = n
	}
	a, err := s.store.Action(ctx, tenant, deviceID, id)
	if err != nil {
		return err
	}
	if !stream {
		fb, err := s.store.Feedback(ctx, tenant, deviceID, id, p.Offset, p.Limit)
		if err != nil {
			return err
		}
		body := logBody{Lines: []string{}, Next: p.Offset + len(fb), Status: a.Status}
		for _, f := range fb {
			body.Lines = append(body.Lines, logLines(f)...)
		}
		writeJSON(w, http.StatusOK, body)
		return nil
	}

	// Frontlines publish KindDevice for the device when feedback changes
	// its action's status and KindFeedback (for the device, or for several
	// devices of the tenant) for the rest. Subscribe before the first read,
	// so nothing written in between is missed.
	wake, stop := s.watch(func(inv cache.Invalidation) bool {
		if inv.Tenant != tenant {
			return false
		}
		return (inv.Kind == cache.KindDevice && inv.Key == deviceID) ||
			(inv.Kind == cache.KindFeedback && (inv.Key == deviceID || inv.Key == ""))
	})
	defer stop()
	sw, err := startSSE(w)
	if err != nil {
		return nil
	}
	offset := p.Offset
	var last logStatus
	s.follow(ctx, r, sw, wake, func() error {
		// Read the action before its feedback: if it is closed now, the
		// closing feedback is stored (same transaction), so the lines read
		// next are complete.
		a, err := s.store.Action(ctx, tenant, deviceID, id)
		if err != nil {
			return err
		}
		for {
			fb, err := s.store.Feedback(ctx, tenant, deviceID, id, offset, feedbackPage)
			if err != nil {
				return err
			}
			for _, f := range fb {
				offset++
				next := strconv.Itoa(offset)
				for _, line := range logLines(f) {
					if err := sw.event("", next, line); err != nil {
						return errStreamDone
					}
				}
			}
			if len(fb) < feedbackPage {
				break
			}
		}
		if st := (logStatus{Status: a.Status, Progress: a.Progress}); st != last {
			last = st
			if err := sw.jsonEvent("status", "", st); err != nil {
				return errStreamDone
			}
		}
		if !a.Status.Open() {
			_ = sw.jsonEvent("end", strconv.Itoa(offset), map[string]any{"status": a.Status, "next": offset})
			return errStreamDone
		}
		return nil
	})
	return nil
}

// logLines returns a feedback record's non-empty details lines.
func logLines(f *schema.Feedback) []string {
	out := make([]string, 0, len(f.Details))
	for _, l := range f.Details {
		if l = strings.TrimRight(l, "\r\n"); l != "" {
			out = append(out, l)
		}
	}
	return out
}
