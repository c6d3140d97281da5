package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/gosling-ota/gosling/schema"
)

const deviceColumns = `tenant, id, name, token_hash, update_mode, software_id, feed, attributes,
	sw_version, installed_software_id, skip_software_id, action_id, last_action_id,
	status, config_requested, provisioned, created_at, last_seen, last_addr, tags, poll_interval`

func scanDevice(s scanner) (*schema.Device, error) {
	var (
		d           schema.Device
		attrs, tags string
		created     int64
		lastSeen    sql.NullInt64
		pollMillis  int64
	)
	if err := s.Scan(&d.Tenant, &d.ID, &d.Name, &d.TokenHash, &d.UpdateMode, &d.SoftwareID, &d.Feed, &attrs,
		&d.SWVersion, &d.InstalledSoftwareID, &d.SkipSoftwareID, &d.ActionID, &d.LastActionID,
		&d.Status, &d.ConfigRequested, &d.Provisioned, &created, &lastSeen, &d.LastAddr, &tags, &pollMillis); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(attrs), &d.Attributes); err != nil {
		return nil, fmt.Errorf("device %q attributes: %w", d.ID, err)
	}
	if d.Attributes == nil {
		d.Attributes = map[string]string{}
	}
	if err := json.Unmarshal([]byte(tags), &d.Tags); err != nil {
		return nil, fmt.Errorf("device %q tags: %w", d.ID, err)
	}
	if d.Tags == nil {
		d.Tags = []string{}
	}
	d.PollInterval = time.Duration(pollMillis) * time.Millisecond
	d.CreatedAt = fromMillis(created)
	d.LastSeen = fromNullMillis(lastSeen)
	return &d, nil
}

func deviceNotFound(tenant, id string) error {
	return schema.Errorf(schema.ENOTFOUND, "device %q not found in tenant %q", id, tenant)
}

// findDevice reads one device through q (the read pool or a transaction).
func findDevice(ctx context.Context, q queryer, tenant, id string) (*schema.Device, error) {
	d, err := scanDevice(q.QueryRowContext(ctx, `SELECT `+deviceColumns+` FROM devices WHERE tenant = ? AND id = ?`, tenant, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, deviceNotFound(tenant, id)
	}
	return d, err
}

// Device returns one device. Returns ENOTFOUND if it does not exist.
func (db *DB) Device(ctx context.Context, tenant, id string) (*schema.Device, error) {
	d, err := findDevice(ctx, db.r, tenant, id)
	return d, wrap("device", err)
}

// Devices returns the devices matching f, ordered by id, and the total
// count. Tenant "" lists every tenant's devices. The target is evaluated
// as schema.Target.Matches does (see targetSQL). Limit defaults to 100 and
// is capped at 1000.
func (db *DB) Devices(ctx context.Context, f schema.DeviceFilter) ([]*schema.Device, int, error) {
	n, err := schema.PageLimit(f.Offset, f.Limit, schema.DefaultPageLimit, schema.MaxPageLimit)
	if err != nil {
		return nil, 0, err
	}
	where, args, err := targetSQL(&f.Target)
	if err != nil {
		return nil, 0, fmt.Errorf("list devices: %w", err)
	}
	if f.Tenant != "" {
		where, args = append([]string{"tenant = ?"}, where...), append([]any{f.Tenant}, args...)
	}
	cond := whereClause(where)

	var (
		devices []*schema.Device
		total   int
	)
	err = db.view(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM devices`+cond, args...).Scan(&total); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+deviceColumns+` FROM devices`+cond+
			` ORDER BY tenant, id LIMIT ? OFFSET ?`, append(args, n, f.Offset)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			d, err := scanDevice(rows)
			if err != nil {
				return err
			}
			devices = append(devices, d)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, 0, wrap("list devices", err)
	}
	return devices, total, nil
}

// CreateDevice inserts d and fills its stored fields as
// schema.Device.PrepareCreate says, with CreatedAt now and PollInterval
// and LastSeen at millisecond precision. Returns ECONFLICT if the device
// exists, EINVALID as PrepareCreate does, ENOTFOUND for a non-zero
// SoftwareID not in the tenant.
func (db *DB) CreateDevice(ctx context.Context, d *schema.Device) error {
	if err := d.PrepareCreate(); err != nil {
		return err
	}
	d.PollInterval = d.PollInterval.Truncate(time.Millisecond)
	d.CreatedAt = now()
	if !d.LastSeen.IsZero() {
		d.LastSeen = d.LastSeen.UTC().Truncate(time.Millisecond)
	}
	attrs, err := marshalJSON(d.Attributes)
	if err != nil {
		return fmt.Errorf("create device: %w", err)
	}
	tags, err := marshalJSON(d.Tags)
	if err != nil {
		return fmt.Errorf("create device: %w", err)
	}
	err = db.update(ctx, func(tx *sql.Tx) error {
		if d.SoftwareID != 0 {
			if err := softwareExists(ctx, tx, d.Tenant, d.SoftwareID); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO devices (`+deviceColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			d.Tenant, d.ID, d.Name, d.TokenHash, string(d.UpdateMode), d.SoftwareID, d.Feed, attrs,
			d.SWVersion, d.InstalledSoftwareID, d.SkipSoftwareID, d.ActionID, d.LastActionID,
			d.Status, d.ConfigRequested, d.Provisioned, millis(d.CreatedAt), nullMillis(d.LastSeen), d.LastAddr,
			tags, d.PollInterval.Milliseconds())
		if isUnique(err) {
			return schema.Errorf(schema.ECONFLICT, "device %q already exists in tenant %q", d.ID, d.Tenant)
		}
		return err
	})
	return wrap("create device", err)
}

