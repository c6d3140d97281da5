package cache

import "context"

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
