package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/gosling-ota/gosling/schema"
)

const softwareColumns = `id, tenant, name, version, description, hardware, filename, size,
	sha1, md5, sha256, url, created_at`

func scanSoftware(s scanner) (*schema.Software, error) {
	var (
		sw      schema.Software
		hw      string
		created int64
	)
	if err := s.Scan(&sw.ID, &sw.Tenant, &sw.Name, &sw.Version, &sw.Description, &hw, &sw.Filename, &sw.Size,
		&sw.SHA1, &sw.MD5, &sw.SHA256, &sw.URL, &created); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(hw), &sw.Hardware); err != nil {
		return nil, fmt.Errorf("software %d hardware: %w", sw.ID, err)
	}
	if sw.Hardware == nil {
		sw.Hardware = []schema.Hardware{}
	}
	sw.CreatedAt = fromMillis(created)
	return &sw, nil
}

func softwareNotFound(tenant string, id int64) error {
	return schema.Errorf(schema.ENOTFOUND, "software %d not found in tenant %q", id, tenant)
}

// softwareExists returns ENOTFOUND unless the tenant has software id.
func softwareExists(ctx context.Context, q queryer, tenant string, id int64) error {
	var ok bool
	if err := q.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM software WHERE id = ? AND tenant = ?)`, id, tenant).Scan(&ok); err != nil {
		return err
	}
	if !ok {
		return softwareNotFound(tenant, id)
	}
	return nil
}

// Software returns one software. Returns ENOTFOUND.
func (db *DB) Software(ctx context.Context, tenant string, id int64) (*schema.Software, error) {
	sw, err := scanSoftware(db.r.QueryRowContext(ctx, `SELECT `+softwareColumns+` FROM software WHERE id = ? AND tenant = ?`, id, tenant))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, softwareNotFound(tenant, id)
	}
	return sw, wrap("software", err)
}

// SoftwareList returns software matching f, newest first by creation (then
// by id). A zero Limit returns everything from Offset.
func (db *DB) SoftwareList(ctx context.Context, f schema.SoftwareFilter) ([]*schema.Software, error) {
	n, err := schema.PageLimit(f.Offset, f.Limit, -1, f.Limit) // -1: no limit in SQLite
	if err != nil {
		return nil, err
	}
	q := `SELECT ` + softwareColumns + ` FROM software`
	var args []any
	if f.Tenant != "" {
		q += ` WHERE tenant = ?`
		args = append(args, f.Tenant)
	}
	q += ` ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`
	rows, err := db.r.QueryContext(ctx, q, append(args, n, f.Offset)...)
	if err != nil {
		return nil, fmt.Errorf("list software: %w", err)
	}
	defer rows.Close()
	var list []*schema.Software
	for rows.Next() {
		sw, err := scanSoftware(rows)
		if err != nil {
			return nil, fmt.Errorf("list software: %w", err)
		}
		list = append(list, sw)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list software: %w", err)
	}
	return list, nil
}

// CreateSoftware inserts s and sets its ID and CreatedAt (a nil Hardware
// becomes an empty list). Returns ECONFLICT if the tenant already has the
// same version for overlapping hardware, EINVALID without a version.
func (db *DB) CreateSoftware(ctx context.Context, s *schema.Software) error {
	if err := s.PrepareCreate(); err != nil {
		return err
	}
	hw, err := marshalJSON(s.Hardware)
	if err != nil {
		return fmt.Errorf("create software: %w", err)
	}
	created := now()
	err = db.update(ctx, func(tx *sql.Tx) error {
		// The version check runs in the write transaction, so two uploads of
		// the same version cannot both pass it.
		rows, err := tx.QueryContext(ctx, `SELECT `+softwareColumns+` FROM software WHERE tenant = ? AND version = ?`, s.Tenant, s.Version)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			other, err := scanSoftware(rows)
			if err != nil {
				return err
			}
			if schema.HardwareOverlaps(s.Hardware, other.Hardware) {
				return schema.Errorf(schema.ECONFLICT, "software version %q already exists for overlapping hardware (software %d)", s.Version, other.ID)
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		err = tx.QueryRowContext(ctx, `INSERT INTO software (tenant, name, version, description, hardware, filename,
			size, sha1, md5, sha256, url, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			s.Tenant, s.Name, s.Version, s.Description, hw, s.Filename,
			s.Size, s.SHA1, s.MD5, s.SHA256, s.URL, millis(created)).Scan(&s.ID)
		return err
	})
	if err != nil {
		return wrap("create software", err)
	}
	s.CreatedAt = created
	return nil
}

// DeleteSoftware removes a software record and reports whether another
// record, in any tenant, has the same non-empty SHA256 (artifact blobs are
// stored once by hash). Returns ECONFLICT while a device has it as
// SoftwareID (whatever its update mode: switching back to assigned would
// offer it), an open action installs it or a rollout (running or paused)
// offers it; ENOTFOUND if it does not exist.
func (db *DB) DeleteSoftware(ctx context.Context, tenant string, id int64) (bool, error) {
	var shared bool
	err := db.update(ctx, func(tx *sql.Tx) error {
		var sha string
		err := tx.QueryRowContext(ctx, `SELECT sha256 FROM software WHERE id = ? AND tenant = ?`, id, tenant).Scan(&sha)
		if errors.Is(err, sql.ErrNoRows) {
			return softwareNotFound(tenant, id)
		} else if err != nil {
			return err
		}
		var ref string
		err = tx.QueryRowContext(ctx, `SELECT id FROM devices WHERE tenant = ? AND software_id = ? AND software_id <> 0 LIMIT 1`, tenant, id).Scan(&ref)
		if err == nil {
			return schema.Errorf(schema.ECONFLICT, "software %d is assigned to device %q", id, ref)
		} else if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		var ref2 int64
		err = tx.QueryRowContext(ctx, `SELECT id FROM actions WHERE software_id = ? AND status IN ('pending', 'running', 'canceling') LIMIT 1`, id).Scan(&ref2)
		if err == nil {
			return schema.Errorf(schema.ECONFLICT, "software %d is being installed by action %d", id, ref2)
		} else if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		err = tx.QueryRowContext(ctx, `SELECT id FROM rollouts WHERE software_id = ? LIMIT 1`, id).Scan(&ref2)
		if err == nil {
			return schema.Errorf(schema.ECONFLICT, "software %d is offered by rollout %d", id, ref2)
		} else if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM software WHERE id = ?`, id); err != nil {
			return err
		}
		if sha == "" {
			return nil
		}
		return tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM software WHERE sha256 = ?)`, sha).Scan(&shared)
	})
	if err != nil {
		return false, wrap("delete software", err)
	}
	return shared, nil
}
