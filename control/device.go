package control

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/gosling-ota/gosling/cache"
	"github.com/gosling-ota/gosling/schema"
)

var (
	// deviceIDRE is the shape of a provisioned controller id. It is a DDI
	// path segment, so it must be URL-safe without escaping.
	deviceIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:@~+-]{0,255}$`)
	// feedRE is the shape of a feed name.
	feedRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
)

// deviceBody is a device as answered, with the token when Gosling just
// generated it: the only time it is ever shown, since only its hash is kept.
type deviceBody struct {
	*schema.Device
	// PollInterval shadows the Device field (nanoseconds) with a duration
	// string, the form requests use.
	PollInterval string `json:"poll_interval,omitempty"`
	Token        string `json:"token,omitempty"`
}

// writeDevice answers one device, with maps never null.
func writeDevice(w http.ResponseWriter, status int, d *schema.Device, token string) {
	if status == http.StatusCreated {
		w.Header().Set("Location", "/api/v1/devices/"+url.PathEscape(d.ID)+"?tenant="+url.QueryEscape(d.Tenant))
	}
	writeJSON(w, status, newDeviceBody(d, token))
}

func newDeviceBody(d *schema.Device, token string) deviceBody {
	b := deviceBody{Device: normalizeDevice(d), Token: token}
	if d.PollInterval > 0 {
		b.PollInterval = d.PollInterval.String()
	}
	return b
}

func normalizeDevice(d *schema.Device) *schema.Device {
	if d.Attributes == nil {
		d.Attributes = map[string]string{}
	}
	if d.Tags == nil {
		d.Tags = []string{}
	}
	return d
}

// deviceStatuses are the values of ?status=.
var deviceStatuses = []string{schema.DeviceRegistered, schema.DeviceUpdating, schema.DeviceInSync, schema.DeviceFailed}

// listDevices answers the devices a selection in query parameters matches
// (see targetFromQuery), ordered by id, paged.
func (s *Server) listDevices(w http.ResponseWriter, r *http.Request, tenant string) error {
	p, err := parsePage(r)
	if err != nil {
		return err
	}
	t, err := targetFromQuery(r.URL.Query())
	if err != nil {
		return err
	}
	devices, total, err := s.store.Devices(r.Context(), schema.DeviceFilter{Tenant: tenant, Target: t, Offset: p.Offset, Limit: p.Limit})
	if err != nil {
		return err
	}
	items := make([]deviceBody, len(devices))
	for i, d := range devices {
		items[i] = newDeviceBody(d, "")
	}
	writeJSON(w, http.StatusOK, newList(items, total, p))
	return nil
}

// getDevice answers one device.
func (s *Server) getDevice(w http.ResponseWriter, r *http.Request, tenant string) error {
	d, err := s.store.Device(r.Context(), tenant, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeDevice(w, http.StatusOK, d, "")
	return nil
}

// deviceCreateRequest pre-provisions a device.
type deviceCreateRequest struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Token: absent or "" → generate one; null → no TargetToken (the
	// device authenticates with the tenant's GatewayToken); else the token.
	Token      optString         `json:"token"`
	UpdateMode schema.UpdateMode `json:"update_mode"`
	SoftwareID int64             `json:"software_id"`
	Feed       string            `json:"feed"`
	Tags       []string          `json:"tags"`
	// PollInterval overrides the tenant's poll settings: a duration ("5m")
	// or "HH:MM:SS"; "" for none.
	PollInterval string `json:"poll_interval"`
}

// createDevice pre-provisions a device, so it is known (with its token,
// mode and feed) before its first poll.
func (s *Server) createDevice(w http.ResponseWriter, r *http.Request, tenant string) error {
	ctx := r.Context()
	var req deviceCreateRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.ID == "" {
		return schema.Errorf(schema.EINVALID, "id is required")
	}
	if !deviceIDRE.MatchString(req.ID) {
		return schema.Errorf(schema.EINVALID, "id %q: want 1-256 characters of A-Z a-z 0-9 . _ : @ ~ + - starting with a letter or digit", req.ID)
	}
	if err := validName(req.Name); err != nil {
		return err
	}
	if req.UpdateMode == "" {
		req.UpdateMode = schema.ModeRollout
	}
	if req.Feed == "" {
		req.Feed = schema.DefaultFeed
	}
	if err := validFeed(req.Feed); err != nil {
		return err
	}
	if err := s.validAssignment(ctx, tenant, req.UpdateMode, req.SoftwareID, req.SoftwareID != 0); err != nil {
		return err
	}
	tags, err := validTags("tags", req.Tags)
	if err != nil {
		return err
	}
	poll, err := parsePollInterval(req.PollInterval)
	if err != nil {
		return err
	}
	hash, token, err := tokenChange(req.Token)
	if err != nil {
		return err
	}
	d := &schema.Device{
		Tags:         tags,
		PollInterval: poll,
		Tenant:       tenant,
		ID:           req.ID,
		Name:         req.Name,
		TokenHash:    hash,
		UpdateMode:   req.UpdateMode,
		SoftwareID:   req.SoftwareID,
		Feed:         req.Feed,
		Provisioned:  true,
	}
	if err := s.store.CreateDevice(ctx, d); err != nil {
		if schema.ErrorCode(err) == schema.ECONFLICT {
			return schema.Errorf(schema.ECONFLICT, "device %q already exists", req.ID)
		}
		return err
	}
	s.publish(r, cache.KindDevice, tenant, d.ID)
	writeDevice(w, http.StatusCreated, d, token)
	return nil
}

// devicePatchRequest changes a device; absent fields stay as they are.
type devicePatchRequest struct {
	Name       *string            `json:"name"`
	UpdateMode *schema.UpdateMode `json:"update_mode"`
	SoftwareID *int64             `json:"software_id"`
	Feed       *string            `json:"feed"`
	// Token: "" → generate a new one (answered once); null → remove the
	// TargetToken; else the new token.
	Token optString `json:"token"`
	// Tags replaces the device's tags.
	Tags *[]string `json:"tags"`
	// PollInterval: a duration or "HH:MM:SS"; "" or null removes it.
	PollInterval optString `json:"poll_interval"`
}

// patchDevice changes a device's name, token, update mode, software or feed.
// Leaving ModeAssigned clears the assigned software, so a device never keeps
// a stale choice that would come back with the mode.
func (s *Server) patchDevice(w http.ResponseWriter, r *http.Request, tenant string) error {
	ctx := r.Context()
	id := r.PathValue("id")
	var req devicePatchRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	cur, err := s.store.Device(ctx, tenant, id)
	if err != nil {
		return err
	}
	var u schema.DeviceUpdate
	if req.Name != nil {
		if err := validName(*req.Name); err != nil {
			return err
		}
		u.Name = req.Name
	}
	if req.Feed != nil {
		if err := validFeed(*req.Feed); err != nil {
			return err
		}
		u.Feed = req.Feed
	}
	mode, swID := cur.UpdateMode, cur.SoftwareID
	if req.UpdateMode != nil {
		mode = *req.UpdateMode
		u.UpdateMode = req.UpdateMode
	}
	if req.SoftwareID != nil {
		swID = *req.SoftwareID
		u.SoftwareID = req.SoftwareID
	} else if mode != schema.ModeAssigned && swID != 0 {
		swID = 0
		u.SoftwareID = &swID
	}
	// Check the software only when this request chooses it; an unchanged
	// assignment was checked when it was made.
	check := req.SoftwareID != nil || req.UpdateMode != nil
	if err := s.validAssignment(ctx, tenant, mode, swID, check); err != nil {
		return err
	}
	if req.Tags != nil {
		tags, err := validTags("tags", *req.Tags)
		if err != nil {
			return err
		}
		u.Tags = &tags
	}
	if req.PollInterval.Set {
		poll, err := parsePollInterval(req.PollInterval.Value)
		if err != nil {
			return err
		}
		u.PollInterval = &poll
	}
	var token string
	if req.Token.Set {
		hash, t, err := tokenChange(req.Token)
		if err != nil {
			return err
		}
		u.TokenHash, token = &hash, t
	}
	if u == (schema.DeviceUpdate{}) {
		writeDevice(w, http.StatusOK, cur, "")
		return nil
	}
	d, err := s.store.UpdateDevice(ctx, tenant, id, u)
	if err != nil {
		return err
	}
	s.publish(r, cache.KindDevice, tenant, id)
	writeDevice(w, http.StatusOK, d, token)
	return nil
}

// deleteDevice removes a device with its actions.
func (s *Server) deleteDevice(w http.ResponseWriter, r *http.Request, tenant string) error {
	id := r.PathValue("id")
	if err := s.store.DeleteDevice(r.Context(), tenant, id); err != nil {
		return err
	}
	s.publish(r, cache.KindDevice, tenant, id)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// validAssignment checks an update mode with its software: ModeAssigned
// needs an existing software, and a software may only be chosen in
// ModeAssigned (elsewhere it would be silently ignored). exists asks to
// look the software up.
func (s *Server) validAssignment(ctx context.Context, tenant string, mode schema.UpdateMode, softwareID int64, exists bool) error {
	if !mode.Valid() {
		return invalidMode(mode)
	}
	if softwareID < 0 {
		return schema.Errorf(schema.EINVALID, "software_id: want a positive id, got %d", softwareID)
	}
	if mode == schema.ModeAssigned && softwareID == 0 {
		return schema.Errorf(schema.EINVALID, "update_mode %q requires a software_id", schema.ModeAssigned)
	}
	if mode != schema.ModeAssigned && softwareID != 0 {
		return schema.Errorf(schema.EINVALID, "software_id applies only to update_mode %q, not %q", schema.ModeAssigned, mode)
	}
	if exists && softwareID != 0 {
		return s.softwareExists(ctx, tenant, softwareID)
	}
	return nil
}

// softwareExists turns a missing referenced software into EINVALID: the
// request is wrong, the URL it was sent to exists.
func (s *Server) softwareExists(ctx context.Context, tenant string, id int64) error {
	if _, err := s.store.Software(ctx, tenant, id); err != nil {
		if schema.ErrorCode(err) == schema.ENOTFOUND {
			return schema.Errorf(schema.EINVALID, "software_id %d: no such software", id)
		}
		return err
	}
	return nil
}

// tokenChange turns a token field into the hash to store and, when Gosling
// generated the token, the token to answer once.
func tokenChange(t optString) (hash, generated string, err error) {
	switch {
	case t.Null:
		return "", "", nil
	case !t.Set || t.Value == "":
		generated = newToken()
		return schema.HashToken(generated), generated, nil
	}
	if err := validToken("token", t.Value); err != nil {
		return "", "", err
	}
	return schema.HashToken(t.Value), "", nil
}

func invalidMode(m schema.UpdateMode) error {
	return schema.Errorf(schema.EINVALID, "update_mode %q: want one of %s", m,
		quoteList(string(schema.ModeRollout), string(schema.ModeLatest), string(schema.ModeAssigned), string(schema.ModePinned)))
}

func validFeed(f string) error {
	if !feedRE.MatchString(f) {
		return schema.Errorf(schema.EINVALID, "feed %q: want 1-64 characters of A-Z a-z 0-9 . _ - starting with a letter or digit", f)
	}
	return nil
}

func validName(n string) error {
	if len(n) > maxTextLen {
		return schema.Errorf(schema.EINVALID, "name: at most %d bytes, got %d", maxTextLen, len(n))
	}
	if strings.ContainsFunc(n, func(c rune) bool { return c < ' ' || c == 0x7f }) {
		return schema.Errorf(schema.EINVALID, "name: control characters are not allowed")
	}
	return nil
}

// parsePollInterval reads a device's poll interval override: "" is none,
// else a duration or "HH:MM:SS" from 1 s to 23:59:59 (SWUpdate's limit).
func parsePollInterval(v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	d, err := schema.ParseDuration(v)
	if err != nil {
		return 0, schema.Errorf(schema.EINVALID, "poll_interval: %v", err)
	}
	if d < time.Second || d > schema.MaxPollInterval {
		return 0, schema.Errorf(schema.EINVALID, "poll_interval %s is outside 1s..23:59:59", d)
	}
	return d, nil
}
