package control_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/gosling-ota/gosling/cache"
	"github.com/gosling-ota/gosling/schema"
)

// deviceAnswer is a device as answered, with the one-time token.
type deviceAnswer struct {
	schema.Device
	PollInterval string `json:"poll_interval"` // a duration string in answers
	Token        string `json:"token"`
}

func TestCreateDevice(t *testing.T) {
	e := newEnv(t)
	sw := e.mustUpload(t, "", "a.swu", mustSWU(t, "1.0", 300))
	e.bus.take()

	t.Run("defaults and generated token", func(t *testing.T) {
		res := e.json(t, "POST", "/api/v1/devices", map[string]any{"id": "dev-1", "name": "Kitchen"})
		res.wantStatus(t, http.StatusCreated)
		var d deviceAnswer
		res.decode(t, &d)
		if d.ID != "dev-1" || d.Name != "Kitchen" || d.UpdateMode != schema.ModeRollout || d.Feed != schema.DefaultFeed ||
			!d.Provisioned || d.Status != schema.DeviceRegistered || d.Attributes == nil {
			t.Fatalf("created %+v", d)
		}
		if len(d.Token) != 32 {
			t.Fatalf("generated token %q, want 32 hex characters", d.Token)
		}
		if !strings.Contains(res.header.Get("Location"), "/api/v1/devices/dev-1") {
			t.Errorf("Location %q", res.header.Get("Location"))
		}
		// Only the hash is stored, and the token is never shown again.
		stored, err := e.db.Device(context.Background(), tenantA, "dev-1")
		if err != nil {
			t.Fatal(err)
		}
		if stored.TokenHash != schema.HashToken(d.Token) {
			t.Fatalf("stored hash %q is not the hash of the answered token", stored.TokenHash)
		}
		get := e.request(t, "GET", "/api/v1/devices/dev-1", "", nil)
		if strings.Contains(string(get.body), d.Token) || strings.Contains(string(get.body), stored.TokenHash) {
			t.Fatalf("GET shows the token or its hash: %s", get.body)
		}
		e.wantInvalidations(t, cache.Invalidation{Kind: cache.KindDevice, Tenant: tenantA, Key: "dev-1"})
	})

	t.Run("chosen token is not echoed", func(t *testing.T) {
		res := e.json(t, "POST", "/api/v1/devices", map[string]any{"id": "dev-2", "token": "my-device-secret", "feed": "beta"})
		res.wantStatus(t, 201)
		var d deviceAnswer
		res.decode(t, &d)
		if d.Token != "" || d.Feed != "beta" {
			t.Fatalf("created %+v", d)
		}
		stored, _ := e.db.Device(context.Background(), tenantA, "dev-2")
		if !schema.TokenMatches("my-device-secret", stored.TokenHash) {
			t.Fatal("stored hash does not match the chosen token")
		}
		e.bus.take()
	})

	t.Run("null token means none", func(t *testing.T) {
		res := e.json(t, "POST", "/api/v1/devices", `{"id": "dev-3", "token": null}`)
		res.wantStatus(t, 201)
		var d deviceAnswer
		res.decode(t, &d)
		stored, _ := e.db.Device(context.Background(), tenantA, "dev-3")
		if d.Token != "" || stored.TokenHash != "" {
			t.Fatalf("token %q hash %q, want none", d.Token, stored.TokenHash)
		}
		e.bus.take()
	})

	t.Run("assigned", func(t *testing.T) {
		res := e.json(t, "POST", "/api/v1/devices", map[string]any{"id": "dev-4", "update_mode": "assigned", "software_id": sw.ID})
		res.wantStatus(t, 201)
		var d deviceAnswer
		res.decode(t, &d)
		if d.UpdateMode != schema.ModeAssigned || d.SoftwareID != sw.ID {
			t.Fatalf("created %+v", d)
		}
		e.bus.take()
	})

	tests := []struct {
		name   string
		body   map[string]any
		status int
		msg    string
	}{
		{"no id", map[string]any{"name": "x"}, 400, "id is required"},
		{"bad id", map[string]any{"id": "a/b"}, 400, `id "a/b"`},
		{"id with space", map[string]any{"id": "a b"}, 400, `id "a b"`},
		{"bad mode", map[string]any{"id": "x", "update_mode": "sometimes"}, 400, `update_mode "sometimes"`},
		{"assigned without software", map[string]any{"id": "x", "update_mode": "assigned"}, 400, "requires a software_id"},
		{"assigned unknown software", map[string]any{"id": "x", "update_mode": "assigned", "software_id": 999}, 400, "software_id 999: no such software"},
		{"software without assigned", map[string]any{"id": "x", "software_id": sw.ID}, 400, `only to update_mode "assigned"`},
		{"bad feed", map[string]any{"id": "x", "feed": "a b"}, 400, `feed "a b"`},
		{"short token", map[string]any{"id": "x", "token": "abc"}, 400, "token: want 8 to 256 characters"},
		{"token with space", map[string]any{"id": "x", "token": "abc def ghi"}, 400, "printable ASCII without spaces"},
		{"name with newline", map[string]any{"id": "x", "name": "a\nb"}, 400, "control characters"},
		{"exists", map[string]any{"id": "dev-1"}, 409, `device "dev-1" already exists`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code := schema.EINVALID
			if tt.status == 409 {
				code = schema.ECONFLICT
			}
			e.json(t, "POST", "/api/v1/devices", tt.body).wantError(t, tt.status, code, tt.msg)
		})
	}
	e.wantInvalidations(t)
	if _, err := e.db.Device(context.Background(), tenantA, "x"); schema.ErrorCode(err) != schema.ENOTFOUND {
		t.Fatalf("a refused device was stored: %v", err)
	}
}

