package ddi

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gosling-ota/gosling/schema"
)

// resolve builds an entry: the open action with its software, or what the
// catalog wants on the device; the device's sleep; and, for rollouts with a
// maintenance window, whether the offer may be shown now and until when
// that answer holds. loaded is when dev was read from the store.
func (s *Server) resolve(ts *tenantState, dev *schema.Device, act *schema.Action, loaded time.Time) (*entry, error) {
	e := &entry{
		key:          deviceKey(dev.Tenant, dev.ID),
		prof:         profileOf(dev),
		loaded:       loaded.UnixNano(),
		lastActionID: dev.LastActionID,
		nattrs:       uint16(min(len(dev.Attributes), 1<<16-1)),
	}
	var hasToken bool
	if e.tokenSum, hasToken = decodeHash(dev.TokenHash); hasToken {
		e.flags |= flagToken
	}
	if dev.ConfigRequested {
		e.flags |= flagConfigReq
	}
	if dev.ActionID != 0 {
		e.ext = &entryExt{actionID: dev.ActionID}
	}
	snap, err := s.catalog(ts)
	if err != nil {
		return nil, err
	}
	ps, tenGen, err := s.pollSettings(ts)
	if err != nil {
		return nil, err
	}
	e.catGen, e.tenGen = uint32(snap.gen), uint32(tenGen)
	now := s.now()
	sleep := ps.Interval(dev, s.cfg.PollInterval)

	if act != nil && act.Status.Open() {
		sw := snap.cat.Software(act.SoftwareID)
		if sw == nil {
			// Software is immutable, but the catalog may predate it.
			ctx, cancel := s.storeCtx()
			defer cancel()
			if sw, err = s.store.Software(ctx, dev.Tenant, act.SoftwareID); err != nil {
				return nil, fmt.Errorf("load software %d of action %d: %w", act.SoftwareID, act.ID, err)
			}
		}
		if e.ext == nil {
			e.ext = &entryExt{actionID: dev.ActionID}
		}
		e.ext.action, e.ext.sw, e.ext.chash = act, sw, actionHash(act)
		if act.RolloutID == 0 {
			return e.withSleep(sleep), nil
		}
		e.flags |= flagCatDep
		r := snap.rollout(act.RolloutID)
		if r == nil || r.Window == nil {
			return e.withSleep(sleep), nil
		}
		e.ext.window = r.Window
		open, opensIn := r.Window.State(now)
		switch {
		case act.Status == schema.ActionCanceling:
			// A cancel is offered whatever the window says.
		case open:
			e.until = windowCloses(r.Window, now).UnixNano()
		case act.Status == schema.ActionPending:
			// Not started: withheld until the window opens (window.go).
			// The device waits like one without an action, not at the
			// short open-action interval, for what may be hours.
			idle := *dev
			idle.ActionID = 0
			sleep = schema.SleepBefore(ps.Interval(&idle, s.cfg.PollInterval), opensIn)
			e.flags |= flagWithheld
			e.until = now.Add(sleep).UnixNano()
		}
		return e.withSleep(sleep), nil
	}

	e.flags |= flagCatDep
	o := snap.cat.Desired(dev)
	if r := o.Rollout; o.Software != nil && r != nil && r.Window != nil {
		if open, opensIn := r.Window.State(now); open {
			e.until = windowCloses(r.Window, now).UnixNano()
		} else {
			// No action before the window opens (window.go). The entry
			// expires after the shortened sleep: a device that polled at
			// any moment until then and sleeps that long is back before
			// the window opens, because the sleep is at most a third of
			// the time left.
			sleep = schema.SleepBefore(sleep, opensIn)
			e.until = now.Add(sleep).UnixNano()
			o = schema.Offer{}
		}
	}
	if o.Software != nil {
		// Only a due entry pays for ext (a steady-state one has none).
		if e.ext == nil {
			e.ext = &entryExt{actionID: dev.ActionID}
		}
		e.ext.offer = o
	}
	return e.withSleep(sleep), nil
}

// withSleep pre-renders the entry's sleep and returns e.
func (e *entry) withSleep(d time.Duration) *entry {
	appendSleep(e.sleep[:0], d)
	return e
}

// actionHash is the c= value: a signed 32-bit FNV-1a of action id and
// status, rendered like hawkBit's Java hashCode.
func actionHash(a *schema.Action) string {
	h := uint32(2166136261)
	for _, b := range fmt.Appendf(nil, "%d/%s/%d", a.ID, a.Status, a.SoftwareID) {
		h ^= uint32(b)
		h *= 16777619
	}
	return fmt.Sprint(int32(h))
}

// createAction opens an action for e.ext.offer and returns the reloaded entry.
// A concurrent create (another frontline, or the control plane) shows up as
// ECONFLICT; then the device already has an open action and a reload
// returns it. When the rollout already has MaxConcurrent open actions the
// store says EUNAVAILABLE: then e is returned as it is (the poll offers
// nothing this time, with the device's normal sleep) and the rollout backs
// off for fullBackoff.
func (s *Server) createAction(ts *tenantState, e *entry) (*entry, error) {
	o := e.ext.offer
	var rolloutID int64
	if o.Rollout != nil {
		rolloutID = o.Rollout.ID
		if ts.rolloutFull(rolloutID, s.now()) {
			return e, nil
		}
	}
	_, err, _ := s.loads.Do("create\x00"+e.key, func() (any, error) {
		ctx, cancel := s.storeCtx()
		defer cancel()
		a := &schema.Action{
			Tenant:     ts.name,
			DeviceID:   e.id(),
			SoftwareID: o.Software.ID,
			Status:     schema.ActionPending,
			Download:   schema.HandlingForced,
			Update:     schema.HandlingForced,
		}
		if r := o.Rollout; r != nil {
			a.RolloutID, a.Wave = r.ID, o.Wave
			a.Download, a.Update = handling(r.Download), handling(r.Update)
		}
		err := s.store.CreateAction(ctx, a)
		switch schema.ErrorCode(err) {
		case "":
			s.metrics.created.Inc()
			s.logger.Info("action created", "tenant", a.Tenant, "device", a.DeviceID, "action", a.ID,
				"software", a.SoftwareID, "rollout", a.RolloutID, "wave", a.Wave)
		case schema.ECONFLICT:
		case schema.EUNAVAILABLE:
			// MaxConcurrent reached (or the store is saturated): not an
			// error for the device, which simply gets no offer this time.
			if rolloutID != 0 {
				ts.markFull(rolloutID, s.now())
			}
			s.logger.Debug("action not created: unavailable", "tenant", a.Tenant, "device", a.DeviceID,
				"rollout", rolloutID, "err", err)
			return nil, errNoSlot
		default:
			return nil, fmt.Errorf("create action: %w", err)
		}
		s.publishDevice(ts.name, e.id())
		return nil, nil
	})
	if err == errNoSlot {
		return e, nil
	}
	if err != nil {
		return nil, err
	}
	return s.load(ts, e.id(), e.key)
}

// errNoSlot tells every caller sharing one singleflight call that the
// store refused the action with EUNAVAILABLE.
var errNoSlot = errors.New("no action slot")

// withTimeout is a helper for the rare store calls made outside load.
func (s *Server) withTimeout(fn func(ctx context.Context) error) error {
	ctx, cancel := s.storeCtx()
	defer cancel()
	return fn(ctx)
}
