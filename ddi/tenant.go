package ddi

import (
	"crypto/sha256"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/gosling-ota/gosling/artifacts"
	"github.com/gosling-ota/gosling/schema"
)

// fullBackoff is how long a frontline stops asking the store to open
// actions for a rollout that answered EUNAVAILABLE (MaxConcurrent open
// actions). Without it every waiting device's poll would be a write
// transaction that only fails.
const fullBackoff = 5 * time.Second

// tenantState is what the frontline keeps per served tenant. The tenant
// map is built once in New and only read afterwards.
type tenantState struct {
	name string

	// gen counts catalog invalidations; catalog snapshots and the entries
	// derived from them record the generation they were built at.
	gen     atomic.Uint64
	catalog atomic.Pointer[catalogSnap]
	// tenGen counts tenant invalidations (GatewayToken, poll settings).
	// Loads racing one do not store what they read, and every device
	// entry records it, because its pre-rendered sleep depends on the poll
	// settings.
	tenGen  atomic.Uint64
	gateway atomic.Pointer[gatewaySnap]
	poll    atomic.Pointer[pollSnap]
	loads   singleflight.Group // "catalog", "gateway", "poll"

	// full maps rollout id → until when CreateAction is not tried again,
	// after the store said the rollout is at MaxConcurrent.
	fullMu sync.Mutex
	full   map[int64]time.Time
}

type catalogSnap struct {
	cat *schema.Catalog
	// rollouts holds every rollout of the tenant by id, whatever its
	// state: open actions of a paused rollout still obey its maintenance
	// window.
	rollouts map[int64]*schema.Rollout
	gen      uint64
	expiry   time.Time
	// needDevice is set when an offering rollout's target filters on
	// Attributes or Query (id or name), which cached entries do not keep
	// (see profile): re-resolution then reads the device from the store.
	needDevice bool
}

// rollout returns a rollout of the snapshot, or nil (id 0, deleted).
func (c *catalogSnap) rollout(id int64) *schema.Rollout {
	if id == 0 {
		return nil
	}
	return c.rollouts[id]
}

type gatewaySnap struct {
	set    bool
	sum    [sha256.Size]byte
	expiry time.Time
}

type pollSnap struct {
	ps     *schema.PollSettings
	gen    uint64
	expiry time.Time
}

// catalog returns the tenant's current catalog, loading it once per change.
func (s *Server) catalog(ts *tenantState) (*catalogSnap, error) {
	gen := ts.gen.Load()
	if c := ts.catalog.Load(); c != nil && c.gen == gen && time.Now().Before(c.expiry) {
		return c, nil
	}
	v, err, _ := ts.loads.Do("catalog", func() (any, error) {
		gen := ts.gen.Load()
		ctx, cancel := s.storeCtx()
		defer cancel()
		sw, err := s.store.SoftwareList(ctx, schema.SoftwareFilter{Tenant: ts.name})
		if err != nil {
			return nil, fmt.Errorf("load software: %w", err)
		}
		ro, err := s.store.Rollouts(ctx, ts.name)
		if err != nil {
			return nil, fmt.Errorf("load rollouts: %w", err)
		}
		snap := &catalogSnap{
			cat:      schema.NewCatalog(sw, ro, artifacts.CompareVersions),
			rollouts: make(map[int64]*schema.Rollout, len(ro)),
			gen:      gen,
			expiry:   time.Now().Add(s.cfg.CacheTTL),
		}
		for _, r := range ro {
			snap.rollouts[r.ID] = r
			if t := r.Target; r.Offers() && t != nil && (len(t.Attributes) > 0 || t.Query != "") {
				snap.needDevice = true
			}
		}
		// If an invalidation raced the load, the snapshot carries the
		// older generation and the next call loads again.
		if ts.gen.Load() == gen {
			ts.catalog.Store(snap)
		}
		return snap, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*catalogSnap), nil
}

// gateway returns the tenant's GatewayToken state, loading it when needed.
func (s *Server) gateway(ts *tenantState) (*gatewaySnap, error) {
	if g := ts.gateway.Load(); g != nil && time.Now().Before(g.expiry) {
		return g, nil
	}
	v, err, _ := ts.loads.Do("gateway", func() (any, error) {
		gen := ts.tenGen.Load()
		ctx, cancel := s.storeCtx()
		defer cancel()
		h, err := s.store.GatewayTokenHash(ctx, ts.name)
		if err != nil {
			return nil, fmt.Errorf("load gateway token: %w", err)
		}
		g := &gatewaySnap{expiry: time.Now().Add(s.cfg.CacheTTL)}
		g.sum, g.set = decodeHash(h)
		if ts.tenGen.Load() == gen {
			ts.gateway.Store(g)
		}
		return g, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*gatewaySnap), nil
}

// pollSettings returns the tenant's poll settings (nil when never set)
// and the tenant generation they belong to, loading them once per change
// like the GatewayToken. A decorating store (the Redis cache) serves the
// read from its own cache.
func (s *Server) pollSettings(ts *tenantState) (*schema.PollSettings, uint64, error) {
	gen := ts.tenGen.Load()
	if p := ts.poll.Load(); p != nil && p.gen == gen && time.Now().Before(p.expiry) {
		return p.ps, p.gen, nil
	}
	v, err, _ := ts.loads.Do("poll", func() (any, error) {
		gen := ts.tenGen.Load()
		ctx, cancel := s.storeCtx()
		defer cancel()
		ps, err := s.store.PollSettings(ctx, ts.name)
		if err != nil {
			return nil, fmt.Errorf("load poll settings: %w", err)
		}
		p := &pollSnap{ps: ps, gen: gen, expiry: time.Now().Add(s.cfg.CacheTTL)}
		if ts.tenGen.Load() == gen {
			ts.poll.Store(p)
		}
		return p, nil
	})
	if err != nil {
		return nil, 0, err
	}
	p := v.(*pollSnap)
	return p.ps, p.gen, nil
}

// rolloutFull reports whether CreateAction for the rollout is backing off.
func (ts *tenantState) rolloutFull(id int64, now time.Time) bool {
	ts.fullMu.Lock()
	defer ts.fullMu.Unlock()
	until, ok := ts.full[id]
	if ok && !now.Before(until) {
		delete(ts.full, id)
		return false
	}
	return ok
}

// markFull starts a backoff for the rollout.
func (ts *tenantState) markFull(id int64, now time.Time) {
	ts.fullMu.Lock()
	defer ts.fullMu.Unlock()
	if ts.full == nil {
		ts.full = make(map[int64]time.Time)
	}
	ts.full[id] = now.Add(fullBackoff)
}
