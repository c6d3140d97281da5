package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

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
	if err := schema.CheckTenant(tenant); err != nil {
		return err
	}
	err := db.update(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO tenants (name, gateway_token_hash) VALUES (?, ?)
			ON CONFLICT (name) DO UPDATE SET gateway_token_hash = excluded.gateway_token_hash`, tenant, hash)
		return err
	})
	return wrap("set gateway token hash", err)
}

// PollSettings returns the tenant's poll settings, the zero value when
// never set (also for a tenant never seen).
func (db *DB) PollSettings(ctx context.Context, tenant string) (*schema.PollSettings, error) {
	var js string
	err := db.r.QueryRowContext(ctx, `SELECT poll_settings FROM tenants WHERE name = ?`, tenant).Scan(&js)
	if errors.Is(err, sql.ErrNoRows) {
		return &schema.PollSettings{}, nil
	} else if err != nil {
		return nil, wrap("poll settings", err)
	}
	var p schema.PollSettings
	if err := json.Unmarshal([]byte(js), &p); err != nil {
		return nil, fmt.Errorf("poll settings of tenant %q: %w", tenant, err)
	}
	return &p, nil
}

// SetPollSettings replaces the tenant's poll settings; nil resets them.
// Returns EINVALID when p.Validate fails or the tenant is "".
func (db *DB) SetPollSettings(ctx context.Context, tenant string, p *schema.PollSettings) error {
	if err := schema.CheckTenant(tenant); err != nil {
		return err
	}
	if p == nil {
		p = &schema.PollSettings{}
	}
	if err := p.Validate(); err != nil {
		return err
	}
	js, err := marshalJSON(p)
	if err != nil {
		return fmt.Errorf("set poll settings: %w", err)
	}
	err = db.update(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO tenants (name, poll_settings) VALUES (?, ?)
			ON CONFLICT (name) DO UPDATE SET poll_settings = excluded.poll_settings`, tenant, js)
		return err
	})
	return wrap("set poll settings", err)
}
