package ddi

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unique"
	"unsafe"

	"github.com/gosling-ota/gosling/cache"
	"github.com/gosling-ota/gosling/schema"
)

// entry is one device's cached state: what its next poll answer needs,
// and a compact view of the device record from which that answer is
// re-resolved when the catalog, the poll settings or the clock move on.
// Entries are immutable once cached (every reader gets the same
// pointer); a change builds a new entry.
//
// Size matters more than anything else here: a frontline caches the
// whole fleet, and issue 5 allows ≤ 300 bytes of RSS per device. A
// steady-state entry (no open action, nothing due) is one 112-byte
// allocation plus its key string; everything a device shares with
// thousands of others (feed, board, revision, version, status, tags,
// update mode) is one interned profile (unique.Handle: 8 bytes, the
// canonical value shared and garbage-collected when unused), and what
// only devices with an open action or a due offer need lives behind ext.
// Field order keeps the struct at 112 bytes (a Go size class); see
// TestEntrySize.
type entry struct {
	key  string // deviceKey(tenant, id): the cache and last-seen key
	prof unique.Handle[profile]
	ext  *entryExt // nil: no open action and nothing due

	// tokenSum is the decoded TokenHash, so that the hit path compares a
	// presented token without the hex decoding (and its allocation) that
	// schema.TokenMatches does.
	tokenSum [sha256.Size]byte

	// catGen and tenGen are the tenant's catalog and tenant generations
	// the entry was resolved at (truncated to 32 bits: a stale entry would
	// need exactly 2^32 invalidations between two of its polls to pass).
	// Entries derived from the catalog (flagCatDep) are stale once the
	// catalog generation moves; every entry once the tenant generation
	// moves (the poll settings behind sleep).
	catGen, tenGen uint32

	// until, when not 0, is the next maintenance window edge (or the end
	// of a shortened sleep) in Unix nanoseconds on Config.Now's clock: the
	// answer is re-resolved from then on, so a pre-rendered answer never
	// outlives a window edge.
	until int64
	// loaded is when the device record was read from the store (wall
	// clock, Unix nanoseconds). Re-resolving an entry keeps it, so
	// CacheTTL bounds how old a cached record may get when an
	// invalidation was lost (Server.lookup).
	loaded int64
	// lastActionID is the device's most recent closed action
	// (installedBase), or 0.
	lastActionID int64

	// sleep is the device's pre-rendered "HH:MM:SS": its poll interval
	// (schema.PollSettings.Interval, jittered per device and therefore
	// stable) or the shortened sleep before a maintenance window.
	sleep [len("HH:MM:SS")]byte

	flags entryFlags
	// nattrs is how many configData attributes the device has (capped),
	// for configData's merge limit without a store read.
	nattrs uint16

	// seen is when this entry last queued the device's last-seen record
	// (Unix seconds on Config.Now's clock, 0: never), so that a device
	// polling faster than Config.SeenResolution is recorded once per
	// resolution rather than at every poll. It fills the struct's padding.
	seen atomic.Uint32
}

// recordSeen reports whether a poll at now (Unix seconds) should be
// queued for the last-seen flush, and if so claims it: the first poll
// through this entry, and the first after res has passed since the last
// one queued. Of concurrent polls of one device only one is claimed.
func (e *entry) recordSeen(now int64, res uint32) bool {
	last, cur := e.seen.Load(), uint32(now)
	if last != 0 && cur-last < res {
		return false
	}
	return e.seen.CompareAndSwap(last, cur)
}

type entryFlags uint8

const (
	flagToken     entryFlags = 1 << iota // tokenSum is set
	flagCatDep                           // derived from the catalog (see catGen)
	flagConfigReq                        // configData is asked for
	flagWithheld                         // ext.action is not offered (window closed, not started)
)

// entryExt is what only some entries carry: the device's open action with
// its software, or the offer the next poll turns into an action.
type entryExt struct {
	// actionID is the device record's ActionID (its open action, if any).
	actionID int64
	// action is the device's open action and sw its software, or nil.
	action *schema.Action
	sw     *schema.Software
	// chash is the c= query value of the deploymentBase href: it changes
	// whenever the action or its status does, so gateways caching by URL
	// notice.
	chash string
	// window is the maintenance window of the open action's rollout, or
	// nil.
	window *schema.MaintenanceWindow
	// offer is what the catalog wants on the device while it has no open
	// action (offer.Software nil: nothing due); the next authenticated
	// poll creates the action. An offer whose maintenance window is closed
	// is not kept (see window.go).
	offer schema.Offer
}

// profile is the part of a device record that desired-state resolution
// and poll settings read and that devices share: a fleet of a million
// devices has a few dozen distinct profiles. It is interned with
// unique.Make, so each entry holds an 8-byte handle.
//
// Name and the attributes other than the hardware ones are left out:
// they only matter to rollout targets with Query or Attributes filters.
// When a live rollout has one (catalogSnap.needDevice), re-resolution
// reads the device from the store instead of rebuilding it from the
// profile — one store read per device per catalog change, the price of
// not keeping every device's attributes in memory.
type profile struct {
	mode               schema.UpdateMode
	feed, status       string
	board, revision    string // Device.HWModel(), Device.HWRevision()
	swVersion          string
	tags               string // length-prefixed, see packTags
	softwareID, skipID int64
	installedID        int64
	pollInterval       time.Duration
	provisioned        bool
}

