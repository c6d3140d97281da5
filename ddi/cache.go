package ddi

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/maphash"
	"sync"
	"time"

	"github.com/dgraph-io/ristretto/v2"

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

	// offer is what the catalog wants on the device while it has no open
	// action (offer.Software nil: nothing due); the next authenticated poll
	// creates the action. An offer whose maintenance window is closed is
	// not kept here (see window.go).
	offer schema.Offer
	// window is the maintenance window of the open action's rollout, or
	// nil; withheld is set when the poll must not offer the open action's
	// deploymentBase because it has not started and the window is closed.
	window   *schema.MaintenanceWindow
	withheld bool

	// sleep is the device's pre-rendered "HH:MM:SS": its poll interval
	// (schema.PollSettings.Interval, jittered per device and therefore
	// stable) or the shortened sleep before a maintenance window.
	sleep [len("HH:MM:SS")]byte

	// catDep marks entries derived from the catalog: those without an
	// open action (the offer) and those whose action comes from a rollout
	// (its window may change). They are stale once the tenant's catalog
	// generation moves past catGen. Every entry is stale once the tenant
	// generation moves past tenGen (the poll settings behind sleep).
	catDep bool
	catGen uint64
	tenGen uint64
	// until, when set, is the next maintenance window edge (or the end of
	// a shortened sleep) on Config.Now's clock: the answer is re-resolved
	// from then on, so a pre-rendered answer never outlives a window edge.
	until time.Time
	// loaded is when dev was read from the store (wall clock). Re-resolving
	// an entry keeps it, so CacheTTL still bounds how old a cached device
	// record may get when an invalidation was lost.
	loaded time.Time
}

// due reports whether the next poll should create an action.
func (e *entry) due() bool { return e.offer.Software != nil }

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
		// Hit, miss and eviction counts for the metrics (l1Collector).
		// ristretto keeps them in sharded atomic counters: no
		// allocation and little contention on the hit path.
		Metrics: true,
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
	// The TTL counts from when the device record was read, not from this
	// re-resolve, so staleness after a lost invalidation stays bounded.
	if ttl := s.cfg.CacheTTL - time.Since(e.loaded); sh.seq == seq && ttl > 0 {
		s.devices.SetWithTTL(e.key, e, e.cost(), ttl)
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
		// Entries record tenGen (their sleep depends on the poll
		// settings), so this retires them all, like KindCatalog.
		ts.tenGen.Add(1)
		ts.gateway.Store(nil)
		ts.poll.Store(nil)
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
		ts.tenGen.Add(1)
		ts.gateway.Store(nil)
		ts.poll.Store(nil)
	}
}

func decodeHash(h string) (sum [sha256.Size]byte, ok bool) {
	if n, err := hex.Decode(sum[:], []byte(h)); err != nil || n != len(sum) {
		return sum, false
	}
	return sum, true
}

// lookup returns the device's cached entry if it is still usable at now.
func (s *Server) lookup(ts *tenantState, key string, now time.Time) *entry {
	e, ok := s.devices.Get(key)
	if !ok {
		return nil
	}
	if e.tenGen != ts.tenGen.Load() || (e.catDep && e.catGen != ts.gen.Load()) {
		return nil // derived from older poll settings or an older catalog
	}
	if !e.until.IsZero() && !now.Before(e.until) {
		return nil // a maintenance window edge has passed
	}
	return e
}

// device returns the device's entry from the cache or, on a miss, from the
// store (one load per device however many requests miss at once). It
// returns ENOTFOUND for unknown devices.
func (s *Server) device(ts *tenantState, id string) (*entry, error) {
	key := deviceKey(ts.name, id)
	if e := s.lookup(ts, key, s.now()); e != nil {
		return e, nil
	}
	return s.load(ts, id, key)
}

// load reads a device from the store and resolves its offer.
func (s *Server) load(ts *tenantState, id, key string) (*entry, error) {
	v, err, _ := s.loads.Do(key, func() (any, error) {
		seq := s.inval.begin(key)
		// A stale entry only needs re-resolving against the new catalog,
		// poll settings or clock: its device record and open action are
		// still current, because changes to them delete the entry. Only
		// once the record is CacheTTL old is it read again.
		if old, ok := s.devices.Get(key); ok && time.Since(old.loaded) < s.cfg.CacheTTL {
			e, err := s.resolve(ts, old.dev, old.action, old.loaded)
			if err != nil {
				return nil, err
			}
			s.fill(e, seq)
			return e, nil
		}
		ctx, cancel := s.storeCtx()
		defer cancel()
		loaded := time.Now()
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
		e, err := s.resolve(ts, dev, act, loaded)
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