func TestPatchDevice(t *testing.T) {
	e := newEnv(t)
	sw := e.mustUpload(t, "", "a.swu", mustSWU(t, "1.0", 300))
	e.json(t, "POST", "/api/v1/devices", map[string]any{"id": "dev-1", "token": "original-token"}).wantStatus(t, 201)
	e.bus.take()
	inv := cache.Invalidation{Kind: cache.KindDevice, Tenant: tenantA, Key: "dev-1"}

	steps := []struct {
		name   string
		body   string
		status int
		msg    string // error message part, or ""
		check  func(t *testing.T, d deviceAnswer)
	}{
		{"rename", `{"name": "Garage"}`, 200, "", func(t *testing.T, d deviceAnswer) {
			if d.Name != "Garage" || d.UpdateMode != schema.ModeRollout {
				t.Fatalf("%+v", d)
			}
		}},
		{"assigned without software", `{"update_mode": "assigned"}`, 400, "requires a software_id", nil},
		{"assigned unknown software", `{"update_mode": "assigned", "software_id": 999}`, 400, "no such software", nil},
		{"software without assigned", `{"software_id": ` + itoa(sw.ID) + `}`, 400, `only to update_mode "assigned"`, nil},
		{"assign", `{"update_mode": "assigned", "software_id": ` + itoa(sw.ID) + `}`, 200, "", func(t *testing.T, d deviceAnswer) {
			if d.UpdateMode != schema.ModeAssigned || d.SoftwareID != sw.ID {
				t.Fatalf("%+v", d)
			}
		}},
		{"clear software while assigned", `{"software_id": 0}`, 400, "requires a software_id", nil},
		{"feed", `{"feed": "beta"}`, 200, "", func(t *testing.T, d deviceAnswer) {
			if d.Feed != "beta" || d.SoftwareID != sw.ID {
				t.Fatalf("%+v", d)
			}
		}},
		{"leave assigned clears software", `{"update_mode": "pinned"}`, 200, "", func(t *testing.T, d deviceAnswer) {
			if d.UpdateMode != schema.ModePinned || d.SoftwareID != 0 {
				t.Fatalf("%+v", d)
			}
		}},
		{"bad mode", `{"update_mode": "never"}`, 400, `update_mode "never"`, nil},
		{"bad feed", `{"feed": ""}`, 400, `feed ""`, nil},
		{"unknown field", `{"software": 1}`, 400, `unknown field "software"`, nil},
		{"wrong type", `{"name": 7}`, 400, `field "name"`, nil},
		{"set token", `{"token": "new-token-123"}`, 200, "", func(t *testing.T, d deviceAnswer) {
			stored, _ := e.db.Device(context.Background(), tenantA, "dev-1")
			if d.Token != "" || !schema.TokenMatches("new-token-123", stored.TokenHash) {
				t.Fatalf("token %q, stored hash does not match", d.Token)
			}
		}},
		{"generate token", `{"token": ""}`, 200, "", func(t *testing.T, d deviceAnswer) {
			stored, _ := e.db.Device(context.Background(), tenantA, "dev-1")
			if len(d.Token) != 32 || !schema.TokenMatches(d.Token, stored.TokenHash) {
				t.Fatalf("generated token %q does not match the stored hash", d.Token)
			}
		}},
		{"remove token", `{"token": null}`, 200, "", func(t *testing.T, d deviceAnswer) {
			stored, _ := e.db.Device(context.Background(), tenantA, "dev-1")
			if d.Token != "" || stored.TokenHash != "" {
				t.Fatalf("token %q hash %q, want none", d.Token, stored.TokenHash)
			}
		}},
		{"empty patch", `{}`, 200, "", nil},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			res := e.json(t, "PATCH", "/api/v1/devices/dev-1", st.body)
			if st.msg != "" {
				res.wantError(t, st.status, schema.EINVALID, st.msg)
				e.wantInvalidations(t)
				return
			}
			res.wantStatus(t, st.status)
			var d deviceAnswer
			res.decode(t, &d)
			if st.check != nil {
				st.check(t, d)
			}
			if st.body == "{}" {
				e.wantInvalidations(t)
			} else {
				e.wantInvalidations(t, inv)
			}
		})
	}
	e.json(t, "PATCH", "/api/v1/devices/nope", `{"name": "x"}`).wantError(t, 404, schema.ENOTFOUND, "")
}

