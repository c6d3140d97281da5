package schema

import "context"

// TenantStore keeps per-tenant settings.
type TenantStore interface {
	// GatewayTokenHash returns the SHA-256 (hex) of the tenant's GatewayToken,
	// or "" when none is set.
	GatewayTokenHash(ctx context.Context, tenant string) (string, error)
	// SetGatewayTokenHash sets (or with "" removes) the tenant's GatewayToken hash.
	SetGatewayTokenHash(ctx context.Context, tenant, hash string) error
	// PollSettings returns the tenant's poll settings (zero value when never set).
	PollSettings(ctx context.Context, tenant string) (*PollSettings, error)
	// SetPollSettings replaces the tenant's poll settings.
	SetPollSettings(ctx context.Context, tenant string, p *PollSettings) error
}

// Store is everything a persistence package implements. Consumers take the
// narrowest interface they need.
type Store interface {
	DeviceStore
	SoftwareStore
	ActionStore
	RolloutStore
	TenantStore
	// Close releases the store's resources.
	Close() error
}

// CheckTenant returns EINVALID for an empty tenant name: a tenant's
// settings (gateway token, poll settings) need a tenant to belong to.
func CheckTenant(tenant string) error {
	if tenant == "" {
		return Errorf(EINVALID, "tenant is required")
	}
	return nil
}
