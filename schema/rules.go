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
// running rollouts. It is built once per change (not per poll) and shared
// read-only by every poll of the tenant, so starting a rollout for a million
// devices changes one catalog, not a million device entries.
type Catalog struct {
	software map[int64]*Software
	newest   []*Software         // by version, newest first
	rollouts map[string]*Rollout // feed → newest running rollout
}

// CompareFunc orders two version strings (-1, 0, 1).
type CompareFunc func(a, b string) int

// NewCatalog indexes software and rollouts. cmp orders versions
// (artifacts.CompareVersions); rollouts may be in any order and include
// paused ones.
func NewCatalog(software []*Software, rollouts []*Rollout, cmp CompareFunc) *Catalog {
	c := &Catalog{
		software: make(map[int64]*Software, len(software)),
		newest:   slices.Clone(software),
		rollouts: make(map[string]*Rollout),
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
		if r.Status != RolloutRunning {
			continue
		}
		if cur, ok := c.rollouts[r.Feed]; !ok || newerRollout(r, cur) {
			c.rollouts[r.Feed] = r
		}
	}
	return c
}

func newerRollout(a, b *Rollout) bool {
	if !a.CreatedAt.Equal(b.CreatedAt) {
		return a.CreatedAt.After(b.CreatedAt)
	}
	return a.ID > b.ID
}

// Software returns a software of the catalog, or nil.
func (c *Catalog) Software(id int64) *Software { return c.software[id] }

// Rollout returns the rollout that wins for a feed, or nil.
func (c *Catalog) Rollout(feed string) *Rollout { return c.rollouts[feed] }

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

// Desired returns the software d should be offered now and the rollout it
// comes from (0 for none), or nil when nothing is due: pinned devices, no
// target, a target equal to the device's version, software skipped after a
// failure or cancel, or hardware that does not fit.
func (c *Catalog) Desired(d *Device) (*Software, int64) {
	var (
		sw        *Software
		rolloutID int64
	)
	switch d.UpdateMode {
	case ModePinned:
		return nil, 0
	case ModeAssigned:
		sw = c.software[d.SoftwareID]
	case ModeLatest:
		for _, s := range c.newest {
			if Compatible(d, s) {
				sw = s
				break
			}
		}
	default: // ModeRollout
		feed := d.Feed
		if feed == "" {
			feed = DefaultFeed
		}
		if r := c.rollouts[feed]; r != nil {
			sw, rolloutID = c.software[r.SoftwareID], r.ID
		}
	}
	if sw == nil || sw.ID == d.SkipSoftwareID || sw.Version == d.SWVersion || !Compatible(d, sw) {
		return nil, 0
	}
	return sw, rolloutID
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