func TestListAndDeleteDevices(t *testing.T) {
	e := newEnv(t)
	sw := e.mustUpload(t, "", "a.swu", mustSWU(t, "1.0", 300))
	for _, d := range []map[string]any{
		{"id": "alpha-1", "name": "Kitchen"},
		{"id": "alpha-2", "feed": "beta"},
		{"id": "bravo-1", "update_mode": "assigned", "software_id": sw.ID},
		{"id": "bravo-2", "name": "kitchen sink", "update_mode": "pinned", "feed": "beta"},
	} {
		e.json(t, "POST", "/api/v1/devices", d).wantStatus(t, 201)
	}
	// A device that polled on its own: attributes and last contact come
	// from the DDI side.
	ctx := context.Background()
	if err := e.db.CreateDevice(ctx, &schema.Device{Tenant: tenantA, ID: "charlie"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.SetAttributes(ctx, tenantA, "charlie", schema.ConfigMerge, map[string]string{"hw_model": "rpi4", "sw_version": "0.9"}); err != nil {
		t.Fatal(err)
	}
	if err := e.db.TouchDevices(ctx, []schema.Seen{{Tenant: tenantA, DeviceID: "charlie", At: sw.CreatedAt, Addr: "192.0.2.7"}}); err != nil {
		t.Fatal(err)
	}
	e.bus.take()

	tests := []struct {
		query string
		want  []string
		total int
	}{
		{"", []string{"alpha-1", "alpha-2", "bravo-1", "bravo-2", "charlie"}, 5},
		{"q=alpha", []string{"alpha-1", "alpha-2"}, 2},
		{"q=kitchen", []string{"alpha-1", "bravo-2"}, 2},
		{"feed=beta", []string{"alpha-2", "bravo-2"}, 2},
		{"update_mode=assigned", []string{"bravo-1"}, 1},
		{"update_mode=pinned&feed=beta", []string{"bravo-2"}, 1},
		{"status=registered&limit=2", []string{"alpha-1", "alpha-2"}, 5},
		{"offset=3&limit=10", []string{"bravo-2", "charlie"}, 5},
		{"offset=10", []string{}, 5},
		{"status=updating", []string{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			res := e.request(t, "GET", "/api/v1/devices?"+tt.query, "", nil)
			res.wantStatus(t, 200)
			var list struct {
				Items                []schema.Device
				Total, Offset, Limit int
			}
			res.decode(t, &list)
			if list.Items == nil {
				t.Fatal("items is null")
			}
			var ids []string
			for _, d := range list.Items {
				ids = append(ids, d.ID)
			}
			if strings.Join(ids, ",") != strings.Join(tt.want, ",") || list.Total != tt.total {
				t.Fatalf("ids %v total %d, want %v total %d", ids, list.Total, tt.want, tt.total)
			}
		})
	}
	for _, q := range []string{"update_mode=x", "status=x", "limit=1001", "offset=-1", "limit=abc"} {
		e.request(t, "GET", "/api/v1/devices?"+q, "", nil).wantError(t, 400, schema.EINVALID, "")
	}

	var d schema.Device
	e.request(t, "GET", "/api/v1/devices/charlie", "", nil).decode(t, &d)
	if d.SWVersion != "0.9" || d.Attributes["hw_model"] != "rpi4" || d.LastAddr != "192.0.2.7" || d.LastSeen.IsZero() || d.Provisioned {
		t.Fatalf("device %+v", d)
	}

	e.request(t, "DELETE", "/api/v1/devices/bravo-1", "", nil).wantStatus(t, 204)
	e.wantInvalidations(t, cache.Invalidation{Kind: cache.KindDevice, Tenant: tenantA, Key: "bravo-1"})
	e.request(t, "GET", "/api/v1/devices/bravo-1", "", nil).wantError(t, 404, schema.ENOTFOUND, "")
	e.request(t, "DELETE", "/api/v1/devices/bravo-1", "", nil).wantError(t, 404, schema.ENOTFOUND, "")
	e.wantInvalidations(t)
}
