package ddi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/maphash"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"golang.org/x/sync/singleflight"

	"github.com/gosling-ota/gosling/artifacts"
	"github.com/gosling-ota/gosling/cache"
	"github.com/gosling-ota/gosling/schema"
)

// entry is one device's cached state: the device record and what its next
// poll answer offers. Entries are immutable once cached (ristretto hands the
// same pointer to every reader); a change builds a new entry.
type entry struct {
	key    string // deviceKey(tenant, id): the cache and last-seen key
	tenant *tenantState
	dev    *schema.Device

	// tokenSum is the decoded TokenHash, so that the hit path compares a
	// presented token without the hex decoding (and its allocation) that
	// schema.TokenMatches does.
	tokenSum [sha256.Size]byte
	hasToken bool

	// path is "/{tenant}/controller/v1/{id}", path-escaped, which is also
	// safe inside a JSON string (PathEscape escapes '"' and '\').
	path string

	// action is the device's open action and sw its software, or nil.
	action *schema.Action
	sw     *schema.Software
	// chash is the c= query value of the deploymentBase href: it changes
	// whenever the action or its status does, so gateways caching by URL
	// notice.
	chash string

	// due is software the catalog wants on the device while it has no
	// open action; the next authenticated poll creates the action.
	due        *schema.Software
	dueRollout int64
	// catGen is the catalog generation due was resolved with. Entries
	// without an open action are stale once the tenant's generation moves.
	catGen uint64
}

// cost approximates the entry's memory in bytes for ristretto.
func (e *entry) cost() int64 {
	n := 512 + len(e.key) + len(e.path) + len(e.dev.Name) + len(e.dev.SWVersion) + len(e.dev.LastAddr)
	for k, v := range e.dev.Attributes {
		n += 48 + len(k) + len(v)
	}
	if e.action != nil {
		n += 256
	}
	return int64(n)
}

// tenantState is what the frontline keeps per served tenant. The tenant
// map is built once in New and only read afterwards.
type tenantState struct {
	name string

	// gen counts catalog invalidations; catalog snapshots and the entries
	// derived from them record the generation they were built at.
	gen     atomic.Uint64
	catalog atomic.Pointer[catalogSnap]
	// gwGen counts tenant invalidations, so a gateway load racing one
	// does not store the old token.
	gwGen   atomic.Uint64
	gateway atomic.Pointer[gatewaySnap]
	loads   singleflight.Group // "catalog", "gateway"
}

type catalogSnap struct {
	cat    *schema.Catalog
	gen    uint64
	expiry time.Time
}

type gatewaySnap struct {
	set    bool
	sum    [sha256.Size]byte
	expiry time.Time
}

// Two independent seeds: one for ristretto's key hash and shard choice,
// one for its conflict hash, so that a collision needs both to collide.
var (
	keySeed      = maphash.MakeSeed()
	conflictSeed = maphash.MakeSeed()
)

// keyHash replaces ristretto's default, which converts the key to an
// interface (one allocation per Get); maphash.String does not allocate.
func keyHash(k string) (uint64, uint64) {
	return maphash.String(keySeed, k), maphash.String(conflictSeed, k)
}

func newDeviceCache(maxBytes int64) (*ristretto.Cache[string, *entry], error) {
	// About 1 KiB per entry; ristretto wants ~10 counters per item.
	counters := max(maxBytes/1024*10, 1000)
	return ristretto.NewCache(&ristretto.Config[string, *entry]{
		NumCounters:        counters,
		MaxCost:            maxBytes,
		BufferItems:        64,
		KeyToHash:          keyHash,
		IgnoreInternalCost: true,
	})
}

// deviceKey is the cache key of a device. NUL cannot occur in a tenant
// name (Config.Validate) nor in a decoded URL path segment we route.
func deviceKey(tenant, id string) string { return tenant + "\x00" + id }

// appendDeviceKey builds deviceKey into dst without allocating.
func appendDeviceKey(dst []byte, tenant, id []byte) []byte {
	dst = append(dst, tenant...)
	dst = append(dst, 0)
	return append(dst, id...)
}

// invalidator orders cache fills against invalidations. A miss reads the
// store and fills the cache; an invalidation arriving in between must not
// be overwritten by the (older) fill. Each shard counts invalidations; a
// fill is dropped if its shard's count moved since the read began.
type invalidator struct {
	shards [64]struct {
		mu  sync.Mutex
		seq uint64
	}
}

func (iv *invalidator) shard(key string) int {
	h, _ := keyHash(key)
	return int(h % uint64(len(iv.shards)))
}

