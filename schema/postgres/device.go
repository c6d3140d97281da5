package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gosling-ota/gosling/schema"
)

const deviceColumns = `tenant, id, name, token_hash, update_mode, software_id, feed, attributes,
	sw_version, installed_software_id, skip_software_id, action_id, last_action_id,
	status, config_requested, provisioned, created_at, last_seen, last_addr, tags, poll_interval_ms`

func scanDevice(s scanner) (*schema.Device, error) {
	var (
		d        schema.Device
		lastSeen *time.Time
		pollMS   int64
	)
	// pgx decodes the jsonb attributes straight into the map.
	if err := s.Scan(&d.Tenant, &d.ID, &d.Name, &d.TokenHash, &d.UpdateMode, &d.SoftwareID, &d.Feed, &d.Attributes,
		&d.SWVersion, &d.InstalledSoftwareID, &d.SkipSoftwareID, &d.ActionID, &d.LastActionID,
		&d.Status, &d.ConfigRequested, &d.Provisioned, &d.CreatedAt, &lastSeen, &d.LastAddr, &d.Tags, &pollMS); err != nil {
		return nil, err
	}
	if d.Attributes == nil {
		d.Attributes = map[string]string{}
	}
	if d.Tags == nil {
		d.Tags = []string{}
	}
	d.PollInterval = time.Duration(pollMS) * time.Millisecond
	d.CreatedAt = d.CreatedAt.UTC()
	d.LastSeen = fromNullTime(lastSeen)
	return &d, nil
}

func deviceNotFound(tenant, id string) error {
	return schema.Errorf(schema.ENOTFOUND, "device %q not found in tenant %q", id, tenant)
}

