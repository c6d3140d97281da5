package ddi

import (
	"github.com/dgraph-io/ristretto/v2"
)

// l1 is the frontline's device cache: ristretto, keyed by the cache key's
// 64-bit hash, holding immutable *entry values, bounded by their cost in
// bytes (entry.cost).
//
// Keys are the hash the poll path computed anyway (keyHash), so ristretto
// hashes nothing again; ristretto's uint64 keys carry no conflict hash, so
// a 64-bit collision is caught by comparing entry.key (and counts as a
// miss). Staleness is bounded by entry.loaded, checked in Server.lookup,
// rather than by ristretto's TTL, whose expiration buckets cost another
// map entry per device.
//
// Memory (BenchmarkEntryMemory, 1,000,000 devices in the default budget,
// ristretto v2.4.2): ≈ 330 bytes per device — the entry and its key
// (≈ 136), ristretto's store map (≈ 134: a 48-byte item per slot, and at
// this size Go's map tables have just split, half full) and policy map
// (≈ 38), and the admission counters (≈ 13, sized by the budget, not by
// the devices); docs/benchmarks.md has the breakdown.
type l1 struct {
	c *ristretto.Cache[uint64, *entry]
}

// steadyEntryCost is what a device without an offer or open action costs
// (entry.cost), used to size ristretto's admission counters.
const steadyEntryCost = 176

func newL1(maxBytes int64) (*l1, error) {
	items := max(maxBytes/steadyEntryCost, 1000)
	c, err := ristretto.NewCache(&ristretto.Config[uint64, *entry]{
		// Two counters per item the budget holds, not ristretto's advice
		// of ten: a poll cache's accesses are near uniform (every device
		// polls at its interval), so TinyLFU's frequency estimates decide
		// little, and the count-min sketch and its doorkeeper grow with
		// NumCounters — ten per item cost 65 bytes per device at the
		// default budget with a million devices, two cost 13.
		NumCounters:        items * 2,
		MaxCost:            maxBytes,
		BufferItems:        64,
		IgnoreInternalCost: true,
		// Hits, misses and evictions for the metrics, read at scrape
		// time; ristretto keeps them in sharded atomic counters.
		Metrics: true,
	})
	if err != nil {
		return nil, err
	}
	return &l1{c: c}, nil
}

// get returns the entry cached under key, whose keyHash is h.
func (c *l1) get(h uint64, key string) *entry {
	e, ok := c.c.Get(h)
	if !ok || e.key != key {
		return nil
	}
	return e
}

// peek is get for re-resolving a stale entry.
func (c *l1) peek(h uint64, key string) *entry { return c.get(h, key) }

// set caches e under its hash. ristretto may drop the write (admission,
// full buffers); the next poll then loads the device again, as on a miss.
func (c *l1) set(h uint64, e *entry) { c.c.Set(h, e, e.cost()) }

// del forgets the entry cached under key.
func (c *l1) del(h uint64, _ string) { c.c.Del(h) }

// clear forgets every entry.
func (c *l1) clear() { c.c.Clear() }

// wait blocks until buffered writes are applied (tests only).
func (c *l1) wait() { c.c.Wait() }

// close stops ristretto's goroutines.
func (c *l1) close() { c.c.Close() }

// stats reads ristretto's counters (metrics, at scrape time).
func (c *l1) stats() (hits, misses, evicted uint64) {
	m := c.c.Metrics
	return m.Hits(), m.Misses(), m.KeysEvicted()
}
