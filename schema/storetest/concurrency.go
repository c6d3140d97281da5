package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gosling-ota/gosling/schema"
)

// testConcurrency runs writers of every kind and readers at once. Every
// call must succeed: an embedded store must queue writers, not fail them
// (SQLITE_BUSY), and readers must not block on them.
func testConcurrency(t *testing.T, s schema.Store) {
	ctx := t.Context()
	const (
		workers = 8
		rounds  = 25
	)
	sw := MustCreateSoftware(t, s, tenant, "1.0")
	for w := range workers {
		MustCreateDevice(t, s, tenant, fmt.Sprintf("conc-%d", w))
	}
	var wg sync.WaitGroup
	for w := range workers {
		id := fmt.Sprintf("conc-%d", w)
		wg.Go(func() { // writer: actions and feedback
			for r := range rounds {
				a := &schema.Action{Tenant: tenant, DeviceID: id, SoftwareID: sw.ID}
				if err := s.CreateAction(ctx, a); err != nil {
					t.Errorf("%s: create action: %v", id, err)
					return
				}
				fin := schema.FinishedSuccess
				if r%2 == 1 {
					fin = schema.FinishedFailure
				}
				res, err := s.RecordFeedback(ctx, []*schema.Feedback{
					NewFeedback(a, schema.FeedbackDeployment, schema.ExecProceeding, schema.FinishedNone),
					NewFeedback(a, schema.FeedbackDeployment, schema.ExecClosed, fin),
				})
				if err != nil {
					t.Errorf("%s: record feedback: %v", id, err)
					return
				}
				for _, r := range res {
					if r.Err != nil {
						t.Errorf("%s: feedback: %v", id, r.Err)
						return
					}
				}
			}
		})
		wg.Go(func() { // writer: last-seen traces of every device
			for r := range rounds {
				seen := make([]schema.Seen, workers)
				for i := range seen {
					seen[i] = schema.Seen{Tenant: tenant, DeviceID: fmt.Sprintf("conc-%d", i), At: time.Now(), Addr: fmt.Sprintf("10.0.%d.%d:1", w, r)}
				}
				if err := s.TouchDevices(ctx, seen); err != nil {
					t.Errorf("touch devices: %v", err)
					return
				}
			}
		})
		wg.Go(func() { // reader
			for range rounds {
				if _, err := s.Device(ctx, tenant, id); err != nil {
					t.Errorf("%s: device: %v", id, err)
					return
				}
				if _, _, err := s.Actions(ctx, schema.ActionFilter{Tenant: tenant, DeviceID: id, Limit: 5}); err != nil {
					t.Errorf("%s: actions: %v", id, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for w := range workers {
		id := fmt.Sprintf("conc-%d", w)
		d := mustDevice(t, s, tenant, id)
		if d.ActionID != 0 || d.LastActionID == 0 || d.LastSeen.IsZero() {
			t.Fatalf("%s: %+v", id, d)
		}
		if _, n, err := s.Actions(ctx, schema.ActionFilter{Tenant: tenant, DeviceID: id}); err != nil || n != rounds {
			t.Fatalf("%s: %d actions, %v; want %d", id, n, err, rounds)
		}
	}
}
