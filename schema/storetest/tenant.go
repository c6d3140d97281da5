package storetest

import (
	"testing"

	"github.com/gosling-ota/gosling/schema"
)

func testTenant(t *testing.T, s schema.Store) {
	ctx := t.Context()
	get := func(tenant, want string) {
		t.Helper()
		if got, err := s.GatewayTokenHash(ctx, tenant); err != nil || got != want {
			t.Fatalf("GatewayTokenHash(%q) = %q, %v; want %q", tenant, got, err, want)
		}
	}
	get(tenant, "")
	h := schema.HashToken("gateway-secret")
	if err := s.SetGatewayTokenHash(ctx, tenant, h); err != nil {
		t.Fatal(err)
	}
	get(tenant, h)
	get(other, "")
	h2 := schema.HashToken("rotated")
	if err := s.SetGatewayTokenHash(ctx, tenant, h2); err != nil {
		t.Fatal(err)
	}
	get(tenant, h2)
	if err := s.SetGatewayTokenHash(ctx, tenant, ""); err != nil {
		t.Fatal(err)
	}
	get(tenant, "")
}
