package control

import (
	"net/http"
	"slices"

	"github.com/gosling-ota/gosling/cache"
	"github.com/gosling-ota/gosling/schema"
)

// bulkRequest changes every device a target selects.
type bulkRequest struct {
	Target *schema.Target `json:"target"`
	Set    bulkSet        `json:"set"`
}

// bulkSet is what a bulk request changes; absent fields stay.
type bulkSet struct {
	UpdateMode *schema.UpdateMode `json:"update_mode"`
	SoftwareID *int64             `json:"software_id"`
	Feed       *string            `json:"feed"`
	// Tags replaces the tags; AddTags and RemoveTags edit them instead
	// (not with Tags).
	Tags       *[]string `json:"tags"`
	AddTags    []string  `json:"add_tags"`
	RemoveTags []string  `json:"remove_tags"`
	// PollInterval: a duration or "HH:MM:SS"; "" or null removes it.
	PollInterval optString `json:"poll_interval"`
}

// bulkBody answers a bulk request.
type bulkBody struct {
	Updated int      `json:"updated"`
	IDs     []string `json:"ids"` // the first maxBulkIDs
}

// maxBulkIDs bounds the ids a bulk answer lists.
const maxBulkIDs = 1000

// bulkPublishAll is the number of changed devices above which one KindAll
// invalidation replaces per-device ones: a million messages over Redis cost
// more than every frontline dropping its L1 once.
const bulkPublishAll = 10000

// bulkDevices applies one change to every device a target selects: update
// mode, software and feed in one store transaction (UpdateDevices), then
// tag edits (add_tags/remove_tags) device by device, since each device's
// new tags depend on its old ones. An empty target is refused: a bulk change
// must say what it targets.
func (s *Server) bulkDevices(w http.ResponseWriter, r *http.Request, tenant string) error {
	ctx := r.Context()
	var req bulkRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Target.IsZero() {
		return schema.Errorf(schema.EINVALID, "target is required and must select something (a bulk change to every device is refused)")
	}
	if err := validTarget(req.Target); err != nil {
		return err
	}
	u, err := s.bulkUpdate(r, tenant, &req.Set)
	if err != nil {
		return err
	}
	add, err := validTags("add_tags", req.Set.AddTags)
	if err != nil {
		return err
	}
	remove, err := validTags("remove_tags", req.Set.RemoveTags)
	if err != nil {
		return err
	}
	if u.Tags != nil && len(add)+len(remove) > 0 {
		return schema.Errorf(schema.EINVALID, "set: tags replaces the tags; use it or add_tags/remove_tags, not both")
	}
	editTags := len(add)+len(remove) > 0
	if u == (schema.DeviceUpdate{}) && !editTags {
		return schema.Errorf(schema.EINVALID, "set: nothing to change")
	}

	var ids []string
	if u != (schema.DeviceUpdate{}) {
		if ids, err = s.store.UpdateDevices(ctx, tenant, *req.Target, u); err != nil {
			return err
		}
	} else {
		for after := ""; ; {
			page, err := s.store.DeviceIDs(ctx, tenant, *req.Target, after, populationPage)
			if err != nil {
				return err
			}
			ids = append(ids, page...)
			if len(page) < populationPage {
				break
			}
			after = page[len(page)-1]
		}
	}
	if editTags {
		for _, id := range ids {
			d, err := s.store.Device(ctx, tenant, id)
			if schema.ErrorCode(err) == schema.ENOTFOUND {
				continue // deleted meanwhile
			} else if err != nil {
				return err
			}
			tags := slices.DeleteFunc(append(slices.Clone(d.Tags), add...), func(t string) bool { return slices.Contains(remove, t) })
			slices.Sort(tags)
			tags = slices.Compact(tags)
			if slices.Equal(tags, d.Tags) {
				continue
			}
			if _, err := s.store.UpdateDevice(ctx, tenant, id, schema.DeviceUpdate{Tags: &tags}); err != nil && schema.ErrorCode(err) != schema.ENOTFOUND {
				return err
			}
		}
	}

	if len(ids) > bulkPublishAll {
		s.engine.dropPopulations(tenant)
		s.publish(r, cache.KindAll, "", "")
	} else {
		for _, id := range ids {
			s.publish(r, cache.KindDevice, tenant, id)
		}
	}
	body := bulkBody{Updated: len(ids), IDs: ids[:min(len(ids), maxBulkIDs)]}
	if body.IDs == nil {
		body.IDs = []string{}
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

// bulkUpdate validates the store-side part of a bulk change. A software
// may only be chosen with update_mode assigned, which must then come with
// one (devices in other modes have none to keep); leaving assigned clears
// the software, as PATCH does.
func (s *Server) bulkUpdate(r *http.Request, tenant string, set *bulkSet) (schema.DeviceUpdate, error) {
	var u schema.DeviceUpdate
	if set.Feed != nil {
		if err := validFeed(*set.Feed); err != nil {
			return u, err
		}
		u.Feed = set.Feed
	}
	if set.UpdateMode != nil || set.SoftwareID != nil {
		if set.UpdateMode == nil {
			return u, schema.Errorf(schema.EINVALID, "set.software_id needs set.update_mode %q", schema.ModeAssigned)
		}
		var sw int64
		if set.SoftwareID != nil {
			sw = *set.SoftwareID
		}
		if err := s.validAssignment(r.Context(), tenant, *set.UpdateMode, sw, true); err != nil {
			return u, err
		}
		u.UpdateMode, u.SoftwareID = set.UpdateMode, &sw
	}
	if set.Tags != nil {
		tags, err := validTags("tags", *set.Tags)
		if err != nil {
			return u, err
		}
		u.Tags = &tags
	}
	if set.PollInterval.Set {
		d, err := parsePollInterval(set.PollInterval.Value)
		if err != nil {
			return u, err
		}
		u.PollInterval = &d
	}
	return u, nil
}
