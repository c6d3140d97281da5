package cache

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"

	"github.com/gosling-ota/gosling/schema"
)

// StoreOptions configures a Store. Zero fields take the defaults.
type StoreOptions struct {
	// TTL bounds how long a value stays in Redis, and so how stale it can
	// be when an invalidation was lost. Default 60 s.
	TTL time.Duration
	// Prefix starts every key. Default "gosling:v1:"; tests give each
	// store its own so they can share one Redis.
	Prefix string
	// RetryInterval is how long reads skip Redis after a Redis error
	// before trying it again (degraded mode). Default 1 s.
	RetryInterval time.Duration
	// ExactLastSeen makes TouchDevices invalidate the touched devices, so
	// that Device reports exact LastSeen/LastAddr. It is off by default:
	// frontlines flush the last-seen time of every polling device every
	// few seconds, and invalidating them would turn nearly every read into
	// a miss. Poll answers do not depend on LastSeen.
	ExactLastSeen bool
	// ExactProgress makes RecordFeedback invalidate the action of every
	// stored feedback, so that Action reports exact Progress and
	// UpdatedAt. It is off by default: progress reports are most of the
	// feedback a fleet sends, no poll answer or device-facing read depends
	// on them, and the control plane reads actions from the database
	// (ReadThrough). Feedback that moves an action's status always
	// invalidates the action and its device.
	ExactProgress bool
	// ReadThrough sends every read to the database and fills nothing;
	// writes still invalidate. It is for processes that serve operators:
	// their reads are few, and must show the source of truth (LastSeen,
	// action progress) rather than what a frontline needs to answer polls.
	ReadThrough bool
	// Logger receives degraded-mode and invalidation warnings.
	Logger *slog.Logger
}

// Defaults of StoreOptions.
const (
	DefaultTTL           = 60 * time.Second
	DefaultPrefix        = "gosling:v1:"
	DefaultRetryInterval = time.Second

	// versionTTL is how long a version key outlives its last write. A fill
	// that read "no version" is only protected while the version a writer
	// created in between still exists, so this must exceed the longest
	// possible fill (a store read, bounded by the callers' timeouts).
	versionTTL = 10 * time.Minute
	// logEvery limits degraded-mode warnings to one per interval.
	logEvery = 10 * time.Second
	// invalidateChunk is the most entries one invalidation script deletes
	// (each is an INCR, a PEXPIRE and a DEL).
	invalidateChunk = 500
)

// Store is the Redis (L2) cache in front of a schema.Store: it caches the
// reads a DDI frontline makes on L1 misses — Device, Action, Software, the
// tenant's full SoftwareList, Rollouts, GatewayTokenHash and PollSettings —
// for up to TTL, and every other read (listings, DeviceIDs, rollout counts
// and events) goes straight to the next store. Writes go to
// the next store and then delete the Redis entries they affect, before
// they return; so callers that publish on the Bus after a write returns
// can be sure that a frontline reloading on the invalidation does not
// refill its L1 from an old L2 entry.
//
// # Versions
//
// Each entry has a version key. A writer increments it and deletes the
// value (one Lua script); a filler reads the version before it reads the
// next store and sets the value only if the version is unchanged (another
// script). A slow fill racing a write therefore cannot put back a value
// older than the write. Concurrent misses of one key in this process make
// one read of the next store (singleflight).
//
// # Failures and staleness
//
// Redis errors never fail a read: the Store reads the next store instead,
// skips Redis for RetryInterval, and logs at most once per 10 s. When
// Redis answers again caching resumes by itself. An invalidation that
// fails after the write committed is logged and counted; the old value
// then lives until its TTL. The worst-case staleness a device can see
// after a write whose invalidations were all lost is therefore
// StoreOptions.TTL (L2) plus the frontline's L1 TTL (ddi Config.CacheTTL):
// an L1 entry filled from the stale L2 entry just before it expired. The
// typical case is the latency of the Bus.
//
// Device read through the Store may report an old LastSeen and LastAddr:
// TouchDevices does not invalidate (see StoreOptions.ExactLastSeen).
//
// Values are JSON (see codec.go). Close closes the next store, not the
// Redis client, which belongs to the caller. The client should have short
// timeouts (a few hundred ms) and few retries, as these bound how long a
// read waits before it falls back to the next store.
type Store struct {
	next   schema.Store
	rdb    *redis.Client
	opts   StoreOptions
	logger *slog.Logger

	flights singleflight.Group

	// downUntil (unix ns) is when reads try Redis again after an error.
	downUntil atomic.Int64
	degraded  atomic.Bool
	lastLog   atomic.Int64 // unix ns of the last degraded-mode warning

	hits, misses, fills, fillsDropped atomic.Uint64
	redisErrors, invalErrors          atomic.Uint64
}

