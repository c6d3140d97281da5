package ddi_test

import (
	"context"
	"testing"

	"github.com/gosling-ota/gosling/cache"
	"github.com/gosling-ota/gosling/ddi"
	"github.com/gosling-ota/gosling/schema"
)

// PROTOCOL.md 11: the three policies, both token kinds, 401 with an
// empty body.
func TestAuth(t *testing.T) {
	const (
		gw      = "gateway-secret"
		devTok  = "device-secret"
		tgt     = "Authorization: TargetToken " + devTok
		wrong   = "Authorization: TargetToken nope"
		gwHdr   = "Authorization: GatewayToken " + gw
		gwWrong = "Authorization: GatewayToken nope"
	)
	type step struct {
		name   string
		dev    string
		header string
		want   int
	}
	for _, tc := range []struct {
		mode  string
		steps []step
	}{
		{ddi.AuthOpen, []step{
			{"no token registers", "new-1", "", 200},
			{"target token ignored", "new-2", wrong, 200},
			{"gateway token ignored", "new-3", gwWrong, 200},
			{"provisioned without token", "prov", "", 200},
		}},
		{ddi.AuthTOFU, []step{
			{"no token", "new-1", "", 401},
			{"wrong gateway", "new-1", gwWrong, 401},
			{"first token binds", "new-1", tgt, 200},
			{"same token", "new-1", tgt, 200},
			{"other token", "new-1", wrong, 401},
			{"no token after binding", "new-1", "", 401},
			{"gateway token", "new-1", gwHdr, 200},
			{"gateway registers", "new-2", gwHdr, 200},
			{"unbound device binds", "new-2", wrong, 200},
			{"bound to the first", "new-2", tgt, 401},
			{"provisioned with token", "prov", tgt, 200},
			{"provisioned wrong token", "prov", wrong, 401},
		}},
		{ddi.AuthStrict, []step{
			{"unknown no token", "new-1", "", 401},
			{"unknown target token", "new-1", tgt, 401},
			{"unknown wrong gateway", "new-1", gwWrong, 401},
			{"gateway registers", "new-1", gwHdr, 200},
			{"gateway-registered has no token", "new-1", tgt, 401},
			{"provisioned with token", "prov", tgt, 200},
			{"provisioned wrong token", "prov", wrong, 401},
			{"provisioned no token", "prov", "", 401},
			{"provisioned via gateway", "prov", gwHdr, 200},
			{"scheme case-insensitive", "prov", "Authorization: targettoken " + devTok, 200},
			{"bearer is no token", "prov", "Authorization: Bearer " + devTok, 401},
		}},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			e := MustEnv(t, ddi.Config{DeviceAuth: tc.mode})
			ctx := context.Background()
			if err := e.db.SetGatewayTokenHash(ctx, tenant, schema.HashToken(gw)); err != nil {
				t.Fatal(err)
			}
			e.Publish(cache.KindTenant, "")
			if err := e.db.CreateDevice(ctx, &schema.Device{Tenant: tenant, ID: "prov", Provisioned: true, TokenHash: schema.HashToken(devTok)}); err != nil {
				t.Fatal(err)
			}
			for _, st := range tc.steps {
				var hs []string
				if st.header != "" {
					hs = append(hs, st.header)
				}
				r := e.Do("GET", e.base(st.dev), "", hs...)
				if r.status != st.want {
					t.Fatalf("%s: status %d, want %d", st.name, r.status, st.want)
				}
				if r.status == 401 && len(r.body) != 0 {
					t.Errorf("%s: 401 with body %q", st.name, r.body)
				}
				// The second time is answered from the cache: same verdict.
				if r2 := e.Do("GET", e.base(st.dev), "", hs...); r2.status != st.want {
					t.Fatalf("%s (cached): status %d, want %d", st.name, r2.status, st.want)
				}
			}
		})
	}
}

// Everything below the poll is authenticated the same way, downloads
// included.
func TestAuthOtherRoutes(t *testing.T) {
	e := MustEnv(t, ddi.Config{DeviceAuth: ddi.AuthStrict})
	ctx := context.Background()
	if err := e.db.CreateDevice(ctx, &schema.Device{Tenant: tenant, ID: "dev-01", Provisioned: true, TokenHash: schema.HashToken("tok")}); err != nil {
		t.Fatal(err)
	}
	auth := "Authorization: TargetToken tok"
	_, aid, sw, _ := e.MustOffer("dev-01", auth)
	dl := e.base("dev-01") + "/softwaremodules/" + itoa(sw.ID) + "/artifacts/" + sw.Filename
	for _, tc := range []struct{ name, method, url, body string }{
		{"deploymentBase", "GET", e.base("dev-01") + "/deploymentBase/" + itoa(aid), ""},
		{"feedback", "POST", e.base("dev-01") + "/deploymentBase/" + itoa(aid) + "/feedback", fbProceeding},
		{"configData", "PUT", e.base("dev-01") + "/configData", configDataBody},
		{"artifacts", "GET", e.base("dev-01") + "/softwaremodules/" + itoa(sw.ID) + "/artifacts", ""},
		{"download", "GET", dl, ""},
		{"head", "HEAD", dl, ""},
		{"md5sum", "GET", dl + ".MD5SUM", ""},
		{"unknown device", "GET", e.base("ghost") + "/deploymentBase/1", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.Do(tc.method, tc.url, tc.body)
			MustStatus(t, r, 401)
			if len(r.body) != 0 {
				t.Errorf("401 with body %q", r.body)
			}
			if tc.name == "unknown device" {
				return
			}
			MustStatus(t, e.Do(tc.method, tc.url, tc.body, auth), 200)
		})
	}
}
