package schema

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"slices"
	"strings"

	"github.com/gosling-ota/gosling/artifacts"
)

// Catalog is a tenant's snapshot of what can be offered: its software and its
// rollouts that may offer software. It is built once per change (not per
// poll) and shared read-only by every poll of the tenant, so starting a
// rollout for a million devices changes one catalog, not a million device
// entries.
type Catalog struct {
	software map[int64]*Software
	newest   []*Software // by version, newest first
	cmp      CompareFunc
	// rollouts that offer software (running or finished, with an open
	// wave), newest first.
	rollouts []*Rollout
}

// CompareFunc orders two version strings (-1, 0, 1).
type CompareFunc func(a, b string) int

// NewCatalog indexes software and rollouts. cmp orders versions
// (artifacts.CompareVersions); rollouts may be in any order and state.
func NewCatalog(software []*Software, rollouts []*Rollout, cmp CompareFunc) *Catalog {
	c := &Catalog{
		software: make(map[int64]*Software, len(software)),
		newest:   slices.Clone(software),
		cmp:      cmp,
	}
	for _, s := range software {
		c.software[s.ID] = s
	}
	slices.SortStableFunc(c.newest, func(a, b *Software) int {
		if n := cmp(b.Version, a.Version); n != 0 {
			return n
		}
		return b.CreatedAt.Compare(a.CreatedAt)
	})
	for _, r := range rollouts {
		if r.Offers() {
			c.rollouts = append(c.rollouts, r)
		}
	}
	slices.SortFunc(c.rollouts, func(a, b *Rollout) int {
		if n := b.CreatedAt.Compare(a.CreatedAt); n != 0 {
			return n
		}
		return cmpInt64(b.ID, a.ID)
	})
	return c
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Offers reports whether the rollout may offer software now: running or
// finished (late devices still get it), with at least one open wave.
func (r *Rollout) Offers() bool {
	return StatusOffers(r.Status) && r.CurrentWave >= 0 && r.CurrentWave < len(r.Waves)
}

// StatusOffers reports whether a rollout in this status may open actions:
// running, or finished (late devices still get the software).
func StatusOffers(status string) bool {
	return status == RolloutRunning || status == RolloutFinished
}

// Selects reports whether the rollout's feed and target select d
// (regardless of waves).
func (r *Rollout) Selects(d *Device) bool {
	feed, dfeed := r.Feed, d.Feed
	if feed == "" {
		feed = DefaultFeed
	}
	if dfeed == "" {
		dfeed = DefaultFeed
	}
	return feed == dfeed && r.Target.Matches(d)
}

// WaveOf returns the first open wave whose threshold covers d, or -1.
func (r *Rollout) WaveOf(deviceID string) int {
	b := Bucket(r.ID, deviceID)
	for k := 0; k <= r.CurrentWave && k < len(r.Waves); k++ {
		if Covers(r.Waves[k].Threshold, b) {
			return k
		}
	}
	return -1
}

// Software returns a software of the catalog, or nil.
func (c *Catalog) Software(id int64) *Software { return c.software[id] }

// Rollout returns the rollout that decides for d: the newest offering
// rollout whose feed and target select it, or nil.
func (c *Catalog) Rollout(d *Device) *Rollout {
	for _, r := range c.rollouts {
		if r.Selects(d) {
			return r
		}
	}
	return nil
}

// Offer is what a device should be offered now.
type Offer struct {
	Software *Software
	// Rollout is the rollout the offer comes from (nil in other modes) and
	// Wave the wave that covers the device.
	Rollout *Rollout
	Wave    int
}

// Compatible reports whether sw may be offered to d: its hardware rules
// accept the device's board (hw_model, else hw_boardname) and revision, by
// SWUpdate's own rule (artifacts.HardwareCompatible), so Gosling never offers
// an image the client would reject. Software without rules fits any device.
func Compatible(d *Device, sw *Software) bool {
	if len(sw.Hardware) == 0 {
		return true
	}
	hw := make([]artifacts.Hardware, len(sw.Hardware))
	for i, h := range sw.Hardware {
		hw[i] = artifacts.Hardware{Board: h.Board, Revisions: h.Revisions}
	}
	return artifacts.HardwareCompatible(hw, d.HWModel(), d.HWRevision())
}

// Desired returns what d should be offered now, or a zero Offer when
// nothing is due: pinned devices, no target, a rollout wave that does not
// cover the device yet, a target equal to the device's version (or older,
// outside ModeAssigned), software skipped after a failure or cancel, or
// hardware that does not fit.
func (c *Catalog) Desired(d *Device) Offer {
	var o Offer
	switch d.UpdateMode {
	case ModePinned:
		return Offer{}
	case ModeAssigned:
		o.Software = c.software[d.SoftwareID]
	case ModeLatest:
		for _, s := range c.newest {
			if Compatible(d, s) {
				o.Software = s
				break
			}
		}
	default: // ModeRollout: the newest selecting rollout decides, even if
		// its wave has not reached the device (it then waits).
		r := c.Rollout(d)
		if r == nil {
			return Offer{}
		}
		if o.Wave = r.WaveOf(d.ID); o.Wave < 0 {
			return Offer{}
		}
		o.Software, o.Rollout = c.software[r.SoftwareID], r
	}
	sw := o.Software
	if sw == nil || sw.ID == d.SkipSoftwareID || sw.Version == d.SWVersion || !Compatible(d, sw) {
		return Offer{}
	}
	// Only an operator's explicit assignment may downgrade: when a newer
	// rollout pauses, an older finished one of the same feed decides again
	// and must not pull devices back to its older version.
	if d.UpdateMode != ModeAssigned && d.SWVersion != "" && c.cmp(sw.Version, d.SWVersion) < 0 {
		return Offer{}
	}
	return o
}

// HardwareOverlaps reports whether two hardware rule sets accept a common
// (board, revision); two versions of the same number may not overlap, or a
// device could not tell which one it is offered. Rule sets without entries
// accept everything.
func HardwareOverlaps(a, b []Hardware) bool {
	if len(a) == 0 || len(b) == 0 {
		return true
	}
	for _, x := range a {
		for _, y := range b {
			if x.Board != "" && y.Board != "" && x.Board != y.Board {
				continue
			}
			for _, r := range x.Revisions {
				if slices.Contains(y.Revisions, r) || strings.HasPrefix(r, "#RE:") {
					return true
				}
			}
			for _, r := range y.Revisions {
				if strings.HasPrefix(r, "#RE:") {
					return true
				}
			}
		}
	}
	return false
}

// HashToken returns the stored form of a device or gateway token: hex SHA-256.
// Tokens are random secrets, not passwords, so a fast hash is enough.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// TokenMatches compares a presented token with a stored hash in constant time.
func TokenMatches(token, hash string) bool {
	if hash == "" {
		return false
	}
	sum := sha256.Sum256([]byte(token))
	var want [sha256.Size]byte
	if n, err := hex.Decode(want[:], []byte(hash)); err != nil || n != len(want) {
		return false
	}
	return subtle.ConstantTimeCompare(sum[:], want[:]) == 1
}
