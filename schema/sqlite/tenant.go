package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/gosling-ota/gosling/schema"
)

// GatewayTokenHash returns the SHA-256 (hex) of the tenant's GatewayToken,
// or "" when none is set (also for a tenant never seen).
func (db *DB) GatewayTokenHash(ctx context.Context, tenant string) (string, error) {
	var h string
	err := db.r.QueryRowContext(ctx, `SELECT gateway_token_hash FROM tenants WHERE name = ?`, tenant).Scan(&h)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return h, wrap("gateway token hash", err)
}

// SetGatewayTokenHash sets (or with "" removes) the tenant's GatewayToken hash.
func (db *DB) SetGatewayTokenHash(ctx context.Context, tenant, hash string) error {
	if tenant == "" {
		return schema.Errorf(schema.EINVALID, "tenant is required")
	}
	err := db.update(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO tenants (name, gateway_token_hash) VALUES (?, ?)
			ON CONFLICT (name) DO UPDATE SET gateway_token_hash = excluded.gateway_token_hash`, tenant, hash)
		return err
	})
	return wrap("set gateway token hash", err)
}
