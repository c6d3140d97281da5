package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/gosling-ota/gosling/schema"
)

// DeviceIDs returns the ids of the tenant's devices matching t, ordered by
// id, after the id after ("" starts at the beginning), at most limit (0
// means 1000, capped at 10000). Returns EINVALID for a negative limit.
func (db *DB) DeviceIDs(ctx context.Context, tenant string, t schema.Target, after string, limit int) ([]string, error) {
	n, err := schema.PageLimit(0, limit, schema.DefaultIDPageLimit, schema.MaxIDPageLimit)
	if err != nil {
		return nil, err
	}
	where, args, err := targetSQL(&t)
	if err != nil {
		return nil, fmt.Errorf("device ids: %w", err)
	}
	where = append([]string{"tenant = ?", "id > ?"}, where...)
	args = append([]any{tenant, after}, args...)
	rows, err := db.r.QueryContext(ctx, `SELECT id FROM devices`+whereClause(where)+` ORDER BY id LIMIT ?`, append(args, n)...)
	if err != nil {
		return nil, wrap("device ids", err)
	}
	defer rows.Close()
	ids := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, wrap("device ids", err)
		}
		ids = append(ids, id)
	}
	return ids, wrap("device ids", rows.Err())
}

// EachDeviceID implements schema.DeviceStore.
func (db *DB) EachDeviceID(ctx context.Context, tenant string, t schema.Target, fn func(id string) error) error {
	where, args, err := targetSQL(&t)
	if err != nil {
		return fmt.Errorf("each device id: %w", err)
	}
	where = append([]string{"tenant = ?"}, where...)
	args = append([]any{tenant}, args...)
	rows, err := db.r.QueryContext(ctx, `SELECT id FROM devices`+whereClause(where)+` ORDER BY id`, args...)
	if err != nil {
		return wrap("each device id", err)
	}
	return wrap("each device id", eachString(rows, fn))
}

// eachString calls fn with the single text column of every row, closing
// rows; it stops at fn's first error and returns it.
func eachString(rows *sql.Rows, fn func(string) error) error {
	defer rows.Close()
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return err
		}
		if err := fn(v); err != nil {
			return err
		}
	}
	return rows.Err()
}

// UpdateDevices applies u to every device of the tenant matching t with one
// UPDATE in one transaction, with UpdateDevice's rules (and errors), and
// returns the ids of the matched devices, sorted, also when u changes
// nothing. Returns EINVALID if t is zero.
func (db *DB) UpdateDevices(ctx context.Context, tenant string, t schema.Target, u schema.DeviceUpdate) ([]string, error) {
	if err := schema.CheckBulkTarget(&t); err != nil {
		return nil, err
	}
	where, whereArgs, err := targetSQL(&t)
	if err != nil {
		return nil, fmt.Errorf("update devices: %w", err)
	}
	where = append([]string{"tenant = ?"}, where...)
	whereArgs = append([]any{tenant}, whereArgs...)
	ids := []string{}
	err = db.update(ctx, func(tx *sql.Tx) error {
		if err := checkDeviceUpdate(ctx, tx, tenant, &u); err != nil {
			return err
		}
		var (
			sets []string
			args []any
		)
		set := func(col string, v any) { sets, args = append(sets, col+" = ?"), append(args, v) }
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
			tags, err := marshalJSON(*u.Tags)
			if err != nil {
				return err
			}
			set("tags", tags)
		}
		if u.PollInterval != nil {
			set("poll_interval", u.PollInterval.Milliseconds())
		}
		if u.ClearsSkip() {
			set("skip_software_id", 0)
		}
		var q string
		if len(sets) == 0 {
			q = `SELECT id FROM devices` + whereClause(where)
		} else {
			q = `UPDATE devices SET ` + strings.Join(sets, ", ") + whereClause(where) + ` RETURNING id`
		}
		rows, err := tx.QueryContext(ctx, q, append(args, whereArgs...)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, wrap("update devices", err)
	}
	slices.Sort(ids)
	return ids, nil
}
