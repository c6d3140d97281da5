package control

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/gosling-ota/gosling/cache"
	"github.com/gosling-ota/gosling/schema"
)

// rolloutCreateRequest starts a rollout.
type rolloutCreateRequest struct {
	Name       string `json:"name"`
	Feed       string `json:"feed"`
	SoftwareID int64  `json:"software_id"`
}

// createRollout starts offering a software to the ModeRollout devices of a
// feed (default "default"). It runs at once; the newest running rollout of a
// feed wins.
func (s *Server) createRollout(w http.ResponseWriter, r *http.Request, tenant string) error {
	ctx := r.Context()
	var req rolloutCreateRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Name == "" {
		return schema.Errorf(schema.EINVALID, "name is required")
	}
	if err := validName(req.Name); err != nil {
		return err
	}
	if req.Feed == "" {
		req.Feed = schema.DefaultFeed
	}
	if err := validFeed(req.Feed); err != nil {
		return err
	}
	if req.SoftwareID <= 0 {
		return schema.Errorf(schema.EINVALID, "software_id is required")
	}
	if err := s.softwareExists(ctx, tenant, req.SoftwareID); err != nil {
		return err
	}
	ro := &schema.Rollout{Tenant: tenant, Name: req.Name, Feed: req.Feed, SoftwareID: req.SoftwareID, Status: schema.RolloutRunning}
	if err := s.store.CreateRollout(ctx, ro); err != nil {
		if schema.ErrorCode(err) == schema.ENOTFOUND {
			// The software went away since the check above.
			return schema.Errorf(schema.EINVALID, "software_id %d: no such software", req.SoftwareID)
		}
		return err
	}
	s.publish(r, cache.KindCatalog, tenant, "")
	w.Header().Set("Location", "/api/v1/rollouts/"+strconv.FormatInt(ro.ID, 10)+"?tenant="+url.QueryEscape(tenant))
	writeJSON(w, http.StatusCreated, ro)
	return nil
}

// listRollouts answers the tenant's rollouts, newest first, paged.
func (s *Server) listRollouts(w http.ResponseWriter, r *http.Request, tenant string) error {
	p, err := parsePage(r)
	if err != nil {
		return err
	}
	all, err := s.store.Rollouts(r.Context(), tenant)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, pageSlice(all, p))
	return nil
}

// getRollout answers one rollout.
func (s *Server) getRollout(w http.ResponseWriter, r *http.Request, tenant string) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ro, err := s.store.Rollout(r.Context(), tenant, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ro)
	return nil
}

// pauseRollout stops a rollout from offering its software to devices that
// have not started it; open actions run on. Pausing a paused rollout is a
// no-op.
func (s *Server) pauseRollout(w http.ResponseWriter, r *http.Request, tenant string) error {
	return s.setRolloutStatus(w, r, tenant, schema.RolloutPaused)
}

// resumeRollout makes a paused rollout run again.
func (s *Server) resumeRollout(w http.ResponseWriter, r *http.Request, tenant string) error {
	return s.setRolloutStatus(w, r, tenant, schema.RolloutRunning)
}

func (s *Server) setRolloutStatus(w http.ResponseWriter, r *http.Request, tenant, status string) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ro, err := s.store.SetRolloutStatus(r.Context(), tenant, id, status)
	if err != nil {
		return err
	}
	s.publish(r, cache.KindCatalog, tenant, "")
	writeJSON(w, http.StatusOK, ro)
	return nil
}

// deleteRollout removes a rollout; its actions keep their history.
func (s *Server) deleteRollout(w http.ResponseWriter, r *http.Request, tenant string) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.store.DeleteRollout(r.Context(), tenant, id); err != nil {
		return err
	}
	s.publish(r, cache.KindCatalog, tenant, "")
	w.WriteHeader(http.StatusNoContent)
	return nil
}
