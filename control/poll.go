package control

import (
	"net/http"

	"github.com/gosling-ota/gosling/cache"
	"github.com/gosling-ota/gosling/schema"
)

// getPollSettings answers the tenant's poll settings (schema.PollSettings;
// all zero when never set: every device sleeps the server's default).
func (s *Server) getPollSettings(w http.ResponseWriter, r *http.Request, tenant string) error {
	p, err := s.store.PollSettings(r.Context(), tenant)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, normalizePollSettings(p))
	return nil
}

// putPollSettings replaces the tenant's poll settings, after validation
// (every interval 1s..23:59:59, jitter 0..50 %), and tells the frontlines.
func (s *Server) putPollSettings(w http.ResponseWriter, r *http.Request, tenant string) error {
	var p schema.PollSettings
	if err := decodeJSON(w, r, &p); err != nil {
		return err
	}
	if err := p.Validate(); err != nil {
		return err
	}
	for feed := range p.Feeds {
		if err := validFeed(feed); err != nil {
			return err
		}
	}
	for tag := range p.Tags {
		if !tagRE.MatchString(tag) {
			return schema.Errorf(schema.EINVALID, "tags: %q is not a valid tag", tag)
		}
	}
	if err := s.store.SetPollSettings(r.Context(), tenant, &p); err != nil {
		return err
	}
	s.publish(r, cache.KindTenant, tenant, "")
	writeJSON(w, http.StatusOK, normalizePollSettings(&p))
	return nil
}

// normalizePollSettings answers a missing settings row as the zero value.
func normalizePollSettings(p *schema.PollSettings) *schema.PollSettings {
	if p == nil {
		p = &schema.PollSettings{}
	}
	return p
}