// begin returns the sequence to pass to fill after reading the store.
func (iv *invalidator) begin(key string) uint64 {
	sh := &iv.shards[iv.shard(key)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.seq
}

// fill caches e unless key's shard saw an invalidation since begin.
func (s *Server) fill(e *entry, seq uint64) {
	sh := &s.inval.shards[s.inval.shard(e.key)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.seq == seq {
		s.devices.SetWithTTL(e.key, e, e.cost(), s.cfg.CacheTTL)
	}
}

// invalidate is the bus subscriber. It must not block: it only bumps
// counters and deletes cache entries.
func (s *Server) invalidate(inv cache.Invalidation) {
	if inv.Kind == cache.KindAll {
		s.invalidateAll()
		return
	}
	ts := s.tenants[inv.Tenant]
	if ts == nil {
		return
	}
	switch inv.Kind {
	case cache.KindDevice:
		key := deviceKey(inv.Tenant, inv.Key)
		sh := &s.inval.shards[s.inval.shard(key)]
		sh.mu.Lock()
		sh.seq++
		s.devices.Del(key)
		sh.mu.Unlock()
	case cache.KindCatalog:
		// Entries derived from the catalog compare their catGen with gen
		// on every hit, so one increment retires all of them without
		// touching a million cache entries.
		ts.gen.Add(1)
		ts.catalog.Store(nil)
	case cache.KindTenant:
		ts.gwGen.Add(1)
		ts.gateway.Store(nil)
	}
}

// invalidateAll forgets everything cached, for when the bus may have lost
// messages. Bumping every shard's sequence first keeps fills that started
// before the purge from putting old entries back.
func (s *Server) invalidateAll() {
	for i := range s.inval.shards {
		sh := &s.inval.shards[i]
		sh.mu.Lock()
		sh.seq++
		sh.mu.Unlock()
	}
	s.devices.Clear()
	for _, ts := range s.tenants {
		ts.gen.Add(1)
		ts.catalog.Store(nil)
		ts.gwGen.Add(1)
		ts.gateway.Store(nil)
	}
}

// catalog returns the tenant's current catalog, loading it once per change.
func (s *Server) catalog(ts *tenantState) (*schema.Catalog, uint64, error) {
	gen := ts.gen.Load()
	if c := ts.catalog.Load(); c != nil && c.gen == gen && time.Now().Before(c.expiry) {
		return c.cat, c.gen, nil
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
			cat:    schema.NewCatalog(sw, ro, artifacts.CompareVersions),
			gen:    gen,
			expiry: time.Now().Add(s.cfg.CacheTTL),
		}
		// If an invalidation raced the load, the snapshot carries the
		// older generation and the next call loads again.
		if ts.gen.Load() == gen {
			ts.catalog.Store(snap)
		}
		return snap, nil
	})
	if err != nil {
		return nil, 0, err
	}
	snap := v.(*catalogSnap)
	return snap.cat, snap.gen, nil
}

