package control

import (
	"context"

	"github.com/gosling-ota/gosling/schema"
)

// Statistics are a rollout's devices by outcome, in total and per wave.
//
// Targeted counts the devices the rollout's target selects (its Target, on
// its feed, in update mode rollout) whose bucket falls in a wave, each in
// the first wave that covers it; waves not open yet use the threshold they
// would get now. Running, Succeeded, Failed and Canceled count devices by
// their newest action of the rollout (store.RolloutActionCounts), so a
// retried feedback or a reinstall is counted once. Pending is the rest of
// the targeted devices: no action yet, or an action not started. A device
// that left the target after it got an action still counts under its
// action, so Pending never goes below zero but the outcome counts may
// exceed Targeted.
//
// Devices the target selects that already run the rollout's software
// version without an action of the rollout ("already in sync": the offer
// skips them) count as Succeeded of the wave that covers them, so that they
// neither stay pending forever nor block a success threshold of 100%
// (see Server.inSync).
//
// Targeted comes from the cached population (Config.PopulationTTL): devices
// that registered through a frontline in the last seconds may be missing
// for that long.
type Statistics struct {
	schema.RolloutStats
	Waves []schema.RolloutStats `json:"waves"`
}

// statistics computes ro's statistics; fresh enumerates the population
// again instead of using the cached one.
func (s *Server) statistics(ctx context.Context, ro *schema.Rollout, fresh bool) (*Statistics, error) {
	pop, err := s.population(ctx, ro, fresh)
	if err != nil {
		return nil, err
	}
	counts, err := s.store.RolloutActionCounts(ctx, ro.Tenant, ro.ID)
	if err != nil {
		return nil, err
	}
	return buildStatistics(ro, pop, counts), nil
}

// buildStatistics merges a population and the action counts.
func buildStatistics(ro *schema.Rollout, p *population, counts schema.ActionCounts) *Statistics {
	st := &Statistics{Waves: make([]schema.RolloutStats, len(ro.Waves))}
	pop := p.buckets
	var prev uint32 // the highest threshold of the earlier waves
	prevCovered, prevSynced := 0, 0
	for k := range ro.Waves {
		t := ro.Waves[k].Threshold
		if k > ro.CurrentWave {
			t = waveThreshold(ro, k, pop)
			// waveThreshold compares with stored thresholds only; an
			// earlier wave that is not open yet has none.
			t = max(t, prev)
		}
		n := covered(pop, t)
		ws := schema.RolloutStats{Targeted: max(0, n-prevCovered)}
		if k < len(counts) {
			c := counts[k]
			ws.Running, ws.Succeeded, ws.Failed, ws.Canceled = c.Running, c.Succeeded, c.Failed, c.Canceled
		}
		synced := covered(p.synced, t)
		ws.Succeeded += max(0, synced-prevSynced)
		ws.Pending = max(0, ws.Targeted-(ws.Running+ws.Succeeded+ws.Failed+ws.Canceled))
		st.Waves[k] = ws

		st.Targeted += ws.Targeted
		st.Pending += ws.Pending
		st.Running += ws.Running
		st.Succeeded += ws.Succeeded
		st.Failed += ws.Failed
		st.Canceled += ws.Canceled
		if t > prev {
			prev = t
		}
		prevCovered = max(prevCovered, n)
		prevSynced = max(prevSynced, synced)
	}
	return st
}
