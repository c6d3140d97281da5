package schema

import (
	"fmt"
	"hash/fnv"
	"time"
)

// MaxPollInterval is the longest sleep a device may be told: SWUpdate drops a
// poll answer whose hours are not 00–23.
const MaxPollInterval = 24*time.Hour - time.Second

// PollSettings are a tenant's rules for how long devices sleep between polls.
// Zero fields fall back to the next rule; see Interval.
type PollSettings struct {
	// Default replaces the server's --poll-interval for the tenant.
	Default Duration `json:"default,omitempty"`
	// Feeds and Tags override Default for devices of a feed or with a tag
	// (the shortest matching tag wins; tags win over the feed).
	Feeds map[string]Duration `json:"feeds,omitempty"`
	Tags  map[string]Duration `json:"tags,omitempty"`
	// Action caps the sleep of devices with an open action, so progress and
	// results arrive promptly.
	Action Duration `json:"action,omitempty"`
	// JitterPercent spreads a fleet's polls: each device's sleep is moved by
	// up to ±JitterPercent, by a fixed amount per device (so cached answers
	// stay valid and a device's rhythm is stable).
	JitterPercent int `json:"jitter_percent,omitempty"`
}

// Validate reports the first setting out of range.
func (p *PollSettings) Validate() error {
	check := func(what string, d Duration) error {
		if d < 0 || time.Duration(d) > MaxPollInterval || (d > 0 && time.Duration(d) < time.Second) {
			return Errorf(EINVALID, "%s poll interval %s is outside 1s..23:59:59", what, time.Duration(d))
		}
		return nil
	}
	if err := check("default", p.Default); err != nil {
		return err
	}
	if err := check("action", p.Action); err != nil {
		return err
	}
	for k, v := range p.Feeds {
		if err := check(fmt.Sprintf("feed %q", k), v); err != nil {
			return err
		}
	}
	for k, v := range p.Tags {
		if err := check(fmt.Sprintf("tag %q", k), v); err != nil {
			return err
		}
	}
	if p.JitterPercent < 0 || p.JitterPercent > 50 {
		return Errorf(EINVALID, "jitter_percent %d is outside 0..50", p.JitterPercent)
	}
	return nil
}

// Interval returns the sleep for d: its own override, else the shortest of
// its tags' intervals, else its feed's, else the tenant default, else def;
// capped by Action while the device has an open action; then jittered and
// clamped to 1s..MaxPollInterval. p may be nil.
func (p *PollSettings) Interval(d *Device, def time.Duration) time.Duration {
	iv := def
	if p != nil {
		if p.Default > 0 {
			iv = time.Duration(p.Default)
		}
		if v, ok := p.Feeds[d.Feed]; ok && v > 0 {
			iv = time.Duration(v)
		}
		var tag time.Duration
		for _, t := range d.Tags {
			if v, ok := p.Tags[t]; ok && v > 0 && (tag == 0 || time.Duration(v) < tag) {
				tag = time.Duration(v)
			}
		}
		if tag > 0 {
			iv = tag
		}
	}
	if d.PollInterval > 0 {
		iv = d.PollInterval
	}
	if p != nil {
		if d.ActionID != 0 && p.Action > 0 && time.Duration(p.Action) < iv {
			iv = time.Duration(p.Action)
		}
		if p.JitterPercent > 0 {
			// A per-device factor in [-J%, +J%], from the id's hash.
			h := fnv.New32a()
			h.Write([]byte(d.Tenant))
			h.Write([]byte{0})
			h.Write([]byte(d.ID))
			frac := float64(mix32(h.Sum32()))/float64(1<<32)*2 - 1
			iv = time.Duration(float64(iv) * (1 + frac*float64(p.JitterPercent)/100))
		}
	}
	return min(max(iv, time.Second), MaxPollInterval)
}

// Bucket places a device in a rollout's population: a stable, uniformly
// spread number in [0, 2^32): FNV-1a of the rollout id and device id, mixed.
// Waves select the devices whose bucket is below their threshold.
func Bucket(rolloutID int64, deviceID string) uint32 {
	h := fnv.New32a()
	var b [8]byte
	for i := range b {
		b[i] = byte(rolloutID >> (8 * i))
	}
	h.Write(b[:])
	h.Write([]byte(deviceID))
	return mix32(h.Sum32())
}

// mix32 is murmur3's finalizer. FNV-1a alone barely moves its high bits
// when only the last bytes differ, so serial-numbered ids (dev-0001,
// dev-0002…) would crowd into a few buckets and jitter values; the mix
// spreads every input bit over the whole word.
func mix32(h uint32) uint32 {
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}

// PercentThreshold is the bucket threshold that selects pct percent of a
// population (100 selects everyone).
func PercentThreshold(pct float64) uint32 {
	if pct >= 100 {
		return ^uint32(0)
	}
	if pct <= 0 {
		return 0
	}
	return uint32(pct / 100 * float64(1<<32))
}

// Covers reports whether a bucket falls under a wave threshold. The all-ones
// threshold (100 %) covers every bucket, including the largest.
func Covers(threshold, bucket uint32) bool {
	return bucket < threshold || threshold == ^uint32(0)
}