func profileOf(d *schema.Device) unique.Handle[profile] {
	return unique.Make(profile{
		mode: d.UpdateMode, feed: d.Feed, status: d.Status,
		board: d.HWModel(), revision: d.HWRevision(), swVersion: d.SWVersion,
		tags:       packTags(d.Tags),
		softwareID: d.SoftwareID, skipID: d.SkipSoftwareID, installedID: d.InstalledSoftwareID,
		pollInterval: d.PollInterval,
		provisioned:  d.Provisioned,
	})
}

// packTags joins tags as uvarint(len) + bytes each, which any tag
// content survives.
func packTags(tags []string) string {
	if len(tags) == 0 {
		return ""
	}
	var b []byte
	for _, t := range tags {
		b = binary.AppendUvarint(b, uint64(len(t)))
		b = append(b, t...)
	}
	return string(b)
}

func unpackTags(s string) []string {
	var tags []string
	for len(s) > 0 {
		n, k := binary.Uvarint([]byte(s[:min(len(s), binary.MaxVarintLen64)]))
		if k <= 0 || uint64(len(s)-k) < n {
			break // cannot happen: packTags wrote it
		}
		tags = append(tags, s[k:k+int(n)])
		s = s[k+int(n):]
	}
	return tags
}

// device rebuilds the device record from the entry, as far as
// resolution needs it (see profile).
func (e *entry) device(tenant string) *schema.Device {
	p := e.prof.Value()
	d := &schema.Device{
		Tenant: tenant, ID: e.id(), Tags: unpackTags(p.tags),
		UpdateMode: p.mode, SoftwareID: p.softwareID, Feed: p.feed,
		SWVersion: p.swVersion, InstalledSoftwareID: p.installedID, SkipSoftwareID: p.skipID,
		LastActionID: e.lastActionID, PollInterval: p.pollInterval, Status: p.status,
		ConfigRequested: e.flags&flagConfigReq != 0, Provisioned: p.provisioned,
	}
	if e.flags&flagToken != 0 {
		d.TokenHash = hex.EncodeToString(e.tokenSum[:])
	}
	if e.ext != nil {
		d.ActionID = e.ext.actionID
	}
	if p.board != "" || p.revision != "" {
		d.Attributes = make(map[string]string, 2)
		if p.board != "" {
			d.Attributes[schema.AttrHWModel] = p.board
		}
		if p.revision != "" {
			d.Attributes[schema.AttrHWRevision] = p.revision
		}
	}
	return d
}

// id is the device id (the key after the tenant and its NUL).
func (e *entry) id() string { return e.key[strings.IndexByte(e.key, 0)+1:] }

// action is the open action, or nil.
func (e *entry) action() *schema.Action {
	if e.ext == nil {
		return nil
	}
	return e.ext.action
}

// due reports whether the next poll should create an action.
func (e *entry) due() bool { return e.ext != nil && e.ext.offer.Software != nil }

// appendPath appends "/{tenant}/controller/v1/{id}", path-escaped like
// url.PathEscape (which also makes it safe inside a JSON string: '"' and
// '\' are escaped). It is rendered per answer rather than stored: 32
// bytes per device saved for a few ns of copying.
func (e *entry) appendPath(dst []byte) []byte {
	i := strings.IndexByte(e.key, 0)
	dst = append(dst, '/')
	dst = appendPathEscape(dst, e.key[:i])
	dst = append(dst, "/controller/v1/"...)
	return appendPathEscape(dst, e.key[i+1:])
}

// path is appendPath as a string, for the handlers off the hot path.
func (e *entry) path() string { return string(e.appendPath(nil)) }

// appendPathEscape is url.PathEscape in append style: no allocation,
// and no copy beyond the append for the usual ids that need no escaping.
func appendPathEscape(dst []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if pathSafe(c) {
			dst = append(dst, c)
		} else {
			dst = append(dst, '%', hex[c>>4], hex[c&15])
		}
	}
	return dst
}

// pathSafe mirrors net/url's shouldEscape(c, encodePathSegment) == false.
func pathSafe(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '-', '_', '.', '~', '$', '&', '+', ':', '=', '@':
		return true
	}
	return false
}

// Sizes behind cost, computed once.
const (
	entrySize = int64(unsafe.Sizeof(entry{}))
	extSize   = int64(unsafe.Sizeof(entryExt{}))
	// slotCost is a map slot (uint64 key, pointer value: 16 bytes) at a
	// swiss table's typical load (~7/8 full right after growth doubles it
	// to 7/16), with its control byte: ~32 bytes.
	slotCost = 32
	// actionCost approximates a schema.Action with its strings.
	actionCost = 256
)

