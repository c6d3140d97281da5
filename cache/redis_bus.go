package cache

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// Tuning of RedisBus. The backoff cap is short because a reconnect attempt
// is one TCP dial per process, and every second without a subscription is
// a second in which this process relies on TTLs alone.
const (
	busPublishTimeout = 2 * time.Second
	busMinBackoff     = 50 * time.Millisecond
	busMaxBackoff     = 2 * time.Second
	// busHealthInterval is how long the subscription may stay silent before
	// the bus sends a PING; no answer within another interval counts as a
	// lost connection. It catches half-open connections (a partition, a
	// host that vanished) that never deliver a FIN.
	busHealthInterval = 10 * time.Second
)

// RedisBus is the Bus of the production topology: invalidations travel
// over one Redis pub/sub channel between the control plane and every DDI
// frontline.
//
// Publish delivers to the process's own subscribers synchronously and then
// PUBLISHes, so the publisher is never stale, whatever Redis does. Redis
// pub/sub is fire-and-forget: a subscriber that is disconnected misses
// messages. RedisBus therefore sends KindAll to its local subscribers every
// time its subscription is (re)established — the first time included —
// so caches start over instead of trusting entries whose invalidations may
// have been lost. Between a disconnect and the resubscription caches are
// kept fresh only by their TTLs, which bound the staleness.
//
// Run must be running for remote invalidations to arrive; Publish works
// (and reaches local subscribers) without it.
type RedisBus struct {
	rdb     *redis.Client
	channel string
	logger  *slog.Logger
	origin  [8]byte // random per bus, so that a process ignores its own echo
	local   LocalBus

	running   atomic.Bool
	connected atomic.Bool
	published atomic.Uint64
	received  atomic.Uint64
	resyncs   atomic.Uint64
	pubErrors atomic.Uint64
	malformed atomic.Uint64
	// lag is observed on receipt (see RegisterMetrics): now minus the
	// publisher's send time, for messages from other processes.
	lag prometheus.Histogram
}

var _ Bus = (*RedisBus)(nil)

// BusStats is a snapshot of a RedisBus's counters, for metrics. Counters
// only grow.
type BusStats struct {
	// Connected reports whether the subscription is established now.
	Connected bool
	// Published counts messages PUBLISHed to Redis successfully.
	Published uint64
	// PublishErrors counts failed PUBLISHes (local delivery still happened).
	PublishErrors uint64
	// Received counts messages from other processes delivered to local
	// subscribers (own echoes are not counted).
	Received uint64
	// Resyncs counts (re)subscriptions, each of which sent KindAll locally.
	Resyncs uint64
	// Malformed counts messages on the channel that could not be decoded.
	Malformed uint64
}

// NewRedisBus returns a bus on the pub/sub channel of rdb. Every process of
// one deployment must use the same channel. Call Run to receive.
func NewRedisBus(rdb *redis.Client, channel string, logger *slog.Logger) *RedisBus {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	b := &RedisBus{
		rdb:     rdb,
		channel: channel,
		logger:  logger.With("component", "cache.bus", "channel", channel),
		local:   LocalBus{subs: make(map[int]func(Invalidation))},
		lag:     newLagHistogram(),
	}
	crand.Read(b.origin[:]) // never fails (it crashes the program instead)
	return b
}

// Publish implements Bus. It delivers inv to this process's subscribers
// first, then PUBLISHes it, waiting at most a few seconds (less if ctx ends
// sooner). The error reports a failed PUBLISH: other processes will then
// see the change only when their cached entries expire, so the caller
// should log it.
func (b *RedisBus) Publish(ctx context.Context, inv Invalidation) error {
	b.local.Publish(ctx, inv)
	ctx, cancel := context.WithTimeout(ctx, busPublishTimeout)
	defer cancel()
	if err := b.rdb.Publish(ctx, b.channel, b.encode(inv, time.Now())).Err(); err != nil {
		b.pubErrors.Add(1)
		return fmt.Errorf("publish invalidation: %w", err)
	}
	b.published.Add(1)
	return nil
}

// Subscribe implements Bus.
func (b *RedisBus) Subscribe(fn func(Invalidation)) (cancel func()) {
	return b.local.Subscribe(fn)
}

// Connected reports whether the bus is subscribed to its channel now.
func (b *RedisBus) Connected() bool { return b.connected.Load() }

// Stats returns the bus's counters.
func (b *RedisBus) Stats() BusStats {
	return BusStats{
		Connected:     b.connected.Load(),
		Published:     b.published.Load(),
		PublishErrors: b.pubErrors.Load(),
		Received:      b.received.Load(),
		Resyncs:       b.resyncs.Load(),
		Malformed:     b.malformed.Load(),
	}
}

// Run subscribes to the channel and delivers what arrives to the local
// subscribers until ctx ends. When the subscription breaks it reconnects
// with exponential backoff (capped at a few seconds) for as long as it
// takes; each successful subscription sends KindAll locally. Run returns
// nil when ctx ends, and an error only if it is already running.
func (b *RedisBus) Run(ctx context.Context) error {
	if !b.running.CompareAndSwap(false, true) {
		return errors.New("cache: RedisBus.Run called twice")
	}
	defer b.running.Store(false)

	backoff := busMinBackoff
	failures := 0
	for {
		subscribed, err := b.session(ctx)
		b.connected.Store(false)
		if ctx.Err() != nil {
			return nil
		}
		if subscribed {
			backoff, failures = busMinBackoff, 0
			b.logger.Warn("invalidation subscription lost; reconnecting", "err", err)
		} else {
			// Log the first failure and then every 30th, so that a long
			// outage is visible without flooding the log.
			if failures%30 == 0 {
				b.logger.Warn("invalidation subscription failed; retrying", "err", err, "attempts", failures+1)
			}
			failures++
		}
		// Full jitter keeps N frontlines from reconnecting in lockstep when
		// Redis comes back.
		wait := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		backoff = min(2*backoff, busMaxBackoff)
	}
}