// checkDeviceUpdate normalises u (schema.DeviceUpdate.Normalize) and
// checks that a non-zero SoftwareID is the tenant's. It runs inside the
// write transaction that applies u, so the software it finds cannot be
// deleted before the update commits.
func checkDeviceUpdate(ctx context.Context, tx *sql.Tx, tenant string, u *schema.DeviceUpdate) error {
	if err := u.Normalize(); err != nil {
		return err
	}
	if u.SoftwareID != nil && *u.SoftwareID != 0 {
		return softwareExists(ctx, tx, tenant, *u.SoftwareID)
	}
	return nil
}

// UpdateDevice applies u and returns the new device (see
// schema.DeviceUpdate: Normalize, Apply). Setting the update mode,
// software or feed, even to its current value, clears SkipSoftwareID: that
// is how an operator retries a failed update. Returns ENOTFOUND for the
// device or a non-zero SoftwareID not in the tenant, EINVALID as Normalize
// does.
func (db *DB) UpdateDevice(ctx context.Context, tenant, id string, u schema.DeviceUpdate) (*schema.Device, error) {
	var d *schema.Device
	err := db.update(ctx, func(tx *sql.Tx) error {
		var err error
		if d, err = findDevice(ctx, tx, tenant, id); err != nil {
			return err
		}
		if err := checkDeviceUpdate(ctx, tx, tenant, &u); err != nil {
			return err
		}
		u.Apply(d)
		d.PollInterval = d.PollInterval.Truncate(time.Millisecond)
		tags, err := marshalJSON(d.Tags)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE devices SET name = ?, token_hash = ?, update_mode = ?,
			software_id = ?, feed = ?, skip_software_id = ?, tags = ?, poll_interval = ? WHERE tenant = ? AND id = ?`,
			d.Name, d.TokenHash, string(d.UpdateMode), d.SoftwareID, d.Feed, d.SkipSoftwareID,
			tags, d.PollInterval.Milliseconds(), tenant, id)
		return err
	})
	if err != nil {
		return nil, wrap("update device", err)
	}
	return d, nil
}

// DeleteDevice removes a device with its actions and their feedback.
// Returns ENOTFOUND.
func (db *DB) DeleteDevice(ctx context.Context, tenant, id string) error {
	err := db.update(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM devices WHERE tenant = ? AND id = ?`, tenant, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return deviceNotFound(tenant, id)
		}
		return nil
	})
	return wrap("delete device", err)
}

// SetAttributes applies configData as schema.Device.ApplyConfig does and
// clears ConfigRequested. Returns ENOTFOUND, or EINVALID for an unknown
// mode.
func (db *DB) SetAttributes(ctx context.Context, tenant, id string, mode schema.ConfigMode, data map[string]string) (*schema.Device, error) {
	if !mode.Valid() {
		return nil, schema.Errorf(schema.EINVALID, "unknown configData mode %q", mode)
	}
	var d *schema.Device
	err := db.update(ctx, func(tx *sql.Tx) error {
		var err error
		if d, err = findDevice(ctx, tx, tenant, id); err != nil {
			return err
		}
		d.ApplyConfig(mode, data)
		attrs, err := marshalJSON(d.Attributes)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE devices SET attributes = ?, sw_version = ?, config_requested = 0
			WHERE tenant = ? AND id = ?`, attrs, d.SWVersion, tenant, id)
		return err
	})
	if err != nil {
		return nil, wrap("set attributes", err)
	}
	return d, nil
}

// touchSQL never moves last_seen backwards (frontlines flush out of order)
// and keeps the last address when a trace has none.
const touchSQL = `UPDATE devices SET
	last_seen = max(coalesce(last_seen, 0), ?1),
	last_addr = CASE WHEN ?2 = '' OR ?1 < coalesce(last_seen, 0) THEN last_addr ELSE ?2 END
	WHERE tenant = ?3 AND id = ?4`

// touchYield is how many devices TouchDevices updates between yields to
// other goroutines (≈ 0.3 ms of work).
const touchYield = 64

// TouchDevices records last-seen times and addresses in one transaction with
// one prepared statement; unknown devices are ignored. A trace older than
// the stored one changes nothing.
func (db *DB) TouchDevices(ctx context.Context, seen []schema.Seen) error {
	if len(seen) == 0 {
		return nil
	}
	err := db.update(ctx, func(tx *sql.Tx) error {
		// Without cancellation per statement, ctx checked per trace: see
		// RecordFeedback.
		sctx := context.WithoutCancel(ctx)
		stmt := tx.StmtContext(sctx, db.touchStmt)
		for i, s := range seen {
			if err := ctx.Err(); err != nil {
				return err
			}
			if i%touchYield == touchYield-1 {
				// SQLite runs on this goroutine, in Go: a flush of many
				// thousand devices would hold its P for up to the 10 ms
				// preemption slice at a time, and polls on a one-core
				// frontline would wait behind it.
				runtime.Gosched()
			}
			if _, err := stmt.ExecContext(sctx, s.At.UnixMilli(), s.Addr, s.Tenant, s.DeviceID); err != nil {
				return err
			}
		}
		return nil
	})
	return wrap("touch devices", err)
}