// findDevice reads one device by primary key through q (the pool or a
// transaction). With lock it takes the row lock (FOR UPDATE), so that a
// read-modify-write transaction cannot lose a concurrent one's change.
func findDevice(ctx context.Context, q queryer, tenant, id string, lock bool) (*schema.Device, error) {
	sql := `SELECT ` + deviceColumns + ` FROM devices WHERE tenant = $1 AND id = $2`
	if lock {
		sql += ` FOR UPDATE`
	}
	d, err := scanDevice(q.QueryRow(ctx, sql, tenant, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, deviceNotFound(tenant, id)
	}
	return d, err
}

// Device returns one device. Returns ENOTFOUND if it does not exist. It is
// one primary-key lookup outside any transaction: a single round trip.
func (db *DB) Device(ctx context.Context, tenant, id string) (*schema.Device, error) {
	d, err := findDevice(ctx, db.pool, tenant, id, false)
	return d, wrap("device", err)
}

// Devices returns the devices matching f's Target (see where.target),
// ordered by id, and the total count. Limit defaults to 100 and is capped
// at 1000.
func (db *DB) Devices(ctx context.Context, f schema.DeviceFilter) ([]*schema.Device, int, error) {
	n, err := schema.PageLimit(f.Offset, f.Limit, schema.DefaultPageLimit, schema.MaxPageLimit)
	if err != nil {
		return nil, 0, err
	}
	w := db.where()
	if f.Tenant != "" {
		w.add("tenant = " + w.arg(f.Tenant))
	}
	if err := w.target(&f.Target); err != nil {
		return nil, 0, wrap("list devices", err)
	}
	cond, args := w.sql(), w.args
	page := cond + ` ORDER BY tenant, id LIMIT ` + w.arg(n) + ` OFFSET ` + w.arg(f.Offset)

	var (
		devices []*schema.Device
		total   int
	)
	err = db.view(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM devices`+cond, args...).Scan(&total); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+deviceColumns+` FROM devices`+page, w.args...)
		if err != nil {
			return err
		}
		devices, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*schema.Device, error) { return scanDevice(r) })
		return err
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
	d.LastSeen = ms(d.LastSeen)
	err := db.update(ctx, func(tx pgx.Tx) error {
		if d.SoftwareID != 0 {
			if err := softwareExists(ctx, tx, d.Tenant, d.SoftwareID); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO devices (`+deviceColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)`,
			d.Tenant, d.ID, d.Name, d.TokenHash, string(d.UpdateMode), d.SoftwareID, d.Feed, d.Attributes,
			d.SWVersion, d.InstalledSoftwareID, d.SkipSoftwareID, d.ActionID, d.LastActionID,
			d.Status, d.ConfigRequested, d.Provisioned, d.CreatedAt, nullTime(d.LastSeen), d.LastAddr,
			d.Tags, d.PollInterval.Milliseconds())
		if isUnique(err) {
			return schema.Errorf(schema.ECONFLICT, "device %q already exists in tenant %q", d.ID, d.Tenant)
		}
		return err
	})
	return wrap("create device", err)
}

// UpdateDevice applies u and returns the new device (see
// schema.DeviceUpdate: Normalize, Apply). Setting the update mode,
// software or feed, even to its current value, clears SkipSoftwareID: that
// is how an operator retries a failed update. Returns ENOTFOUND for the
// device or a non-zero SoftwareID not in the tenant, EINVALID as Normalize
// does.
func (db *DB) UpdateDevice(ctx context.Context, tenant, id string, u schema.DeviceUpdate) (*schema.Device, error) {
	if err := u.Normalize(); err != nil {
		return nil, err
	}
	var d *schema.Device
	err := db.update(ctx, func(tx pgx.Tx) error {
		var err error
		if d, err = findDevice(ctx, tx, tenant, id, true); err != nil {
			return err
		}
		if u.SoftwareID != nil && *u.SoftwareID != 0 {
			if err := softwareExists(ctx, tx, tenant, *u.SoftwareID); err != nil {
				return err
			}
		}
		u.Apply(d)
		d.PollInterval = d.PollInterval.Truncate(time.Millisecond)
		_, err = tx.Exec(ctx, `UPDATE devices SET name = $1, token_hash = $2, update_mode = $3,
			software_id = $4, feed = $5, skip_software_id = $6, tags = $7, poll_interval_ms = $8
			WHERE tenant = $9 AND id = $10`,
			d.Name, d.TokenHash, string(d.UpdateMode), d.SoftwareID, d.Feed, d.SkipSoftwareID,
			d.Tags, d.PollInterval.Milliseconds(), tenant, id)
		return err
	})
	if err != nil {
		return nil, wrap("update device", err)
	}
	return d, nil
}

// DeleteDevice removes a device with its actions and their feedback
// (ON DELETE CASCADE). Returns ENOTFOUND.
func (db *DB) DeleteDevice(ctx context.Context, tenant, id string) error {
	tag, err := db.pool.Exec(ctx, `DELETE FROM devices WHERE tenant = $1 AND id = $2`, tenant, id)
	if err != nil {
		return fmt.Errorf("delete device: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return deviceNotFound(tenant, id)
	}
	return nil
}

// SetAttributes applies configData as schema.Device.ApplyConfig does and
// clears ConfigRequested. Returns ENOTFOUND, or EINVALID for an unknown
// mode.
func (db *DB) SetAttributes(ctx context.Context, tenant, id string, mode schema.ConfigMode, data map[string]string) (*schema.Device, error) {
	if !mode.Valid() {
		return nil, schema.Errorf(schema.EINVALID, "unknown configData mode %q", mode)
	}
	var d *schema.Device
	err := db.update(ctx, func(tx pgx.Tx) error {
		var err error
		if d, err = findDevice(ctx, tx, tenant, id, true); err != nil {
			return err
		}
		d.ApplyConfig(mode, data)
		_, err = tx.Exec(ctx, `UPDATE devices SET attributes = $1, sw_version = $2, config_requested = false
			WHERE tenant = $3 AND id = $4`, d.Attributes, d.SWVersion, tenant, id)
		return err
	})
	if err != nil {
		return nil, wrap("set attributes", err)
	}
	return d, nil
}

// lockDevicesSQL locks a set of devices in primary-key order. Statements
// that update several devices at once lock them in whatever order their
// plan visits them (a hash join walks the heap, where updated rows move), so
// two concurrent last-seen flushes, or a flush and a feedback batch, could
// each hold a device the other waits for. Taking the locks first, sorted
// (ORDER BY runs before FOR UPDATE), makes every multi-device writer queue
// in the same order instead.
const lockDevicesSQL = `SELECT 1 FROM devices
	WHERE (tenant, id) IN (SELECT * FROM unnest($1::text[], $2::text[]))
	ORDER BY tenant, id FOR UPDATE`

// touchSQL applies a whole batch of traces in one statement: the arrays are
// the columns of the batch, unnest turns them back into rows, and the
// UPDATE joins them to devices by primary key. Unknown devices simply join
// nothing. last_seen never moves backwards (frontlines flush out of order);
// the address changes only with a trace that has one and is not older than
// the stored last_seen. addr_at is the time of the trace the address comes
// from (see foldSeen).
const touchSQL = `UPDATE devices d SET
	last_seen = greatest(d.last_seen, s.at),
	last_addr = CASE WHEN s.addr = '' OR s.addr_at < coalesce(d.last_seen, '-infinity') THEN d.last_addr ELSE s.addr END
	FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::timestamptz[]) AS s(tenant, id, at, addr, addr_at)
	WHERE d.tenant = s.tenant AND d.id = s.id`

// TouchDevices records last-seen times and addresses for the whole batch in
// one round trip: a pipeline of two statements (lockDevicesSQL, touchSQL)
// that Postgres runs as one implicit transaction. Unknown devices are
// ignored. A trace older than the stored one changes nothing. The result is
// the same as applying the traces one by one in order.
func (db *DB) TouchDevices(ctx context.Context, seen []schema.Seen) error {
	if len(seen) == 0 {
		return nil
	}
	rows := foldSeen(seen)
	var (
		tenants = make([]string, len(rows))
		ids     = make([]string, len(rows))
		ats     = make([]time.Time, len(rows))
		addrs   = make([]string, len(rows))
		addrAts = make([]time.Time, len(rows))
	)
	for i, r := range rows {
		tenants[i], ids[i], ats[i], addrs[i], addrAts[i] = r.Tenant, r.DeviceID, r.At, r.Addr, r.addrAt
	}
	err := db.retry(ctx, func() error {
		var pipe pgx.Batch
		pipe.Queue(lockDevicesSQL, tenants, ids)
		pipe.Queue(touchSQL, tenants, ids, ats, addrs, addrAts)
		return db.pool.SendBatch(ctx, &pipe).Close()
	})
	return wrap("touch devices", err)
}

// foldedSeen is the net effect of a device's traces in one batch.
type foldedSeen struct {
	schema.Seen
	addrAt time.Time // when Addr was seen
}

// foldSeen merges the traces of each device into one row, because an
// UPDATE … FROM applies at most one source row to each target row. Applying
// the traces in order, last_seen ends at the newest one, and the address
// ends at that of the last trace that had one and was not older than any
// trace before it, if that trace is not older than the stored last_seen
// either (which only the database knows: hence addrAt). Rows come out
// sorted by device.
func foldSeen(seen []schema.Seen) []foldedSeen {
	type key struct{ tenant, id string }
	idx := make(map[key]int, len(seen))
	out := make([]foldedSeen, 0, len(seen))
	for _, s := range seen {
		at := ms(s.At)
		k := key{s.Tenant, s.DeviceID}
		i, ok := idx[k]
		if !ok {
			idx[k] = len(out)
			out = append(out, foldedSeen{Seen: schema.Seen{Tenant: s.Tenant, DeviceID: s.DeviceID, At: at, Addr: s.Addr}, addrAt: at})
			continue
		}
		f := &out[i]
		if at.Before(f.At) {
			continue // older than a trace before it: changes nothing
		}
		f.At = at
		if s.Addr != "" {
			f.Addr, f.addrAt = s.Addr, at
		}
	}
	slices.SortFunc(out, func(a, b foldedSeen) int {
		return cmp.Or(strings.Compare(a.Tenant, b.Tenant), strings.Compare(a.DeviceID, b.DeviceID))
	})
	return out
}
