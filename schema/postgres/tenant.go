package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/gosling-ota/gosling/schema"
)

// GatewayTokenHash returns the SHA-256 (hex) of the tenant's GatewayToken,
// or "" when none is set (also for a tenant never seen).
func (db *DB) GatewayTokenHash(ctx context.Context, tenant string) (string, error) {
	var h string
	err := db.pool.QueryRow(ctx, `SELECT gateway_token_hash FROM tenants WHERE name = $1`, tenant).Scan(&h)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return h, wrap("gateway token hash", err)
}

// SetGatewayTokenHash sets (or with "" removes) the tenant's GatewayToken hash.
func (db *DB) SetGatewayTokenHash(ctx context.Context, tenant, hash string) error {
	if tenant == "" {
		return schema.Errorf(schema.EINVALID, "tenant is required")
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO tenants (name, gateway_token_hash) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET gateway_token_hash = excluded.gateway_token_hash`, tenant, hash)
	return wrap("set gateway token hash", err)
}
