package control_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gosling-ota/gosling/control"
	"github.com/gosling-ota/gosling/schema"
)

// TestStatisticsInSync: targeted devices that already run the rollout's
// version get no action (the offer skips them); they count as succeeded,
// once, so that a 100% success threshold is reachable, both from the
// population cached when the wave opened and from fresh enumerations after
// the other devices succeeded (then running the version too, and counted
// under their actions).
func TestStatisticsInSync(t *testing.T) {
	for _, ttl := range []time.Duration{control.DefaultPopulationTTL, 10 * time.Millisecond} {
		t.Run(fmt.Sprintf("ttl=%s", ttl), func(t *testing.T) {
			e := newEnv(t, func(c *control.Config) { c.PopulationTTL = ttl })
			// expire lets a short-lived cached population lapse, so the
			// next statistics enumerate afresh.
			expire := func() {
				if ttl < time.Second {
					time.Sleep(2 * ttl)
				}
			}
			sw := e.mustUpload(t, "", "a.swu", mustSWU(t, "2.0", 300))
			f := newFleet(t, e, 15)
			ctx := context.Background()
			for i := range 5 {
				id := fmt.Sprintf("sync%d", i)
				d := &schema.Device{Tenant: tenantA, ID: id, UpdateMode: schema.ModeRollout, Provisioned: true}
				if err := e.db.CreateDevice(ctx, d); err != nil {
					t.Fatal(err)
				}
				if _, err := e.db.SetAttributes(ctx, tenantA, id, schema.ConfigMerge, map[string]string{"sw_version": "2.0"}); err != nil {
					t.Fatal(err)
				}
			}
			// Another version and another feed are not in sync, and not
			// targeted, respectively.
			if _, err := e.db.SetAttributes(ctx, tenantA, f.ids[0], schema.ConfigMerge, map[string]string{"sw_version": "1.0"}); err != nil {
				t.Fatal(err)
			}
			other := &schema.Device{Tenant: tenantA, ID: "elsewhere", Feed: "beta", UpdateMode: schema.ModeRollout, Provisioned: true}
			if err := e.db.CreateDevice(ctx, other); err != nil {
				t.Fatal(err)
			}
			if _, err := e.db.SetAttributes(ctx, tenantA, other.ID, schema.ConfigMerge, map[string]string{"sw_version": "2.0"}); err != nil {
				t.Fatal(err)
			}

			ro := e.createRollout(t, map[string]any{"name": "r", "software_id": sw.ID})
			expire()
			d := e.getRollout(t, ro.ID)
			wantStats(t, "opened", d.Stats.RolloutStats, schema.RolloutStats{Targeted: 20, Pending: 15, Succeeded: 5})
			acts := f.offer(ro.ID)
			if len(acts) != 15 {
				t.Fatalf("offered %d, want the 15 devices not in sync", len(acts))
			}
			f.report(schema.FinishedSuccess, acts[:14]...)
			expire()
			e.tick(t)
			if got := f.rollout(ro.ID); got.Status != schema.RolloutRunning {
				t.Fatalf("19 of 20 succeeded: %s, want running", got.Status)
			}
			f.report(schema.FinishedSuccess, acts[14])
			expire()
			e.tick(t)
			expire()
			d = e.getRollout(t, ro.ID)
			if d.Status != schema.RolloutFinished {
				t.Fatalf("status %s, want finished: in-sync devices block the 100%% threshold", d.Status)
			}
			wantStats(t, "finished", d.Stats.RolloutStats, schema.RolloutStats{Targeted: 20, Succeeded: 20})
			wantStats(t, "finished wave 0", d.Stats.Waves[0], schema.RolloutStats{Targeted: 20, Succeeded: 20})
		})
	}
}
