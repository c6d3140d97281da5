package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/gosling-ota/gosling/artifacts"
	"github.com/gosling-ota/gosling/cache"
	"github.com/gosling-ota/gosling/schema"
	"github.com/gosling-ota/gosling/schema/postgres"
	"github.com/gosling-ota/gosling/schema/sqlite"
)

// invalidationChannel is the Redis pub/sub channel every process of one
// Gosling installation shares.
const invalidationChannel = "gosling:v1:invalidations"

// backend is what every serving role stands on: the store (possibly behind
// the Redis L2 cache), the invalidation bus and the artifact store.
type backend struct {
	store schema.Store
	bus   cache.Bus
	blobs *artifacts.Store
	// loops run for the process's lifetime (the Redis subscription).
	loops  []func(context.Context) error
	closer []func() error
}

// openBackend connects to what cfg names: Postgres or the SQLite file,
// Redis or the in-process bus. Roles that serve operators apply schema
// migrations first (SQLite always migrates on open) and read through the
// Redis cache to the database. When reg is not nil, the database pool, the
// Redis cache and the bus register their metrics on it.
func openBackend(ctx context.Context, cfg Config, r role, logger *slog.Logger, reg prometheus.Registerer) (_ *backend, err error) {
	migrate := r.admin || r == roleMigrate
	b := &backend{}
	defer func() {
		if err != nil {
			b.Close()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	var store schema.Store
	if cfg.DatabaseURL != "" {
		db, err := postgres.Open(ctx, cfg.DatabaseURL)
		if err != nil {
			return nil, fmt.Errorf("open Postgres: %w", err)
		}
		b.closer = append(b.closer, db.Close)
		if migrate {
			if err := db.Migrate(ctx); err != nil {
				return nil, fmt.Errorf("migrate Postgres: %w", err)
			}
		}
		if reg != nil {
			if err := db.RegisterMetrics(reg); err != nil {
				return nil, fmt.Errorf("database metrics: %w", err)
			}
		}
		store = db
	} else {
		db, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, "gosling.db"))
		if err != nil {
			return nil, fmt.Errorf("open database: %w", err)
		}
		b.closer = append(b.closer, db.Close)
		store = db
	}

	if cfg.RedisURL != "" {
		// Fail-fast timeouts: with Redis down, a request should fall back
		// to the database in milliseconds, not after go-redis's retries.
		opts, err := cache.RedisOptions(cfg.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("--redis-url: %w", err)
		}
		rdb := redis.NewClient(opts)
		b.closer = append(b.closer, rdb.Close)
		bus := cache.NewRedisBus(rdb, invalidationChannel, logger)
		b.bus = bus
		b.loops = append(b.loops, bus.Run)
		// Operators read what the database holds (a device's last-seen
		// time, an action's progress), which frontlines do not invalidate
		// for every poll and progress report.
		l2 := cache.NewStore(store, rdb, cache.StoreOptions{Logger: logger, ReadThrough: r.admin})
		if reg != nil {
			if err := errors.Join(bus.RegisterMetrics(reg), l2.RegisterMetrics(reg)); err != nil {
				return nil, fmt.Errorf("cache metrics: %w", err)
			}
		}
		store = l2
	} else {
		b.bus = cache.NewLocalBus()
	}
	b.store = store

	blobs, err := artifacts.OpenStore(filepath.Join(cfg.DataDir, "artifacts"))
	if err != nil {
		return nil, fmt.Errorf("open artifact store: %w", err)
	}
	b.blobs = blobs
	return b, nil
}

// Close releases connections in reverse order of opening.
func (b *backend) Close() error {
	var errs []error
	for i := len(b.closer) - 1; i >= 0; i-- {
		errs = append(errs, b.closer[i]())
	}
	b.closer = nil
	return errors.Join(errs...)
}