// gateway returns the tenant's GatewayToken state, loading it when needed.
func (s *Server) gateway(ts *tenantState) (*gatewaySnap, error) {
	if g := ts.gateway.Load(); g != nil && time.Now().Before(g.expiry) {
		return g, nil
	}
	v, err, _ := ts.loads.Do("gateway", func() (any, error) {
		gen := ts.gwGen.Load()
		ctx, cancel := s.storeCtx()
		defer cancel()
		h, err := s.store.GatewayTokenHash(ctx, ts.name)
		if err != nil {
			return nil, fmt.Errorf("load gateway token: %w", err)
		}
		g := &gatewaySnap{expiry: time.Now().Add(s.cfg.CacheTTL)}
		g.sum, g.set = decodeHash(h)
		if ts.gwGen.Load() == gen {
			ts.gateway.Store(g)
		}
		return g, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*gatewaySnap), nil
}

func decodeHash(h string) (sum [sha256.Size]byte, ok bool) {
	if n, err := hex.Decode(sum[:], []byte(h)); err != nil || n != len(sum) {
		return sum, false
	}
	return sum, true
}

// lookup returns the device's cached entry if it is still usable.
func (s *Server) lookup(ts *tenantState, key string) *entry {
	e, ok := s.devices.Get(key)
	if !ok {
		return nil
	}
	if e.action == nil && e.catGen != ts.gen.Load() {
		return nil // derived from an older catalog
	}
	return e
}

// device returns the device's entry from the cache or, on a miss, from the
// store (one load per device however many requests miss at once). It
// returns ENOTFOUND for unknown devices.
func (s *Server) device(ts *tenantState, id string) (*entry, error) {
	key := deviceKey(ts.name, id)
	if e := s.lookup(ts, key); e != nil {
		return e, nil
	}
	return s.load(ts, id, key)
}

// load reads a device from the store and resolves its offer.
func (s *Server) load(ts *tenantState, id, key string) (*entry, error) {
	v, err, _ := s.loads.Do(key, func() (any, error) {
		seq := s.inval.begin(key)
		// A stale entry without an open action only needs the offer
		// re-resolved against the new catalog: the device record itself is
		// still current (device changes delete the entry).
		if old, ok := s.devices.Get(key); ok && old.action == nil {
			e, err := s.resolve(ts, old.dev, nil)
			if err != nil {
				return nil, err
			}
			s.fill(e, seq)
			return e, nil
		}
		ctx, cancel := s.storeCtx()
		defer cancel()
		dev, err := s.store.Device(ctx, ts.name, id)
		if err != nil {
			return nil, err
		}
		var act *schema.Action
		if dev.ActionID != 0 {
			act, err = s.store.Action(ctx, ts.name, id, dev.ActionID)
			if err != nil {
				return nil, fmt.Errorf("load open action %d: %w", dev.ActionID, err)
			}
		}
		e, err := s.resolve(ts, dev, act)
		if err != nil {
			return nil, err
		}
		s.fill(e, seq)
		return e, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*entry), nil
}

// resolve builds an entry: the open action with its software, or what the
// catalog wants on the device.
func (s *Server) resolve(ts *tenantState, dev *schema.Device, act *schema.Action) (*entry, error) {
	e := &entry{
		key:    deviceKey(dev.Tenant, dev.ID),
		tenant: ts,
		dev:    dev,
		path:   "/" + url.PathEscape(dev.Tenant) + "/controller/v1/" + url.PathEscape(dev.ID),
	}
	e.tokenSum, e.hasToken = decodeHash(dev.TokenHash)
	cat, gen, err := s.catalog(ts)
	if err != nil {
		return nil, err
	}
	e.catGen = gen
	if act != nil && act.Status.Open() {
		sw := cat.Software(act.SoftwareID)
		if sw == nil {
			// Software is immutable, but the catalog may predate it.
			ctx, cancel := s.storeCtx()
			defer cancel()
			if sw, err = s.store.Software(ctx, dev.Tenant, act.SoftwareID); err != nil {
				return nil, fmt.Errorf("load software %d of action %d: %w", act.SoftwareID, act.ID, err)
			}
		}
		e.action, e.sw, e.chash = act, sw, actionHash(act)
		return e, nil
	}
	e.due, e.dueRollout = cat.Desired(dev)
	return e, nil
}

// actionHash is the c= value: a signed 32-bit FNV-1a of action id and
// status, rendered like hawkBit's Java hashCode.
func actionHash(a *schema.Action) string {
	h := uint32(2166136261)
	for _, b := range fmt.Appendf(nil, "%d/%s/%d", a.ID, a.Status, a.SoftwareID) {
		h ^= uint32(b)
		h *= 16777619
	}
	return fmt.Sprint(int32(h))
}

// createAction opens an action for e.due and returns the reloaded entry.
// A concurrent create (another frontline, or the control plane) shows up as
// ECONFLICT; then the device already has an open action and a reload
// returns it.
func (s *Server) createAction(ts *tenantState, e *entry) (*entry, error) {
	_, err, _ := s.loads.Do("create\x00"+e.key, func() (any, error) {
		ctx, cancel := s.storeCtx()
		defer cancel()
		a := &schema.Action{
			Tenant:     e.dev.Tenant,
			DeviceID:   e.dev.ID,
			SoftwareID: e.due.ID,
			RolloutID:  e.dueRollout,
			Status:     schema.ActionPending,
			Download:   "forced",
			Update:     "forced",
		}
		err := s.store.CreateAction(ctx, a)
		if err != nil && schema.ErrorCode(err) != schema.ECONFLICT {
			return nil, fmt.Errorf("create action: %w", err)
		}
		if err == nil {
			s.logger.Info("action created", "tenant", a.Tenant, "device", a.DeviceID, "action", a.ID,
				"software", a.SoftwareID, "rollout", a.RolloutID)
		}
		s.publishDevice(e.dev.Tenant, e.dev.ID)
		return nil, nil
	})
	if err != nil {
		return nil, err
	}
	return s.load(ts, e.dev.ID, e.key)
}

// withTimeout is a helper for the rare store calls made outside load.
func (s *Server) withTimeout(fn func(ctx context.Context) error) error {
	ctx, cancel := s.storeCtx()
	defer cancel()
	return fn(ctx)
}
