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
type seenTracker struct {
	s      *Server
	shards [32]seenShard
	quit   chan struct{}
	done   chan struct{}
}

type seenShard struct {
	mu sync.Mutex
	m  map[string]seenRec // key: entry.key
	_  [40]byte           // keep shards on separate cache lines
}

type seenRec struct {
	at   time.Time
	addr netip.Addr
}

func newSeenTracker(s *Server) *seenTracker {
	t := &seenTracker{s: s, quit: make(chan struct{}), done: make(chan struct{})}
	for i := range t.shards {
		t.shards[i].m = make(map[string]seenRec)
	}
	return t
}

// touch notes a poll. The key string belongs to the (immutable) entry, so
// a device already in the map costs no allocation.
func (t *seenTracker) touch(e *entry, at time.Time, addr netip.Addr) {
	h, _ := keyHash(e.key)
	sh := &t.shards[h%uint64(len(t.shards))]
	sh.mu.Lock()
	sh.m[e.key] = seenRec{at: at, addr: addr}
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
		for k, r := range sh.m {
			tenant, id, _ := strings.Cut(k, "\x00")
			var addr string
			if r.addr.IsValid() {
				addr = r.addr.String()
			}
			pending = append(pending, schema.Seen{Tenant: tenant, DeviceID: id, At: r.at, Addr: addr})
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
		h, _ := keyHash(key)
		sh := &t.shards[h%uint64(len(t.shards))]
		addr, _ := netip.ParseAddr(r.Addr)
		sh.mu.Lock()
		if cur, ok := sh.m[key]; !ok || cur.at.Before(r.At) {
			sh.m[key] = seenRec{at: r.At, addr: addr}
		}
		sh.mu.Unlock()
	}
}
