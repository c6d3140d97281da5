package control

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gosling-ota/gosling/cache"
	"github.com/gosling-ota/gosling/schema"
)

// The rollout engine moves running rollouts through their waves. Once per
// tick (Config.TickInterval) it reads each tenant's rollouts and, for each
// running one:
//
//   - waits until StartAt;
//   - opens wave 0 (sets its Threshold and OpenedAt, event "wave_opened");
//   - applies the current wave's error rule: once MinFinished of the wave's
//     devices have finished, ErrorCount failures or ErrorPercent of the
//     finished devices pause the rollout (or abort it, OnError "abort"),
//     with Reason and an "error_threshold" event;
//   - applies the success rule: when SuccessPercent (0 means 100) of the
//     wave's targeted devices succeeded, the next wave opens, or the rollout
//     waits for an operator's approval (the wave's Approval, event
//     "awaiting_approval"), or, after the last wave, it is finished.
//
// One transition per rollout per tick. Every write goes through
// UpdateRollout's optimistic concurrency (changeRollout): when an operator
// pauses, aborts or approves between the engine's read and its write, the
// engine's write fails with ECONFLICT, it re-reads and decides again, so the
// operator's change is never overwritten.
//
// Wave membership is Bucket(rollout, device) < Threshold (see
// schema.Rollout). A percent wave's threshold is fixed; a count wave's is
// the bucket of its Count-th targeted device + 1, computed from the device
// population when the wave opens. The population (the sorted buckets of the
// devices the rollout targets: its Target, its feed and update mode
// rollout) is enumerated with EachDeviceID, one query that is O(devices)
// in rows per running rollout; it is therefore cached for Config.PopulationTTL (30 s) and
// dropped early when devices change through this API. Only the control plane
// pays it, once per TTL per live rollout; the poll path never does (a
// frontline computes one device's bucket).
//
// A deployment runs one engine: `gosling control` is a single process (run
// it under a supervisor, not as N replicas), and `gosling serve` embeds it.
// Two engines would not corrupt a rollout (optimistic concurrency makes
// their writes exclusive) but could each record the same event.

// populationPage is the page size of bulk device changes (bulk.go), which
// page so that each page's invalidations go out as it is changed.
const populationPage = 1000

// maxRolloutRetries bounds the re-reads after ECONFLICT. A conflict means
// someone else wrote; three in a row means a hot loop, not bad luck.
const maxRolloutRetries = 3

// allBuckets is the threshold that covers every device (100 %).
const allBuckets = ^uint32(0)

// engine is the rollout engine's state between ticks.
type engine struct {
	mu   sync.Mutex
	pops map[popKey]*population

	metrics *rolloutMetrics
}

type popKey struct {
	tenant string
	id     int64
}

// population is a rollout's targeted devices as sorted buckets, so that
// "devices covered by a threshold" is a binary search. 4 bytes per device.
type population struct {
	at      time.Time // real time, not Config.Now: this is a cache age
	buckets []uint32
	// synced are the buckets (sorted, a sub-multiset of buckets) of the
	// targeted devices that already run the rollout's software version
	// and have no action of the rollout: "already in sync". The offer
	// skips them (schema.Catalog.Desired), so without them a wave with
	// such devices could never reach a 100% success threshold; the
	// statistics count them as succeeded. See inSync.
	synced []uint32
}

func newEngine(reg prometheus.Registerer) (*engine, error) {
	m, err := newRolloutMetrics(reg)
	if err != nil {
		return nil, err
	}
	return &engine{pops: make(map[popKey]*population), metrics: m}, nil
}

// dropPopulations forgets the cached populations of a tenant's rollouts,
// after a device write that may change who they target.
func (e *engine) dropPopulations(tenant string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for k := range e.pops {
		if k.tenant == tenant {
			delete(e.pops, k)
		}
	}
}

// keepPopulations forgets the populations of a tenant's rollouts not in live.
func (e *engine) keepPopulations(tenant string, live map[int64]bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for k := range e.pops {
		if k.tenant == tenant && !live[k.id] {
			delete(e.pops, k)
		}
	}
}

