package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/gosling-ota/gosling/schema"
	"github.com/gosling-ota/gosling/schema/storetest"
)

// TestTouchDevicesFold checks that a batch with several traces per device
// (TouchDevices folds them into one row per device) ends where applying
// the traces one by one ends: device "batch-N" gets each round's traces in
// one call, device "seq-N" the same traces in separate calls.
func TestTouchDevicesFold(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := MustOpen(t)
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const devices = 30
	for i := range devices {
		storetest.MustCreateDevice(t, db, "acme", fmt.Sprintf("batch-%d", i))
		storetest.MustCreateDevice(t, db, "acme", fmt.Sprintf("seq-%d", i))
	}
	for round := range 5 {
		// Each device's traces, in the order they happen.
		traces := make([][]schema.Seen, devices)
		for i := range devices {
			for range rng.IntN(4) {
				s := schema.Seen{Tenant: "acme", At: t0.Add(time.Duration(rng.IntN(20)) * time.Second)}
				if rng.IntN(3) > 0 {
					s.Addr = fmt.Sprintf("10.0.%d.%d:1", round, rng.IntN(100))
				}
				traces[i] = append(traces[i], s)
			}
		}
		// One by one for seq-N; interleaved across devices, each device's
		// order kept, in one batch for batch-N.
		var batch []schema.Seen
		for i, ts := range traces {
			for _, s := range ts {
				s.DeviceID = fmt.Sprintf("seq-%d", i)
				if err := db.TouchDevices(ctx, []schema.Seen{s}); err != nil {
					t.Fatal(err)
				}
			}
		}
		for {
			var left []int
			for i := range traces {
				if len(traces[i]) > 0 {
					left = append(left, i)
				}
			}
			if len(left) == 0 {
				break
			}
			i := left[rng.IntN(len(left))]
			s := traces[i][0]
			traces[i] = traces[i][1:]
			s.DeviceID = fmt.Sprintf("batch-%d", i)
			batch = append(batch, s)
		}
		if err := db.TouchDevices(ctx, batch); err != nil {
			t.Fatal(err)
		}
		for i := range devices {
			b, err := db.Device(ctx, "acme", fmt.Sprintf("batch-%d", i))
			if err != nil {
				t.Fatal(err)
			}
			s, err := db.Device(ctx, "acme", fmt.Sprintf("seq-%d", i))
			if err != nil {
				t.Fatal(err)
			}
			if !b.LastSeen.Equal(s.LastSeen) || b.LastAddr != s.LastAddr {
				t.Fatalf("round %d device %d: batch (%v, %q), one by one (%v, %q)",
					round, i, b.LastSeen, b.LastAddr, s.LastSeen, s.LastAddr)
			}
		}
	}
}

// TestOverlappingBatches runs feedback batches and last-seen flushes that
// share actions and devices, in different orders, from several goroutines:
// the lock ordering must keep them from failing (a deadlock would surface as
// an error after retries, or as a slow test).
func TestOverlappingBatches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := MustOpen(t)
	const (
		devices = 20
		workers = 6
		rounds  = 15
	)
	actions := make([]*schema.Action, devices)
	for i := range actions {
		actions[i] = mustOpenAction(t, db, "acme", fmt.Sprintf("dev-%d", i))
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for range rounds {
				perm := rng.Perm(devices)
				if w%2 == 0 {
					batch := make([]*schema.Feedback, len(perm))
					for i, p := range perm {
						batch[i] = storetest.NewFeedback(actions[p], schema.FeedbackDeployment, schema.ExecProceeding, schema.FinishedNone)
					}
					res, err := db.RecordFeedback(ctx, batch)
					if err != nil {
						t.Errorf("record feedback: %v", err)
						return
					}
					for _, r := range res {
						if r.Err != nil {
							t.Errorf("feedback: %v", r.Err)
							return
						}
					}
				} else {
					seen := make([]schema.Seen, len(perm))
					for i, p := range perm {
						seen[i] = schema.Seen{Tenant: "acme", DeviceID: actions[p].DeviceID, At: time.Now(), Addr: "10.0.0.1:1"}
					}
					if err := db.TouchDevices(ctx, seen); err != nil {
						t.Errorf("touch: %v", err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	// Close every action in one batch, in reverse order, while flushes run.
	batch := make([]*schema.Feedback, devices)
	for i := range batch {
		batch[i] = storetest.NewFeedback(actions[devices-1-i], schema.FeedbackDeployment, schema.ExecClosed, schema.FinishedSuccess)
	}
	storetest.MustRecord(t, db, batch...)
	for _, a := range actions {
		fb, err := db.Feedback(ctx, "acme", a.DeviceID, a.ID, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if want := workers/2*rounds + 1; len(fb) != want {
			t.Fatalf("action %d: %d feedback rows, want %d", a.ID, len(fb), want)
		}
		d, err := db.Device(ctx, "acme", a.DeviceID)
		if err != nil {
			t.Fatal(err)
		}
		if d.ActionID != 0 || d.LastActionID != a.ID || d.Status != schema.DeviceInSync {
			t.Fatalf("device after close: %+v", d)
		}
	}
}
