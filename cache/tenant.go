package cache

import (
	"context"

	"github.com/gosling-ota/gosling/schema"
)

// GatewayTokenHash implements schema.TenantStore, from Redis when cached
// ("" — no token — is cached too).
func (s *Store) GatewayTokenHash(ctx context.Context, tenant string) (string, error) {
	return read(ctx, s, stringCodec, s.gatewayKey(tenant), func(ctx context.Context) (string, error) {
		return s.next.GatewayTokenHash(ctx, tenant)
	})
}

// SetGatewayTokenHash implements schema.TenantStore.
func (s *Store) SetGatewayTokenHash(ctx context.Context, tenant, hash string) error {
	err := s.next.SetGatewayTokenHash(ctx, tenant, hash)
	if mayHaveChanged(err) {
		s.invalidate(ctx, s.gatewayKey(tenant))
	}
	return err
}

// PollSettings implements schema.TenantStore, from Redis when cached (the
// zero settings of a tenant that never set any are cached too).
func (s *Store) PollSettings(ctx context.Context, tenant string) (*schema.PollSettings, error) {
	return read(ctx, s, pollCodec, s.pollKey(tenant), func(ctx context.Context) (*schema.PollSettings, error) {
		return s.next.PollSettings(ctx, tenant)
	})
}

// SetPollSettings implements schema.TenantStore.
func (s *Store) SetPollSettings(ctx context.Context, tenant string, p *schema.PollSettings) error {
	err := s.next.SetPollSettings(ctx, tenant, p)
	if mayHaveChanged(err) {
		s.invalidate(ctx, s.pollKey(tenant))
	}
	return err
}
