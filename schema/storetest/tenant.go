package storetest

import (
	"reflect"
	"testing"
	"time"

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

func testPollSettings(t *testing.T, s schema.Store) {
	ctx := t.Context()
	get := func(tenant string) *schema.PollSettings {
		t.Helper()
		p, err := s.PollSettings(ctx, tenant)
		if err != nil || p == nil {
			t.Fatalf("PollSettings(%q) = %v, %v", tenant, p, err)
		}
		return p
	}
	if p := get(tenant); !reflect.DeepEqual(p, &schema.PollSettings{}) {
		t.Fatalf("unset settings %+v, want zero", p)
	}
	h := schema.HashToken("gateway-secret")
	if err := s.SetGatewayTokenHash(ctx, tenant, h); err != nil {
		t.Fatal(err)
	}
	want := &schema.PollSettings{
		Default:       schema.Duration(10 * time.Minute),
		Feeds:         map[string]schema.Duration{"beta": schema.Duration(time.Minute), "a.b": schema.Duration(90 * time.Second)},
		Tags:          map[string]schema.Duration{"canary": schema.Duration(30 * time.Second)},
		Action:        schema.Duration(15 * time.Second),
		JitterPercent: 20,
	}
	if err := s.SetPollSettings(ctx, tenant, want); err != nil {
		t.Fatal(err)
	}
	if p := get(tenant); !reflect.DeepEqual(p, want) {
		t.Fatalf("read back %+v, want %+v", p, want)
	}
	if got, err := s.GatewayTokenHash(ctx, tenant); err != nil || got != h {
		t.Fatalf("poll settings touched the gateway token: %q, %v", got, err)
	}
	if p := get(other); !reflect.DeepEqual(p, &schema.PollSettings{}) {
		t.Fatalf("other tenant has %+v", p)
	}
	for _, bad := range []*schema.PollSettings{
		{Default: schema.Duration(25 * time.Hour)},
		{Action: schema.Duration(time.Millisecond)},
		{Feeds: map[string]schema.Duration{"beta": -1}},
		{Tags: map[string]schema.Duration{"x": schema.Duration(48 * time.Hour)}},
		{JitterPercent: 51},
	} {
		wantCode(t, s.SetPollSettings(ctx, tenant, bad), schema.EINVALID)
	}
	if p := get(tenant); !reflect.DeepEqual(p, want) {
		t.Fatalf("invalid settings changed them: %+v", p)
	}
	if err := s.SetPollSettings(ctx, tenant, &schema.PollSettings{}); err != nil {
		t.Fatal(err)
	}
	if p := get(tenant); !reflect.DeepEqual(p, &schema.PollSettings{}) {
		t.Fatalf("reset settings read back %+v", p)
	}
}