// Run runs the rollout engine until ctx ends: a Tick every
// Config.TickInterval. Tick errors are logged (the next tick retries). It
// returns nil when ctx ends.
func (s *Server) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.TickInterval)
	defer t.Stop()
	for {
		if err := s.Tick(ctx); err != nil && ctx.Err() == nil {
			s.logger.ErrorContext(ctx, "rollout engine tick failed", slog.Any("err", err))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Tick evaluates every tenant's rollouts once (see the engine's rules
// above) and refreshes the rollout metrics. Run calls it; tests call it
// directly instead of waiting.
func (s *Server) Tick(ctx context.Context) error {
	var errs []error
	for _, tenant := range s.cfg.Tenants {
		if err := s.tickTenant(ctx, tenant); err != nil {
			errs = append(errs, fmt.Errorf("tenant %s: %w", tenant, err))
		}
	}
	s.engine.metrics.ticks.Inc()
	if len(errs) > 0 {
		s.engine.metrics.errors.Inc()
	}
	return errors.Join(errs...)
}

// metricsWindow is how long a final rollout stays in the metrics, so a
// dashboard shows how it ended, while the label set stays bounded.
const metricsWindow = time.Hour

func (s *Server) tickTenant(ctx context.Context, tenant string) error {
	rollouts, err := s.store.Rollouts(ctx, tenant)
	if err != nil {
		return err
	}
	now := s.cfg.Now()
	var errs []error
	live := make(map[int64]bool)
	snap := make(map[int64]schema.RolloutStats)
	for _, ro := range rollouts {
		var st *Statistics
		if ro.Status == schema.RolloutRunning {
			ro, st, err = s.step(ctx, ro)
			if err != nil {
				errs = append(errs, fmt.Errorf("rollout %d: %w", ro.ID, err))
				continue
			}
		}
		final := ro.Status == schema.RolloutFinished || ro.Status == schema.RolloutAborted
		if final && now.Sub(ro.UpdatedAt) > metricsWindow {
			continue
		}
		live[ro.ID] = true
		if st == nil {
			if st, err = s.statistics(ctx, ro, false); err != nil {
				errs = append(errs, fmt.Errorf("rollout %d statistics: %w", ro.ID, err))
				continue
			}
		}
		snap[ro.ID] = st.RolloutStats
	}
	s.engine.metrics.set(tenant, snap)
	s.engine.keepPopulations(tenant, live)
	return errors.Join(errs...)
}

// step applies at most one transition to a running rollout and returns the
// rollout as stored afterwards with its statistics (nil when the
// statistics are stale after the transition, or the rollout was not
// running on re-read).
func (s *Server) step(ctx context.Context, ro *schema.Rollout) (*schema.Rollout, *Statistics, error) {
	next, st, changed, err := s.advance(ctx, ro)
	if changed {
		s.publishCtx(ctx, cache.KindCatalog, next.Tenant, "")
	}
	return next, st, err
}

// advance is step without the invalidation: it applies at most one
// transition, records its events and reports whether it changed the
// rollout, so that a request that also changed it publishes once.
func (s *Server) advance(ctx context.Context, ro *schema.Rollout) (*schema.Rollout, *Statistics, bool, error) {
	var (
		events []*schema.RolloutEvent
		st     *Statistics
	)
	now := s.cfg.Now()
	next, changed, err := s.changeRollout(ctx, ro.Tenant, ro.ID, func(ro *schema.Rollout) (bool, error) {
		events, st = nil, nil
		if ro.Status != schema.RolloutRunning {
			return false, nil
		}
		if !ro.StartAt.IsZero() && now.Before(ro.StartAt) {
			return false, nil
		}
		if ro.CurrentWave < 0 || ro.CurrentWave >= len(ro.Waves) {
			ev, err := s.openWave(ctx, ro, 0, now)
			if err != nil {
				return false, err
			}
			events = append(events, ev)
			return true, nil
		}
		var err error
		if st, err = s.statistics(ctx, ro, false); err != nil {
			return false, err
		}
		var open int
		events, open = decide(ro, st)
		if open >= 0 {
			ev, err := s.openWave(ctx, ro, open, now)
			if err != nil {
				return false, err
			}
			events = append(events, ev)
		}
		return len(events) > 0, nil
	})
	if err != nil {
		return ro, nil, false, err
	}
	if !changed {
		return next, st, false, nil
	}
	s.recordEvents(ctx, next, events...)
	return next, nil, true, nil
}

// stepNow takes the engine's step (advance) for a rollout that an
// operator's request just made running: created, started, resumed or
// approved. Wave 0 or the next wave then opens in the request instead of
// at the next tick, and devices are offered the software at their next
// poll. It returns the rollout as stored afterwards; the caller publishes
// the catalog. A failure is logged, not returned: the operator's change is
// stored, and the next tick takes the step.
func (s *Server) stepNow(ctx context.Context, ro *schema.Rollout) *schema.Rollout {
	if ro == nil || ro.Status != schema.RolloutRunning {
		return ro
	}
	next, _, _, err := s.advance(ctx, ro)
	if err != nil {
		s.logger.ErrorContext(ctx, "rollout engine step failed; the next tick retries",
			slog.String("tenant", ro.Tenant), slog.Int64("rollout", ro.ID), slog.Any("err", err))
		return ro
	}
	return next
}

// decide applies the current wave's error and success rules to ro (with
// its statistics st), changing ro in place, and returns the events of the
// transition it made (none: nothing to do) and the wave to open next, or
// -1. Opening a wave needs the population, so the caller does it
// (openWave).
func decide(ro *schema.Rollout, st *Statistics) (events []*schema.RolloutEvent, open int) {
	cur := ro.CurrentWave
	w := ro.Waves[cur]
	ws := st.Waves[cur]

	failed := ws.Failed - w.AcceptedFailures
	finished := ws.Finished() - w.AcceptedFailures
	if finished > 0 && finished >= w.MinFinished &&
		((w.ErrorCount > 0 && failed >= w.ErrorCount) ||
			(w.ErrorPercent > 0 && float64(failed)*100 >= w.ErrorPercent*float64(finished))) {
		action := "paused"
		ro.Status = schema.RolloutPaused
		if w.OnError == schema.OnErrorAbort {
			action, ro.Status = "aborted", schema.RolloutAborted
		}
		ro.AwaitingApproval = false
		ro.Reason = fmt.Sprintf("wave %d: %d of %d finished devices failed (error_count %d, error_percent %g, min_finished %d)",
			cur, failed, finished, w.ErrorCount, w.ErrorPercent, w.MinFinished)
		return []*schema.RolloutEvent{{Type: "error_threshold", Wave: cur, Message: action + ": " + ro.Reason}}, -1
	}
	if ro.AwaitingApproval {
		return nil, -1
	}
	need := w.SuccessPercent
	if need <= 0 {
		need = 100
	}
	// An empty wave (a small percentage of a small fleet) has nothing to
	// wait for.
	if ws.Targeted > 0 && float64(ws.Succeeded)*100 < need*float64(ws.Targeted) {
		return nil, -1
	}
	msg := fmt.Sprintf("wave %d: %d of %d devices succeeded (success_percent %g)", cur, ws.Succeeded, ws.Targeted, need)
	switch {
	case cur+1 >= len(ro.Waves):
		ro.Status = schema.RolloutFinished
		ro.Reason = ""
		return []*schema.RolloutEvent{{Type: "finished", Wave: cur, Message: msg + "; last wave done"}}, -1
	case w.Approval:
		ro.AwaitingApproval = true
		return []*schema.RolloutEvent{{Type: "awaiting_approval", Wave: cur, Message: msg + fmt.Sprintf("; wave %d waits for approval", cur+1)}}, -1
	}
	return []*schema.RolloutEvent{{Type: "success_threshold", Wave: cur, Message: msg}}, cur + 1
}

// openWave opens wave k of ro in memory: its threshold from a freshly
// enumerated population, OpenedAt and CurrentWave. It returns the
// "wave_opened" event; the caller writes ro.
func (s *Server) openWave(ctx context.Context, ro *schema.Rollout, k int, now time.Time) (*schema.RolloutEvent, error) {
	pop, err := s.population(ctx, ro, true)
	if err != nil {
		return nil, err
	}
	ro.Waves = slices.Clone(ro.Waves)
	ro.Waves[k].Threshold = waveThreshold(ro, k, pop.buckets)
	ro.Waves[k].OpenedAt = now
	ro.CurrentWave = k
	ro.AwaitingApproval = false
	n := covered(pop.buckets, ro.Waves[k].Threshold)
	return &schema.RolloutEvent{Type: "wave_opened", Wave: k,
		Message: fmt.Sprintf("wave %d opened: %d of %d targeted devices covered", k, n, len(pop.buckets))}, nil
}

// waveThreshold is the threshold wave k gets when it opens: Percent maps
// directly, Count selects that many devices of pop. It is never below an
// earlier wave's, so waves stay cumulative.
func waveThreshold(ro *schema.Rollout, k int, pop []uint32) uint32 {
	w := ro.Waves[k]
	var t uint32
	if w.Count > 0 {
		switch {
		case w.Count >= len(pop):
			t = allBuckets
		case pop[w.Count-1] == allBuckets:
			t = allBuckets
		default:
			t = pop[w.Count-1] + 1
		}
	} else {
		t = schema.PercentThreshold(w.Percent)
	}
	for j := range k {
		t = max(t, ro.Waves[j].Threshold)
	}
	return t
}

// covered counts the buckets of a sorted population under threshold t.
func covered(pop []uint32, t uint32) int {
	if t == allBuckets {
		return len(pop)
	}
	n, _ := slices.BinarySearch(pop, t)
	return n
}

// rolloutTarget is the device selection of a rollout: its Target, on its
// feed, in update mode rollout.
func rolloutTarget(ro *schema.Rollout) schema.Target {
	var t schema.Target
	if ro.Target != nil {
		t = *ro.Target
	}
	t.Feed = ro.Feed
	if t.Feed == "" {
		t.Feed = schema.DefaultFeed
	}
	t.UpdateMode = schema.ModeRollout
	return t
}

// population returns the sorted buckets of the devices ro targets and of
// those already in sync, from the cache unless fresh or older than
// Config.PopulationTTL.
func (s *Server) population(ctx context.Context, ro *schema.Rollout, fresh bool) (*population, error) {
	key := popKey{ro.Tenant, ro.ID}
	if !fresh {
		s.engine.mu.Lock()
		p := s.engine.pops[key]
		s.engine.mu.Unlock()
		if p != nil && time.Since(p.at) < s.cfg.PopulationTTL {
			return p, nil
		}
	}
	start := time.Now()
	t := rolloutTarget(ro)
	var buckets []uint32
	err := s.eachDeviceID(ctx, ro.Tenant, t, func(id string) {
		buckets = append(buckets, schema.Bucket(ro.ID, id))
	})
	if err != nil {
		return nil, fmt.Errorf("enumerate rollout %d devices: %w", ro.ID, err)
	}
	slices.Sort(buckets)
	synced, err := s.inSync(ctx, ro, t)
	if err != nil {
		return nil, err
	}
	p := &population{at: start, buckets: buckets, synced: intersect(buckets, synced)}
	s.engine.metrics.enumerations.Observe(time.Since(start).Seconds())
	s.engine.mu.Lock()
	s.engine.pops[key] = p
	s.engine.mu.Unlock()
	return p, nil
}

// eachDeviceID calls fn with the id of every device of the tenant that t
// selects: one query however many devices (linear in devices, constant in
// statements).
func (s *Server) eachDeviceID(ctx context.Context, tenant string, t schema.Target, fn func(id string)) error {
	return s.store.EachDeviceID(ctx, tenant, t, func(id string) error {
		fn(id)
		return nil
	})
}

// inSync returns the sorted buckets of the devices that t (ro's target)
// selects which already run ro's software version (Device.SWVersion) and
// have no action of ro. The offer never reaches them, so they would stay
// pending forever; the statistics count them as succeeded instead.
//
// It is a second enumeration (t with SWVersion set) and, when that finds
// any device, one walk over the devices with an action of the rollout to
// drop them (those count under their action: a device that
// succeeded runs the version too). The devices are enumerated before the
// actions, so a device that succeeds in between is seen with its action.
// Both walks are O(devices) and run only with the population (once per
// Config.PopulationTTL per rollout), in the control plane. Within the TTL
// the set stays right: an in-sync device is not offered the software, so
// it gets no action; only a device that reports another sw_version can
// leave it, and is then miscounted until the next enumeration.
func (s *Server) inSync(ctx context.Context, ro *schema.Rollout, t schema.Target) ([]uint32, error) {
	sw, err := s.store.Software(ctx, ro.Tenant, ro.SoftwareID)
	if schema.ErrorCode(err) == schema.ENOTFOUND {
		return nil, nil // nothing can be in sync with deleted software
	} else if err != nil {
		return nil, fmt.Errorf("rollout %d software: %w", ro.ID, err)
	}
	if sw.Version == "" || (t.SWVersion != "" && t.SWVersion != sw.Version) {
		return nil, nil
	}
	t.SWVersion = sw.Version
	ids := make(map[string]bool)
	if err := s.eachDeviceID(ctx, ro.Tenant, t, func(id string) { ids[id] = true }); err != nil {
		return nil, fmt.Errorf("enumerate rollout %d devices in sync: %w", ro.ID, err)
	}
	if len(ids) > 0 {
		err := s.store.EachRolloutDevice(ctx, ro.Tenant, ro.ID, func(id string) error {
			delete(ids, id)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("enumerate rollout %d actions: %w", ro.ID, err)
		}
	}
	buckets := make([]uint32, 0, len(ids))
	for id := range ids {
		buckets = append(buckets, schema.Bucket(ro.ID, id))
	}
	slices.Sort(buckets)
	return buckets, nil
}

// intersect returns the sorted multiset intersection of two sorted bucket
// lists. The in-sync devices are enumerated after the population, so a
// device registered in between is dropped here rather than counted as in
// sync without being targeted.
func intersect(a, b []uint32) []uint32 {
	var out []uint32
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

// changeRollout reads a rollout, lets fn change it in place and writes it
// with UpdateRollout. On ECONFLICT (another writer, the engine or an
// operator, got there first) it re-reads and calls fn again on the fresh
// rollout, so no write is lost and fn always decides on current state. fn
// returns whether it changed anything; nothing is written when it did not.
// It returns the rollout as stored.
func (s *Server) changeRollout(ctx context.Context, tenant string, id int64, fn func(ro *schema.Rollout) (bool, error)) (*schema.Rollout, bool, error) {
	for attempt := 0; ; attempt++ {
		ro, err := s.store.Rollout(ctx, tenant, id)
		if err != nil {
			return nil, false, err
		}
		changed, err := fn(ro)
		if err != nil || !changed {
			return ro, false, err
		}
		err = s.store.UpdateRollout(ctx, ro)
		if err == nil {
			return ro, true, nil
		}
		if schema.ErrorCode(err) != schema.ECONFLICT || attempt >= maxRolloutRetries {
			return nil, false, err
		}
	}
}

// recordEvents appends events to a rollout's history. A failure is logged:
// the transition they describe is already stored.
func (s *Server) recordEvents(ctx context.Context, ro *schema.Rollout, events ...*schema.RolloutEvent) {
	for _, e := range events {
		if e == nil {
			continue
		}
		e.RolloutID = ro.ID
		if err := s.store.AddRolloutEvent(ctx, ro.Tenant, e); err != nil {
			s.logger.ErrorContext(ctx, "record rollout event failed",
				slog.String("tenant", ro.Tenant), slog.Int64("rollout", ro.ID), slog.String("type", e.Type), slog.Any("err", err))
		}
	}
}