var _ schema.Store = (*Store)(nil)

// StoreStats is a snapshot of a Store's counters, for metrics. Counters
// only grow.
type StoreStats struct {
	Hits   uint64 // reads answered from Redis
	Misses uint64 // reads that went to the next store (Redis missing, down or skipped)
	Fills  uint64 // values written to Redis after a miss
	// FillsDropped counts fills refused because a write changed the
	// entry's version while the value was being read.
	FillsDropped uint64
	// RedisErrors counts failed Redis reads and fills (degraded mode).
	RedisErrors uint64
	// InvalidateErrors counts failed invalidations after writes; each one
	// may leave a stale value for up to TTL.
	InvalidateErrors uint64
	// Degraded reports whether the last Redis call failed.
	Degraded bool
}

// NewStore returns a Store caching next's reads in rdb.
func NewStore(next schema.Store, rdb *redis.Client, opts StoreOptions) *Store {
	if opts.TTL <= 0 {
		opts.TTL = DefaultTTL
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.RetryInterval <= 0 {
		opts.RetryInterval = DefaultRetryInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Store{next: next, rdb: rdb, opts: opts, logger: opts.Logger.With("component", "cache.store")}
}

// Stats returns the store's counters.
func (s *Store) Stats() StoreStats {
	return StoreStats{
		Hits: s.hits.Load(), Misses: s.misses.Load(),
		Fills: s.fills.Load(), FillsDropped: s.fillsDropped.Load(),
		RedisErrors: s.redisErrors.Load(), InvalidateErrors: s.invalErrors.Load(),
		Degraded: s.degraded.Load(),
	}
}

// Close closes the next store.
func (s *Store) Close() error { return s.next.Close() }

// key names one cached entry: its value lives under val, its version
// under ver. Tenants are escaped so that the segment after the prefix
// always ends at the first ':'; kinds never contain ':', and the id is last,
// so no two entries share a key whatever the ids contain.
//
//	value:   {prefix}{tenant}:{kind}[:{id}]
//	version: {prefix}{tenant}:ver:{kind}[:{id}]
type key struct {
	prefix string // {prefix}{tenant}:
	rest   string // {kind}[:{id}]
}

func (s *Store) key(tenant, kind, id string) key {
	k := key{prefix: s.opts.Prefix + escapeTenant(tenant) + ":", rest: kind}
	if id != "" {
		k.rest = kind + ":" + id
	}
	return k
}

func (k key) val() string { return k.prefix + k.rest }
func (k key) ver() string { return k.prefix + "ver:" + k.rest }

// Entry kinds, the {kind} segment of keys.
const (
	kindDevice       = "device"
	kindAction       = "action"
	kindSoftware     = "software"
	kindSoftwareList = "softwarelist"
	kindRollouts     = "rollouts"
	kindGateway      = "gateway"
	kindPoll         = "poll"
)

func (s *Store) deviceKey(tenant, id string) key { return s.key(tenant, kindDevice, id) }

// actionKey includes the device because Action answers only for the
// action's own device: entries (and flights) for one device's action must
// not answer, nor fail, a read naming another device.
func (s *Store) actionKey(tenant, deviceID string, id int64) key {
	return s.key(tenant, kindAction, strconv.FormatInt(id, 10)+":"+deviceID)
}
func (s *Store) softwareKey(tenant string, id int64) key {
	return s.key(tenant, kindSoftware, strconv.FormatInt(id, 10))
}
func (s *Store) softwareListKey(tenant string) key { return s.key(tenant, kindSoftwareList, "") }
func (s *Store) rolloutsKey(tenant string) key     { return s.key(tenant, kindRollouts, "") }
func (s *Store) gatewayKey(tenant string) key      { return s.key(tenant, kindGateway, "") }
func (s *Store) pollKey(tenant string) key         { return s.key(tenant, kindPoll, "") }

// escapeTenant percent-encodes ':' and '%' (tenant names rarely contain
// either, so the common case returns the name as is).
func escapeTenant(t string) string {
	if !strings.ContainsAny(t, ":%") {
		return t
	}
	return strings.NewReplacer("%", "%25", ":", "%3A").Replace(t)
}

// fillScript sets KEYS[2] to ARGV[2] with a TTL of ARGV[3] ms if the
// version in KEYS[1] (missing = "0") still equals ARGV[1], the version the
// filler read before it read the next store. It returns 1 if it set.
var fillScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1]) or '0'
if v == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
`)

// invalidateScript takes KEYS as (version, value) pairs: it increments
// each version, refreshes its expiry to ARGV[1] ms and deletes the value.
var invalidateScript = redis.NewScript(`
for i = 1, #KEYS, 2 do
  redis.call('INCR', KEYS[i])
  redis.call('PEXPIRE', KEYS[i], ARGV[1])
  redis.call('DEL', KEYS[i+1])
