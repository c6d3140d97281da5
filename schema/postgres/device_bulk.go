package postgres

import (
	"context"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/gosling-ota/gosling/schema"
)

// UpdateDevices applies u to every device of the tenant that t selects, in
// one transaction, and returns their ids, sorted. The fields of u mean what
// they mean to UpdateDevice (schema.DeviceUpdate). Returns EINVALID for a
// zero target (schema.CheckBulkTarget) or as DeviceUpdate.Normalize does,
// ENOTFOUND for a non-zero SoftwareID not in the tenant.
//
// It is one statement: a CTE selects and locks the devices in primary-key
// order (ORDER BY runs before FOR UPDATE), the UPDATE joins it. Locking in
// key order is what TouchDevices and RecordFeedback do too (see
// lockDevicesSQL), so a bulk change queues behind them instead of
// deadlocking.
func (db *DB) UpdateDevices(ctx context.Context, tenant string, t schema.Target, u schema.DeviceUpdate) ([]string, error) {
	if err := schema.CheckBulkTarget(&t); err != nil {
		return nil, err
	}
	if err := u.Normalize(); err != nil {
		return nil, err
	}
	w := db.where()
	w.add("tenant = " + w.arg(tenant))
	if err := w.target(&t); err != nil {
		return nil, wrap("update devices", err)
	}
	cond := w.sql()
	var sets []string
	set := func(col string, v any) { sets = append(sets, col+" = "+w.arg(v)) }
	if u.Name != nil {
		set("name", *u.Name)
	}
	if u.TokenHash != nil {
		set("token_hash", *u.TokenHash)
	}
	if u.UpdateMode != nil {
		set("update_mode", string(*u.UpdateMode))
	}
	if u.SoftwareID != nil {
		set("software_id", *u.SoftwareID)
	}
	if u.Feed != nil {
		set("feed", *u.Feed)
	}
	if u.Tags != nil {
		set("tags", *u.Tags)
	}
	if u.PollInterval != nil {
		set("poll_interval_ms", u.PollInterval.Milliseconds())
	}
	if u.ClearsSkip() {
		sets = append(sets, "skip_software_id = 0")
	}
	if len(sets) == 0 {
		// u changes nothing: the statement still takes the locks and
		// returns the ids. name is not indexed, so the update stays HOT.
		sets = append(sets, "name = d.name")
	}
	sql := `WITH l AS (SELECT tenant, id FROM devices` + cond + ` ORDER BY tenant, id FOR UPDATE)
		UPDATE devices d SET ` + strings.Join(sets, ", ") + ` FROM l WHERE d.tenant = l.tenant AND d.id = l.id RETURNING d.id`

	var ids []string
	err := db.update(ctx, func(tx pgx.Tx) error {
		if u.SoftwareID != nil && *u.SoftwareID != 0 {
			if err := softwareExists(ctx, tx, tenant, *u.SoftwareID); err != nil {
				return err
			}
		}
		rows, err := tx.Query(ctx, sql, w.args...)
		if err != nil {
			return err
		}
		ids, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		return nil, wrap("update devices", err)
	}
	slices.Sort(ids) // RETURNING promises no order
	if ids == nil {
		ids = []string{}
	}
	return ids, nil
}

// EachDeviceID implements schema.DeviceStore.
func (db *DB) EachDeviceID(ctx context.Context, tenant string, t schema.Target, fn func(id string) error) error {
	w := db.where()
	w.add("tenant = " + w.arg(tenant))
	if err := w.target(&t); err != nil {
		return wrap("each device id", err)
	}
	rows, err := db.pool.Query(ctx, `SELECT id FROM devices`+w.sql()+` ORDER BY id`, w.args...)
	if err != nil {
		return wrap("each device id", err)
	}
	return wrap("each device id", eachString(rows, fn))
}

// eachString calls fn with the single text column of every row, closing
// rows; it stops at fn's first error and returns it.
func eachString(rows pgx.Rows, fn func(string) error) error {
	defer rows.Close()
	var v string
	for rows.Next() {
		if err := rows.Scan(&v); err != nil {
			return err
		}
		if err := fn(v); err != nil {
			return err
		}
	}
	return rows.Err()
}

// DeviceIDs returns the ids of the tenant's devices that t selects, ordered
// by id, after the id after ("" starts at the beginning; keyset paging:
// each page is one range scan of the primary key, however deep), at most
// limit (0 means 1000, capped at 10000). Returns EINVALID for a negative
// limit.
func (db *DB) DeviceIDs(ctx context.Context, tenant string, t schema.Target, after string, limit int) ([]string, error) {
	n, err := schema.PageLimit(0, limit, schema.DefaultIDPageLimit, schema.MaxIDPageLimit)
	if err != nil {
		return nil, err
	}
	w := db.where()
	w.add("tenant = " + w.arg(tenant))
	w.add("id > " + w.arg(after))
	if err := w.target(&t); err != nil {
		return nil, wrap("device ids", err)
	}
	rows, err := db.pool.Query(ctx, `SELECT id FROM devices`+w.sql()+` ORDER BY id LIMIT `+w.arg(n), w.args...)
	if err != nil {
		return nil, wrap("device ids", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, wrap("device ids", err)
	}
	if ids == nil {
		ids = []string{}
	}
	return ids, nil
}
