package control_test

import (
	"context"
	"testing"

	"github.com/gosling-ota/gosling/cache"
	"github.com/gosling-ota/gosling/schema"
)

func TestGatewayToken(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	inv := cache.Invalidation{Kind: cache.KindTenant, Tenant: tenantA}
	hash := func(tenant string) string {
		h, err := e.db.GatewayTokenHash(ctx, tenant)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}

	for _, body := range []any{nil, "{}", map[string]string{"token": ""}} {
		res := e.json(t, "PUT", "/api/v1/gateway-token", body)
		res.wantStatus(t, 200)
		var got struct{ Token string }
		res.decode(t, &got)
		if len(got.Token) != 32 || !schema.TokenMatches(got.Token, hash(tenantA)) {
			t.Fatalf("body %v: generated %q does not match the stored hash", body, got.Token)
		}
		e.wantInvalidations(t, inv)
	}

	res := e.json(t, "PUT", "/api/v1/gateway-token?tenant="+tenantB, map[string]string{"token": "gateway-secret-1"})
	res.wantStatus(t, 204)
	if len(res.body) != 0 {
		t.Fatalf("a chosen token was echoed: %s", res.body)
	}
	if !schema.TokenMatches("gateway-secret-1", hash(tenantB)) {
		t.Fatal("stored hash does not match the chosen token")
	}
	e.wantInvalidations(t, cache.Invalidation{Kind: cache.KindTenant, Tenant: tenantB})

	e.json(t, "PUT", "/api/v1/gateway-token", map[string]string{"token": "short"}).wantError(t, 400, schema.EINVALID, "8 to 256")
	e.json(t, "PUT", "/api/v1/gateway-token", `{"token": 5}`).wantError(t, 400, schema.EINVALID, `field "token"`)
	e.json(t, "PUT", "/api/v1/gateway-token", `{"tok": "x"}`).wantError(t, 400, schema.EINVALID, "unknown field")
	e.wantInvalidations(t)

	e.request(t, "DELETE", "/api/v1/gateway-token", "", nil).wantStatus(t, 204)
	e.wantInvalidations(t, inv)
	if h := hash(tenantA); h != "" {
		t.Fatalf("hash %q after DELETE", h)
	}
	if hash(tenantB) == "" {
		t.Fatal("DELETE in one tenant removed another tenant's token")
	}
}
