package control

import (
	"net/http"
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