// session runs one subscription until it fails or ctx ends. subscribed
// reports whether Redis confirmed the subscription before the failure.
func (b *RedisBus) session(ctx context.Context) (subscribed bool, err error) {
	ps := b.rdb.Subscribe(ctx, b.channel) // errors surface from Receive
	defer ps.Close()
	// go-redis does not abort a blocked read when ctx ends; closing the
	// connection does.
	stop := context.AfterFunc(ctx, func() { ps.Close() })
	defer stop()

	pingSent := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, busHealthInterval)
		if err != nil {
			if ctx.Err() != nil {
				return subscribed, ctx.Err()
			}
			var nerr net.Error
			if !errors.As(err, &nerr) || !nerr.Timeout() {
				return subscribed, err
			}
			if pingSent {
				return subscribed, fmt.Errorf("no answer to PING within %v", busHealthInterval)
			}
			if err := ps.Ping(ctx); err != nil {
				return subscribed, fmt.Errorf("ping: %w", err)
			}
			pingSent = true
			continue
		}
		pingSent = false
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind != "subscribe" || m.Channel != b.channel {
				continue
			}
			// From here on Redis delivers every message published on the
			// channel; what was published before may have been missed.
			subscribed = true
			b.connected.Store(true)
			n := b.resyncs.Add(1)
			if n == 1 {
				b.logger.Info("invalidation subscription established")
			} else {
				b.logger.Info("invalidation subscription re-established; resynchronising caches")
			}
			b.local.Publish(ctx, Invalidation{Kind: KindAll})
		case *redis.Message:
			inv, origin, sent, err := decodeInvalidation(m.Payload)
			if err != nil {
				b.malformed.Add(1)
				b.logger.Warn("malformed invalidation ignored", "err", err, "len", len(m.Payload))
				continue
			}
			if origin == b.origin {
				continue // delivered locally by Publish already
			}
			b.received.Add(1)
			if sent > 0 {
				// Clocks of different hosts may disagree; a negative lag
				// is reported as 0 rather than dropped, so the count
				// still matches received.
				b.lag.Observe(max(time.Since(time.Unix(0, sent)), 0).Seconds())
			}
			b.local.Publish(ctx, inv)
		case *redis.Pong:
		}
	}
}

// The wire format, chosen to be small (messages cross the network to
// every frontline on every write) and binary-safe:
//
//	byte 0       format version (2)
//	byte 1       Kind
//	bytes 2..9   origin: the publishing bus's random id
//	bytes 10..17 sent: the publisher's clock, unix nanoseconds, big-endian
//	uvarint      len(Tenant), then Tenant
//	rest         Key
//
// Version 1 lacked sent; it is still decoded (with sent 0, so no lag is
// observed), so a frontline of this version can run next to an older
// control plane during an upgrade. Older frontlines drop version 2
// messages as malformed, which their TTLs bound: upgrade frontlines first.
const (
	wireVersion   = 2
	wireHeaderV1  = 2 + 8
	wireHeader    = wireHeaderV1 + 8
	wireVersionV1 = 1
)

func (b *RedisBus) encode(inv Invalidation, sent time.Time) []byte {
	buf := make([]byte, 0, wireHeader+binary.MaxVarintLen64+len(inv.Tenant)+len(inv.Key))
	buf = append(buf, wireVersion, byte(inv.Kind))
	buf = append(buf, b.origin[:]...)
	buf = binary.BigEndian.AppendUint64(buf, uint64(sent.UnixNano()))
	buf = binary.AppendUvarint(buf, uint64(len(inv.Tenant)))
	buf = append(buf, inv.Tenant...)
	return append(buf, inv.Key...)
}

// decodeInvalidation reads a message of either wire version. sent is the
// publisher's clock (unix ns), or 0 for version 1.
func decodeInvalidation(p string) (inv Invalidation, origin [8]byte, sent int64, err error) {
	if len(p) < 1 {
		return inv, origin, 0, errors.New("empty message")
	}
	header := wireHeader
	switch p[0] {
	case wireVersion:
	case wireVersionV1:
		header = wireHeaderV1
	default:
		return inv, origin, 0, fmt.Errorf("unknown format version %d", p[0])
	}
	if len(p) < header+1 {
		return inv, origin, 0, fmt.Errorf("%d bytes is too short", len(p))
	}
	inv.Kind = Kind(p[1])
	if inv.Kind < KindDevice || inv.Kind > KindFeedback {
		return inv, origin, 0, fmt.Errorf("unknown kind %d", p[1])
	}
	copy(origin[:], p[2:wireHeaderV1])
	if header == wireHeader {
		sent = int64(binary.BigEndian.Uint64([]byte(p[wireHeaderV1:wireHeader])))
	}
	rest := p[header:]
	n, w := binary.Uvarint([]byte(rest[:min(len(rest), binary.MaxVarintLen64)]))
	if w <= 0 || uint64(len(rest)-w) < n {
		return inv, origin, 0, errors.New("bad tenant length")
	}
	rest = rest[w:]
	inv.Tenant, inv.Key = rest[:n], rest[n:]
	return inv, origin, sent, nil
}
