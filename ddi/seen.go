package ddi

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/gosling-ota/gosling/schema"
)

// seenBatch bounds one TouchDevices call, so a flush after a long outage
// does not become one giant transaction.
const seenBatch = 1000

// seenTracker coalesces last-seen records in memory: a device polling
// every 5 s costs one map write per poll and one row per flush interval,
// instead of a database write per poll (hawkBit batches these the same
// way). The map is sharded to keep polls on different devices from
// contending for one mutex.
//
// The maps are keyed by the key's hash, which the poll has already
// computed for the cache: a uint64 key is hashed and compared in a few ns,
// where a string key is hashed again and compared byte by byte. The
// record keeps the key (the entry's string: no copy) for the flush and to
// tell a 64-bit collision apart; on one, the later device's poll wins the
// slot and the other's last-seen waits for its next poll (at 1,000,000
// devices a collision has a chance of about 3·10⁻⁸).
type seenTracker struct {
	s      *Server
	shards [32]seenShard
	quit   chan struct{}
	done   chan struct{}
}

type seenShard struct {
	mu sync.Mutex
	m  map[uint64]seenRec // key: keyHash(entry.key)
	_  [48]byte           // keep shards on separate cache lines
}

// seenRec is 48 bytes: the time as Unix nanoseconds rather than a
// time.Time (24 bytes with its location pointer).
type seenRec struct {
	key  string // entry.key: tenant NUL id
	at   int64
	addr netip.Addr
}

func newSeenTracker(s *Server) *seenTracker {
	t := &seenTracker{s: s, quit: make(chan struct{}), done: make(chan struct{})}
	for i := range t.shards {
		t.shards[i].m = make(map[uint64]seenRec)
	}
	return t
}

// touch notes a poll of the device with cache key key (hash h). The key
// must be the (immutable) entry's string, never request memory: it is
// kept until the flush. Noting a poll costs no allocation.
func (t *seenTracker) touch(key string, h uint64, at time.Time, addr netip.Addr) {
	sh := &t.shards[h%uint64(len(t.shards))]
	sh.mu.Lock()
	sh.m[h] = seenRec{key: key, at: at.UnixNano(), addr: addr}
	sh.mu.Unlock()
}

func (t *seenTracker) run() {
	defer close(t.done)
	tick := time.NewTicker(t.s.cfg.SeenFlushInterval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			ctx, cancel := context.WithTimeout(t.s.base, t.s.cfg.SeenFlushInterval)
			if err := t.flush(ctx); err != nil {
				t.s.logger.Warn("flush last-seen records", "err", err)
			}
			cancel()
		case <-t.quit:
			return
		}
	}
}

// stop ends the periodic flush and writes what is pending.
func (t *seenTracker) stop(ctx context.Context) error {
	close(t.quit)
	<-t.done
	if err := t.flush(ctx); err != nil {
		return fmt.Errorf("ddi: flush last-seen records: %w", err)
	}
	return nil
}

// flush writes every pending record. Records that could not be written go
// back into the map unless a newer poll replaced them meanwhile.
func (t *seenTracker) flush(ctx context.Context) error {
	var pending []schema.Seen
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		for _, r := range sh.m {
			tenant, id, _ := strings.Cut(r.key, "\x00")
			var addr string
			if r.addr.IsValid() {
				addr = r.addr.String()
			}
			pending = append(pending, schema.Seen{Tenant: tenant, DeviceID: id, At: time.Unix(0, r.at), Addr: addr})
		}
		// clear keeps the map's buckets, so steady polling does not
		// regrow it after every flush.
		clear(sh.m)
		sh.mu.Unlock()
	}
	if len(pending) == 0 {
		return nil
	}
	start := time.Now()
	defer func() { t.s.metrics.seenFlush.Observe(time.Since(start).Seconds()) }()
	for len(pending) > 0 {
		n := min(len(pending), seenBatch)
		if err := t.s.store.TouchDevices(ctx, pending[:n]); err != nil {
			t.requeue(pending)
			return err
		}
		pending = pending[n:]
	}
	return nil
}

// pending returns how many devices' records wait for the next flush.
func (t *seenTracker) pending() int {
	n := 0
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

func (t *seenTracker) requeue(recs []schema.Seen) {
	for _, r := range recs {
		key := deviceKey(r.Tenant, r.DeviceID)
		h := keyHash(key)
		sh := &t.shards[h%uint64(len(t.shards))]
		addr, _ := netip.ParseAddr(r.Addr)
		sh.mu.Lock()
		if cur, ok := sh.m[h]; !ok || cur.at < r.At.UnixNano() {
			sh.m[h] = seenRec{key: key, at: r.At.UnixNano(), addr: addr}
		}
		sh.mu.Unlock()
	}
}
