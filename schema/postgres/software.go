package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/gosling-ota/gosling/schema"
)

const softwareColumns = `id, tenant, name, version, description, hardware, filename, size,
	sha1, md5, sha256, url, created_at`

func scanSoftware(s scanner) (*schema.Software, error) {
	var sw schema.Software
	// pgx decodes the jsonb hardware rules straight into the slice.
	if err := s.Scan(&sw.ID, &sw.Tenant, &sw.Name, &sw.Version, &sw.Description, &sw.Hardware, &sw.Filename, &sw.Size,
		&sw.SHA1, &sw.MD5, &sw.SHA256, &sw.URL, &sw.CreatedAt); err != nil {
		return nil, err
	}
	if sw.Hardware == nil {
		sw.Hardware = []schema.Hardware{}
	}
	sw.CreatedAt = sw.CreatedAt.UTC()
	return &sw, nil
}

func collectSoftware(r pgx.CollectableRow) (*schema.Software, error) { return scanSoftware(r) }

func softwareNotFound(tenant string, id int64) error {
	return schema.Errorf(schema.ENOTFOUND, "software %d not found in tenant %q", id, tenant)
}

// softwareExists returns ENOTFOUND unless the tenant has software id. Inside
// a transaction that is about to refer to the software, it takes the row's
// weakest lock (FOR KEY SHARE): a concurrent DeleteSoftware, which locks the
// row FOR UPDATE before looking for references, then either waits for this
// transaction and sees its reference, or has already deleted the row.
func softwareExists(ctx context.Context, q queryer, tenant string, id int64) error {
	var one int
	err := q.QueryRow(ctx, `SELECT 1 FROM software WHERE id = $1 AND tenant = $2 FOR KEY SHARE`, id, tenant).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return softwareNotFound(tenant, id)
	}
	return err
}

// Software returns one software. Returns ENOTFOUND.
func (db *DB) Software(ctx context.Context, tenant string, id int64) (*schema.Software, error) {
	sw, err := scanSoftware(db.pool.QueryRow(ctx, `SELECT `+softwareColumns+` FROM software WHERE id = $1 AND tenant = $2`, id, tenant))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, softwareNotFound(tenant, id)
	}
	return sw, wrap("software", err)
}

// SoftwareList returns software matching f, newest first by creation (then
// by id). A zero Limit returns everything from Offset.
func (db *DB) SoftwareList(ctx context.Context, f schema.SoftwareFilter) ([]*schema.Software, error) {
	n, err := schema.PageLimit(f.Offset, f.Limit, 0, f.Limit) // 0: no limit
	if err != nil {
		return nil, err
	}
	var lim *int // LIMIT NULL: no limit
	if n > 0 {
		lim = &n
	}
	// Two SQL texts rather than "$1 = '' OR tenant = $1": a prepared
	// statement's generic plan could not use the tenant index for the latter.
	sql, args := `SELECT `+softwareColumns+` FROM software ORDER BY created_at DESC, id DESC LIMIT $1 OFFSET $2`, []any{lim, f.Offset}
	if f.Tenant != "" {
		sql = `SELECT ` + softwareColumns + ` FROM software WHERE tenant = $3
			ORDER BY created_at DESC, id DESC LIMIT $1 OFFSET $2`
		args = append(args, f.Tenant)
	}
	rows, err := db.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("list software: %w", err)
	}
	list, err := pgx.CollectRows(rows, collectSoftware)
	if err != nil {
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
	created := now()
	err := db.update(ctx, func(tx pgx.Tx) error {
		// Two uploads of the same version must not both pass the overlap
		// check; rows that do not exist yet cannot be locked, so the
		// transaction locks the (tenant, version) pair instead, until it
		// commits.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1 || chr(1) || $2, 0))`,
			s.Tenant, s.Version); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+softwareColumns+` FROM software WHERE tenant = $1 AND version = $2`, s.Tenant, s.Version)
		if err != nil {
			return err
		}
		others, err := pgx.CollectRows(rows, collectSoftware)
		if err != nil {
			return err
		}
		for _, other := range others {
			if schema.HardwareOverlaps(s.Hardware, other.Hardware) {
				return schema.Errorf(schema.ECONFLICT, "software version %q already exists for overlapping hardware (software %d)", s.Version, other.ID)
			}
		}
		return tx.QueryRow(ctx, `INSERT INTO software (tenant, name, version, description, hardware, filename,
			size, sha1, md5, sha256, url, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id`,
			s.Tenant, s.Name, s.Version, s.Description, s.Hardware, s.Filename,
			s.Size, s.SHA1, s.MD5, s.SHA256, s.URL, created).Scan(&s.ID)
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
	err := db.update(ctx, func(tx pgx.Tx) error {
		// The row lock makes the reference checks below hold until commit:
		// see softwareExists.
		var sha string
		err := tx.QueryRow(ctx, `SELECT sha256 FROM software WHERE id = $1 AND tenant = $2 FOR UPDATE`, id, tenant).Scan(&sha)
		if errors.Is(err, pgx.ErrNoRows) {
			return softwareNotFound(tenant, id)
		} else if err != nil {
			return err
		}
		var ref string
		err = tx.QueryRow(ctx, `SELECT id FROM devices WHERE tenant = $1 AND software_id = $2 LIMIT 1`, tenant, id).Scan(&ref)
		if err == nil {
			return schema.Errorf(schema.ECONFLICT, "software %d is assigned to device %q", id, ref)
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		var ref2 int64
		err = tx.QueryRow(ctx, `SELECT id FROM actions WHERE software_id = $1 AND status IN ('pending', 'running', 'canceling') LIMIT 1`, id).Scan(&ref2)
		if err == nil {
			return schema.Errorf(schema.ECONFLICT, "software %d is being installed by action %d", id, ref2)
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		err = tx.QueryRow(ctx, `SELECT id FROM rollouts WHERE software_id = $1 LIMIT 1`, id).Scan(&ref2)
		if err == nil {
			return schema.Errorf(schema.ECONFLICT, "software %d is offered by rollout %d", id, ref2)
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM software WHERE id = $1`, id); err != nil {
			if isForeignKey(err) { // a reference the checks above do not know of
				return schema.Errorf(schema.ECONFLICT, "software %d is still referenced (%s)", id, pgConstraint(err))
			}
			return err
		}
		if sha == "" {
			return nil
		}
		return tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM software WHERE sha256 = $1)`, sha).Scan(&shared)
	})
	if err != nil {
		return false, wrap("delete software", err)
	}
	return shared, nil
}