// cost is the entry's memory in bytes, for the cache's budget: the
// allocation rounded to Go's size class, the key string, the map slot,
// and ext with the action it holds. Interned profiles, catalog software
// and rollouts are shared and not counted.
func (e *entry) cost() int64 {
	n := roundClass(entrySize) + roundClass(int64(len(e.key))) + slotCost
	if e.ext != nil {
		n += roundClass(extSize) + int64(len(e.ext.chash))
		if e.ext.action != nil {
			n += actionCost
		}
	}
	return n
}

// roundClass rounds n up to a multiple of 16 (Go's size classes are
// that fine up to 256 bytes, which covers every allocation counted).
func roundClass(n int64) int64 { return (n + 15) &^ 15 }

// keySeed seeds keyHash.
var keySeed = maphash.MakeSeed()

// keyHash is the 64-bit hash the device cache, the invalidator and the
// last-seen tracker key on. maphash.String does not allocate; the poll
// computes it once and hands it to all three.
func keyHash(k string) uint64 { return maphash.String(keySeed, k) }

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

func (iv *invalidator) shard(h uint64) int { return int(h % uint64(len(iv.shards))) }

// begin returns the sequence to pass to fill after reading the store.
func (iv *invalidator) begin(h uint64) uint64 {
	sh := &iv.shards[iv.shard(h)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.seq
}

// fill caches e unless its shard saw an invalidation since begin, or the
// device record it was built from is already CacheTTL old.
func (s *Server) fill(e *entry, h, seq uint64) {
	sh := &s.inval.shards[s.inval.shard(h)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	// The TTL counts from when the device record was read, not from this
	// re-resolve, so staleness after a lost invalidation stays bounded.
	if sh.seq == seq && time.Now().UnixNano()-e.loaded < int64(s.cfg.CacheTTL) {
		s.devices.set(h, e)
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
		h := keyHash(key)
		sh := &s.inval.shards[s.inval.shard(h)]
		sh.mu.Lock()
		sh.seq++
		s.devices.del(h, key)
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
	s.devices.clear()
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

// lookup returns the device's cached entry if it is still usable: key
// hashes to h, now is Config.Now's reading and wall the wall clock in Unix
// nanoseconds (the same reading when the clock is real).
func (s *Server) lookup(ts *tenantState, h uint64, key string, now time.Time, wall int64) *entry {
	e := s.devices.get(h, key)
	if e == nil || !s.usable(ts, e, now, wall) {
		return nil
	}
	return e
}

// usable reports whether a cached entry may answer at now.
func (s *Server) usable(ts *tenantState, e *entry, now time.Time, wall int64) bool {
	if e.tenGen != uint32(ts.tenGen.Load()) || (e.flags&flagCatDep != 0 && e.catGen != uint32(ts.gen.Load())) {
		return false // derived from older poll settings or an older catalog
	}
	if e.until != 0 && now.UnixNano() >= e.until {
		return false // a maintenance window edge has passed
	}
	// The record is too old to trust without a fresh read (a lost
	// invalidation); this replaces a per-item TTL in the cache.
	return wall-e.loaded < int64(s.cfg.CacheTTL)
}

// wallNow is the wall clock for lookup, given Config.Now's reading.
func (s *Server) wallNow(now time.Time) int64 {
	if s.realClock {
		return now.UnixNano()
	}
	return time.Now().UnixNano()
}

// device returns the device's entry from the cache or, on a miss, from the
// store (one load per device however many requests miss at once). It
// returns ENOTFOUND for unknown devices.
func (s *Server) device(ts *tenantState, id string) (*entry, error) {
	key := deviceKey(ts.name, id)
	h := keyHash(key)
	now := s.now()
	if e := s.lookup(ts, h, key, now, s.wallNow(now)); e != nil {
		return e, nil
	}
	return s.load(ts, id, key)
}

// load reads a device from the store and resolves its offer.
func (s *Server) load(ts *tenantState, id, key string) (*entry, error) {
	v, err, _ := s.loads.Do(key, func() (any, error) {
		h := keyHash(key)
		seq := s.inval.begin(h)
		// A stale entry only needs re-resolving against the new catalog,
		// poll settings or clock: its device record and open action are
		// still current, because changes to them delete the entry. Only
		// once the record is CacheTTL old is it read again — or when the
		// catalog has a rollout target that needs fields the entry does
		// not keep (see profile).
		if old := s.devices.peek(h, key); old != nil && time.Now().UnixNano()-old.loaded < int64(s.cfg.CacheTTL) {
			snap, err := s.catalog(ts)
			if err != nil {
				return nil, err
			}
			if !snap.needDevice {
				e, err := s.resolve(ts, old.device(ts.name), old.action(), time.Unix(0, old.loaded))
				if err != nil {
					return nil, err
				}
				s.fill(e, h, seq)
				return e, nil
			}
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
		s.fill(e, h, seq)
		return e, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*entry), nil
}