end
return 0
`)

// flight is what one fill hands to the callers that shared it. Callers
// other than the filler's own decode b: cached values must not be shared,
// since callers may modify what they get.
type flight[T any] struct {
	v T
	b []byte // v encoded, nil if it could not be encoded
}

// read returns the entry under k from Redis, or on a miss from load, and
// fills Redis.
func read[T any](ctx context.Context, s *Store, c codec[T], k key, load func(context.Context) (T, error)) (T, error) {
	if s.opts.ReadThrough {
		return load(ctx)
	}
	val := k.val()
	if s.redisUp() {
		b, err := s.rdb.Get(ctx, val).Bytes()
		if err == nil || errors.Is(err, redis.Nil) {
			s.markUp()
		}
		switch {
		case err == nil:
			v, err := c.dec(b)
			if err == nil {
				s.hits.Add(1)
				return v, nil
			}
			// Undecodable (a format change without a new prefix): the
			// fill below replaces it.
			s.warn("undecodable cache entry", "key", val, "err", err)
		case errors.Is(err, redis.Nil):
		default:
			s.redisFailed(ctx, err)
		}
	}
	s.misses.Add(1)
	r, err, shared := s.flights.Do(val, func() (any, error) {
		return fill(ctx, s, c, k, val, load)
	})
	if err != nil {
		var zero T
		return zero, err
	}
	f := r.(flight[T])
	if !shared {
		return f.v, nil
	}
	if f.b == nil {
		return load(ctx)
	}
	return c.dec(f.b)
}

// fill loads an entry from the next store and sets it in Redis unless a
// write invalidated it meanwhile.
func fill[T any](ctx context.Context, s *Store, c codec[T], k key, val string, load func(context.Context) (T, error)) (flight[T], error) {
	ver, versioned := "", false
	if s.redisUp() {
		v, err := s.rdb.Get(ctx, k.ver()).Result()
		switch {
		case err == nil:
			ver, versioned = v, true
		case errors.Is(err, redis.Nil):
			ver, versioned = "0", true
		default:
			s.redisFailed(ctx, err)
		}
	}
	v, err := load(ctx)
	if err != nil {
		return flight[T]{}, err
	}
	b, err := c.enc(v)
	if err != nil {
		s.warn("cannot encode cache entry", "key", val, "err", err)
		return flight[T]{v: v}, nil
	}
	if !versioned {
		return flight[T]{v: v, b: b}, nil // Redis was down when we started: do not fill
	}
	// The caller may give up now that it has its value; the fill is one
	// short script and worth finishing for the next reader.
	fctx := context.WithoutCancel(ctx)
	n, err := fillScript.Run(fctx, s.rdb, []string{k.ver(), val}, ver, b, s.ttlMillis()).Int()
	switch {
	case err != nil:
		s.redisFailed(fctx, err)
	case n == 1:
		s.fills.Add(1)
	default:
		s.fillsDropped.Add(1)
	}
	return flight[T]{v: v, b: b}, nil
}

// invalidate deletes the entries of keys after a write and bumps their
// versions. It does not fail: the write has happened; a failure is logged,
// counted and bounded by the TTL.
func (s *Store) invalidate(ctx context.Context, keys ...key) {
	if len(keys) == 0 {
		return
	}
	// Invalidations are attempted even while reads skip Redis: a lost one
	// costs up to TTL of staleness, a try costs one round trip on a write.
	// Bulk writes (UpdateDevices on a whole fleet) go in chunks, so that no
	// single script blocks Redis for long.
	for chunk := range slices.Chunk(keys, invalidateChunk) {
		args := make([]string, 0, 2*len(chunk))
		for _, k := range chunk {
			args = append(args, k.ver(), k.val())
		}
		err := invalidateScript.Run(context.WithoutCancel(ctx), s.rdb, args, versionTTL.Milliseconds()).Err()
		if err != nil {
			s.invalErrors.Add(1)
			s.markDown()
			s.logger.Warn("cache invalidation failed; entries may be stale until their TTL",
				"keys", len(chunk), "first", args[1], "ttl", s.opts.TTL, "err", err)
		} else {
			s.markUp()
		}
	}
	// A flight started before the write would hand its (older) result to
	// callers arriving after the write; make them start a new one.
	for _, k := range keys {
		s.flights.Forget(k.val())
	}
}

// ttlMillis is the TTL of a fill, less up to 10 % so that entries filled
// together (a restart, a resync) do not all expire together.
func (s *Store) ttlMillis() int64 {
	ttl := s.opts.TTL.Milliseconds()
	return max(ttl-rand.Int64N(ttl/10+1), 1)
}

// redisUp reports whether reads should try Redis now.
func (s *Store) redisUp() bool { return time.Now().UnixNano() >= s.downUntil.Load() }

// redisFailed switches reads to degraded mode for RetryInterval. Errors
// caused by the caller's own context ending say nothing about Redis.
func (s *Store) redisFailed(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return
	}
	s.redisErrors.Add(1)
	s.markDown()
	s.warn("redis unavailable; reading through to the store", "retry_in", s.opts.RetryInterval, "err", err)
}

func (s *Store) markDown() {
	s.downUntil.Store(time.Now().Add(s.opts.RetryInterval).UnixNano())
	s.degraded.Store(true)
}

func (s *Store) markUp() {
	if s.degraded.Load() && s.degraded.CompareAndSwap(true, false) {
		s.logger.Info("redis available again; caching resumed")
	}
}

// warn logs at most once per logEvery.
func (s *Store) warn(msg string, args ...any) {
	now := time.Now().UnixNano()
	last := s.lastLog.Load()
	if now-last < int64(logEvery) || !s.lastLog.CompareAndSwap(last, now) {
		return
	}
	s.logger.Warn(msg, args...)
}

// mayHaveChanged reports whether a write that returned err may have
// changed data. Domain errors (not found, conflict, invalid, …) say it
// did not; anything else — including a lost connection after COMMIT —
// may hide a committed write, so its keys are invalidated too.
func mayHaveChanged(err error) bool {
	if err == nil {
		return true
	}
	switch schema.ErrorCode(err) {
	case schema.EINTERNAL, schema.EUNAVAILABLE:
		return true
	}
	return false
}
