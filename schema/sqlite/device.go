package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/gosling-ota/gosling/schema"
)

// Device listing limits.
const (
	defaultDeviceLimit = 100
	maxDeviceLimit     = 1000
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
	n, err := pageLimit(f.Offset, f.Limit, defaultDeviceLimit, maxDeviceLimit)
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

// normTags returns tags sorted, without duplicates and empty strings, and
// never nil.
func normTags(tags []string) []string {
	out := slices.Sorted(slices.Values(tags))
	out = slices.Compact(out)
	if len(out) > 0 && out[0] == "" {
		out = out[1:]
	}
	if out == nil {
		out = []string{}
	}
	return out
}

// checkPollInterval accepts 0 (no override) or 1s..schema.MaxPollInterval
// and returns the interval at the stored precision (milliseconds).
func checkPollInterval(d time.Duration) (time.Duration, error) {
	if d != 0 && (d < time.Second || d > schema.MaxPollInterval) {
		return 0, schema.Errorf(schema.EINVALID, "poll interval %s is outside 1s..23:59:59 (0 removes the override)", d)
	}
	return d.Truncate(time.Millisecond), nil
}

// CreateDevice inserts d and fills its stored fields: UpdateMode defaults to
// rollout, Feed to "default"; Tags are normalised (sorted, unique, no "");
// Status is registered, ConfigRequested true (the first poll asks for
// configData), CreatedAt now, and the ids of installed, skipped and open
// actions zero. A sw_version attribute becomes SWVersion when SWVersion is
// empty. Returns ECONFLICT if the device exists, EINVALID for an empty id,
// an unknown update mode or a PollInterval outside 1s..23:59:59 (0: none).
func (db *DB) CreateDevice(ctx context.Context, d *schema.Device) error {
	if d.Tenant == "" || d.ID == "" {
		return schema.Errorf(schema.EINVALID, "device tenant and id are required")
	}
	if d.UpdateMode == "" {
		d.UpdateMode = schema.ModeRollout
	}
	if !d.UpdateMode.Valid() {
		return schema.Errorf(schema.EINVALID, "unknown update mode %q", d.UpdateMode)
	}
	poll, err := checkPollInterval(d.PollInterval)
	if err != nil {
		return err
	}
	d.PollInterval = poll
	if d.Feed == "" {
		d.Feed = schema.DefaultFeed
	}
	if d.Attributes == nil {
		d.Attributes = map[string]string{}
	}
	if d.SWVersion == "" {
		d.SWVersion = d.Attributes[schema.AttrSWVersion]
	}
	d.Tags = normTags(d.Tags)
	d.InstalledSoftwareID, d.SkipSoftwareID, d.ActionID, d.LastActionID = 0, 0, 0, 0
	d.Status = schema.DeviceRegistered
	d.ConfigRequested = true
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

// checkDeviceUpdate validates u and returns it normalised: Feed "" becomes
// "default", Tags are normalised, PollInterval is at the stored precision.
// It runs inside the write transaction that applies u, so the software it
// finds cannot be deleted before the update commits.
func checkDeviceUpdate(ctx context.Context, tx *sql.Tx, tenant string, u schema.DeviceUpdate) (schema.DeviceUpdate, error) {
	if u.UpdateMode != nil && !u.UpdateMode.Valid() {
		return u, schema.Errorf(schema.EINVALID, "unknown update mode %q", *u.UpdateMode)
	}
	if u.PollInterval != nil {
		p, err := checkPollInterval(*u.PollInterval)
		if err != nil {
			return u, err
		}
		u.PollInterval = &p
	}
	if u.SoftwareID != nil && *u.SoftwareID != 0 {
		if err := softwareExists(ctx, tx, tenant, *u.SoftwareID); err != nil {
			return u, err
		}
	}
	if u.Feed != nil && *u.Feed == "" {
		feed := schema.DefaultFeed
		u.Feed = &feed
	}
	if u.Tags != nil {
		tags := normTags(*u.Tags)
		u.Tags = &tags
	}
	return u, nil
}

// clearsSkip reports whether u changes a setting whose change clears
// SkipSoftwareID (even to the value it has): how an operator retries a
// failed update.
func clearsSkip(u schema.DeviceUpdate) bool {
	return u.UpdateMode != nil || u.SoftwareID != nil || u.Feed != nil
}

// UpdateDevice applies u and returns the new device. Setting the update
// mode, software or feed, even to its current value, clears SkipSoftwareID:
// that is how an operator retries a failed update. Tags are normalised.
// Returns ENOTFOUND for the device or a non-zero SoftwareID not in the
// tenant, EINVALID for an unknown update mode or a PollInterval outside
// 1s..23:59:59 (0 removes the override).
func (db *DB) UpdateDevice(ctx context.Context, tenant, id string, u schema.DeviceUpdate) (*schema.Device, error) {
	var d *schema.Device
	err := db.update(ctx, func(tx *sql.Tx) error {
		var err error
		if d, err = findDevice(ctx, tx, tenant, id); err != nil {
			return err
		}
		if u, err = checkDeviceUpdate(ctx, tx, tenant, u); err != nil {
			return err
		}
		if u.Name != nil {
			d.Name = *u.Name
		}
		if u.TokenHash != nil {
			d.TokenHash = *u.TokenHash
		}
		if u.UpdateMode != nil {
			d.UpdateMode = *u.UpdateMode
		}
		if u.SoftwareID != nil {
			d.SoftwareID = *u.SoftwareID
		}
		if u.Feed != nil {
			d.Feed = *u.Feed
		}
		if u.Tags != nil {
			d.Tags = *u.Tags
		}
		if u.PollInterval != nil {
			d.PollInterval = *u.PollInterval
		}
		if clearsSkip(u) {
			d.SkipSoftwareID = 0
		}
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

// SetAttributes applies configData: merge (also for an empty mode) adds and
// overwrites keys, replace sets exactly data, remove deletes the keys of
// data. It clears ConfigRequested. A sw_version in merged or replaced data
// becomes SWVersion while the device has no InstalledSoftwareID. Returns
// ENOTFOUND, or EINVALID for an unknown mode.
func (db *DB) SetAttributes(ctx context.Context, tenant, id string, mode schema.ConfigMode, data map[string]string) (*schema.Device, error) {
	switch mode {
	case "", schema.ConfigMerge, schema.ConfigReplace, schema.ConfigRemove:
	default:
		return nil, schema.Errorf(schema.EINVALID, "unknown configData mode %q", mode)
	}
	var d *schema.Device
	err := db.update(ctx, func(tx *sql.Tx) error {
		var err error
		if d, err = findDevice(ctx, tx, tenant, id); err != nil {
			return err
		}
		switch mode {
		case schema.ConfigReplace:
			d.Attributes = maps.Clone(data)
			if d.Attributes == nil {
				d.Attributes = map[string]string{}
			}
		case schema.ConfigRemove:
			for k := range data {
				delete(d.Attributes, k)
			}
		default:
			maps.Copy(d.Attributes, data)
		}
		if v := data[schema.AttrSWVersion]; v != "" && mode != schema.ConfigRemove && d.InstalledSoftwareID == 0 {
			d.SWVersion = v
		}
		d.ConfigRequested = false
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
		for _, s := range seen {
			if err := ctx.Err(); err != nil {
				return err
			}
			if _, err := stmt.ExecContext(sctx, s.At.UnixMilli(), s.Addr, s.Tenant, s.DeviceID); err != nil {
				return err
			}
		}
		return nil
	})
	return wrap("touch devices", err)
}
