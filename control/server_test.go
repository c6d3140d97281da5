package control_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/gosling-ota/gosling/artifacts"
	"github.com/gosling-ota/gosling/cache"
	"github.com/gosling-ota/gosling/control"
	"github.com/gosling-ota/gosling/schema"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestConfigValidate(t *testing.T) {
	ok := control.Config{Tenants: []string{"DEFAULT"}, AdminToken: adminToken}
	tests := []struct {
		name string
		mod  func(c *control.Config)
		msg  string // "" means valid
	}{
		{"valid", func(c *control.Config) {}, ""},
		{"no tenants", func(c *control.Config) { c.Tenants = nil }, "at least one tenant"},
		{"bad tenant", func(c *control.Config) { c.Tenants = []string{"a/b"} }, `tenant "a/b"`},
		{"duplicate tenant", func(c *control.Config) { c.Tenants = []string{"a", "a"} }, "listed twice"},
		{"short token", func(c *control.Config) { c.AdminToken = "short" }, "at least 16 characters, has 5"},
		{"negative upload limit", func(c *control.Config) { c.MaxUploadBytes = -1 }, "must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.mod(&c)
			err := c.Validate()
			if tt.msg == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("Validate = %v, want an error containing %q", err, tt.msg)
			}
			if _, err := control.New(c, nil, cache.NewLocalBus(), (*artifacts.Store)(nil), nil); err == nil {
				t.Fatal("New accepted an invalid config")
			}
		})
	}
}

func TestAuth(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name   string
		method string
		path   string
		auth   string
		status int
	}{
		{"no token", "GET", "/api/v1/devices", "", 401},
		{"wrong token", "GET", "/api/v1/devices", "Bearer wrong-token-0123456789", 401},
		{"token prefix", "GET", "/api/v1/devices", "Bearer " + adminToken[:10], 401},
		{"token with suffix", "GET", "/api/v1/devices", "Bearer " + adminToken + "x", 401},
		{"wrong scheme", "GET", "/api/v1/devices", "Basic " + adminToken, 401},
		{"no scheme", "GET", "/api/v1/devices", adminToken, 401},
		{"write without token", "POST", "/api/v1/rollouts", "", 401},
		{"delete without token", "DELETE", "/api/v1/gateway-token", "", 401},
		{"right token", "GET", "/api/v1/devices", "Bearer " + adminToken, 200},
		{"scheme is case-insensitive", "GET", "/api/v1/devices", "bearer " + adminToken, 200},
		{"healthz is public", "GET", "/healthz", "", 200},
		{"openapi is public", "GET", "/api/v1/openapi.json", "", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.requestAuth(t, tt.method, tt.path, "application/json", strings.NewReader("{}"), tt.auth)
			if tt.status == 401 {
				res.wantError(t, 401, schema.EUNAUTHORIZED, "admin token")
				if res.header.Get("WWW-Authenticate") == "" {
					t.Error("no WWW-Authenticate header")
				}
				return
			}
			res.wantStatus(t, tt.status)
		})
	}
	// A refused write changed nothing.
	e.wantInvalidations(t)
}

func TestTenants(t *testing.T) {
	e := newEnv(t)
	e.json(t, "POST", "/api/v1/devices?tenant="+tenantB, map[string]any{"id": "dev-b"}).wantStatus(t, 201)
	e.wantInvalidations(t, cache.Invalidation{Kind: cache.KindDevice, Tenant: tenantB, Key: "dev-b"})

	var list struct{ Total int }
	e.request(t, "GET", "/api/v1/devices", "", nil).decode(t, &list)
	if list.Total != 0 {
		t.Fatalf("default tenant sees %d devices of tenant %s", list.Total, tenantB)
	}
	e.request(t, "GET", "/api/v1/devices?tenant="+tenantB, "", nil).decode(t, &list)
	if list.Total != 1 {
		t.Fatalf("tenant %s has %d devices, want 1", tenantB, list.Total)
	}
	e.request(t, "GET", "/api/v1/devices/dev-b", "", nil).wantError(t, 404, schema.ENOTFOUND, "")
	e.request(t, "GET", "/api/v1/devices?tenant=nope", "", nil).wantError(t, 404, schema.ENOTFOUND, `tenant "nope"`)
	e.json(t, "POST", "/api/v1/devices?tenant=nope", map[string]any{"id": "x"}).wantError(t, 404, schema.ENOTFOUND, `tenant "nope"`)
	e.wantInvalidations(t)
}

func TestRoutingErrors(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, method, path string
		status             int
		code, allow        string
	}{
		{"unknown path", "GET", "/api/v1/nope", 404, schema.ENOTFOUND, ""},
		{"root", "GET", "/", 404, schema.ENOTFOUND, ""},
		{"unknown sub-path", "GET", "/api/v1/devices/x/y/z", 404, schema.ENOTFOUND, ""},
		{"wrong method", "PUT", "/api/v1/software", 405, "method_not_allowed", "GET, HEAD, POST"},
		{"wrong method on item", "POST", "/api/v1/devices/dev-1", 405, "method_not_allowed", "DELETE, GET, HEAD, PATCH"},
		{"GET on action", "GET", "/api/v1/devices/d/actions/1/cancel", 405, "method_not_allowed", "POST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.request(t, tt.method, tt.path, "", nil)
			res.wantError(t, tt.status, tt.code, tt.path)
			if got := res.header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow %q, want %q", got, tt.allow)
			}
		})
	}
}

func TestMalformedJSON(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, body, msg string
	}{
		{"empty", "", "request body is empty"},
		{"syntax", `{"id": }`, "malformed JSON"},
		{"truncated", `{"id": "x"`, "unexpected end"},
		{"not an object", `["x"]`, "wrong JSON type"},
		{"wrong type", `{"id": 42}`, `field "id": got number, want string`},
		{"wrong nested type", `{"id": "x", "software_id": "7"}`, `field "software_id"`},
		{"unknown field", `{"id": "x", "colour": "red"}`, `unknown field "colour"`},
		{"trailing data", `{"id": "x"} {"id": "y"}`, "more than one value"},
		{"trailing garbage", `{"id": "x"} xyz`, "malformed JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.json(t, "POST", "/api/v1/devices", tt.body).wantError(t, 400, schema.EINVALID, tt.msg)
		})
	}
	big := `{"name": "` + strings.Repeat("x", 2<<20) + `"}`
	e.json(t, "PATCH", "/api/v1/devices/x", big).wantError(t, 413, schema.ETOOLARGE, "larger than")
	e.wantInvalidations(t)
}

func TestHealthz(t *testing.T) {
	e := newEnv(t)
	res := e.requestAuth(t, "GET", "/healthz", "", nil, "")
	res.wantStatus(t, http.StatusOK)
	if strings.TrimSpace(string(res.body)) != `{"status":"ok"}` {
		t.Fatalf("body %s", res.body)
	}
}
