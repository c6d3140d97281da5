package storetest

import (
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/gosling-ota/gosling/schema"
)

// mustRolloutAction opens an action of a rollout's wave.
func mustRolloutAction(tb testing.TB, s schema.ActionStore, r *schema.Rollout, deviceID string, wave int) *schema.Action {
	tb.Helper()
	a := &schema.Action{Tenant: r.Tenant, DeviceID: deviceID, SoftwareID: r.SoftwareID, RolloutID: r.ID, Wave: wave}
	if err := s.CreateAction(tb.Context(), a); err != nil {
		tb.Fatalf("create action for %s in rollout %d wave %d: %v", deviceID, r.ID, wave, err)
	}
	return a
}

func mustClose(tb testing.TB, s schema.ActionStore, a *schema.Action, finished string) {
	tb.Helper()
	MustRecordOK(tb, s, NewFeedback(a, schema.FeedbackDeployment, schema.ExecClosed, finished))
}

func testRolloutActionCounts(t *testing.T, s schema.Store) {
	ctx := t.Context()
	sw := MustCreateSoftware(t, s, tenant, "1.0")
	r := MustCreateRollout(t, s, &schema.Rollout{Tenant: tenant, SoftwareID: sw.ID,
		Waves: []schema.Wave{{Percent: 10}, {Percent: 50}, {Percent: 100}}})
	r2 := MustCreateRollout(t, s, &schema.Rollout{Tenant: tenant, SoftwareID: sw.ID})
	for i := range 10 {
		MustCreateDevice(t, s, tenant, fmt.Sprintf("d%d", i))
	}

	// d0: failed, then succeeded: counts once, as succeeded.
	mustClose(t, s, mustRolloutAction(t, s, r, "d0", 0), schema.FinishedFailure)
	mustClose(t, s, mustRolloutAction(t, s, r, "d0", 0), schema.FinishedSuccess)
	// d1 pending, d2 running.
	mustRolloutAction(t, s, r, "d1", 0)
	MustRecordOK(t, s, NewFeedback(mustRolloutAction(t, s, r, "d2", 0), schema.FeedbackDeployment, schema.ExecProceeding, schema.FinishedNone))
	// d3 canceling (counts as running), d4 canceled, d5 failed.
	a3 := mustRolloutAction(t, s, r, "d3", 1)
	if _, err := s.CancelAction(ctx, tenant, "d3", a3.ID); err != nil {
		t.Fatal(err)
	}
	a4 := mustRolloutAction(t, s, r, "d4", 1)
	if _, err := s.CancelAction(ctx, tenant, "d4", a4.ID); err != nil {
		t.Fatal(err)
	}
	MustRecordOK(t, s, NewFeedback(a4, schema.FeedbackCancel, schema.ExecCanceled, schema.FinishedSuccess))
	mustClose(t, s, mustRolloutAction(t, s, r, "d5", 1), schema.FinishedFailure)
	// d6: succeeded, then a newer pending action decides.
	mustClose(t, s, mustRolloutAction(t, s, r, "d6", 2), schema.FinishedSuccess)
	mustRolloutAction(t, s, r, "d6", 2)
	// d7: succeeded here, then an action of another rollout.
	mustClose(t, s, mustRolloutAction(t, s, r, "d7", 0), schema.FinishedSuccess)
	mustRolloutAction(t, s, r2, "d7", 0)
	// d8: an action outside any rollout.
	MustCreateAction(t, s, tenant, "d8", sw.ID)
	// d9: succeeded in wave 1, then failed in wave 2: counts in wave 2.
	mustClose(t, s, mustRolloutAction(t, s, r, "d9", 1), schema.FinishedSuccess)
	mustClose(t, s, mustRolloutAction(t, s, r, "d9", 2), schema.FinishedFailure)

	got, err := s.RolloutActionCounts(ctx, tenant, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := schema.ActionCounts{
		{Succeeded: 2, Pending: 1, Running: 1},
		{Running: 1, Canceled: 1, Failed: 1},
		{Pending: 1, Failed: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("counts\n got %+v\nwant %+v", got, want)
	}
	if got, err := s.RolloutActionCounts(ctx, tenant, r2.ID); err != nil ||
		!reflect.DeepEqual(got, schema.ActionCounts{{Pending: 1}}) {
		t.Fatalf("second rollout: %+v, %v", got, err)
	}
	r3 := MustCreateRollout(t, s, &schema.Rollout{Tenant: tenant, SoftwareID: sw.ID,
		Waves: []schema.Wave{{Count: 1}, {Count: 2}}})
	if got, err := s.RolloutActionCounts(ctx, tenant, r3.ID); err != nil || !reflect.DeepEqual(got, schema.ActionCounts{{}, {}}) {
		t.Fatalf("rollout without actions: %+v, %v", got, err)
	}
	_, err = s.RolloutActionCounts(ctx, other, r.ID)
	wantCode(t, err, schema.ENOTFOUND)
}

// testRolloutCountsConcurrent records feedback from several goroutines while
// others read the counts; the final counts match the outcomes.
func testRolloutCountsConcurrent(t *testing.T, s schema.Store) {
	ctx := t.Context()
	const devices, workers = 36, 6
	sw := MustCreateSoftware(t, s, tenant, "1.0")
	r := MustCreateRollout(t, s, &schema.Rollout{Tenant: tenant, SoftwareID: sw.ID,
		Waves: []schema.Wave{{Percent: 50}, {Percent: 100}}})
	actions := make([]*schema.Action, devices)
	want := make(schema.ActionCounts, 2)
	for i := range devices {
		id := fmt.Sprintf("c%02d", i)
		MustCreateDevice(t, s, tenant, id)
		actions[i] = mustRolloutAction(t, s, r, id, i%2)
		switch i % 3 {
		case 0:
			want[i%2].Succeeded++
		case 1:
			want[i%2].Failed++
		case 2:
			want[i%2].Running++
		}
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < devices; i += workers {
				a := actions[i]
				batch := []*schema.Feedback{NewFeedback(a, schema.FeedbackDeployment, schema.ExecProceeding, schema.FinishedNone)}
				switch i % 3 {
				case 0:
					batch = append(batch, NewFeedback(a, schema.FeedbackDeployment, schema.ExecClosed, schema.FinishedSuccess))
				case 1:
					batch = append(batch, NewFeedback(a, schema.FeedbackDeployment, schema.ExecClosed, schema.FinishedFailure))
				}
				res, err := s.RecordFeedback(ctx, batch)
				if err != nil {
					t.Error(err)
					return
				}
				for _, r := range res {
					if r.Err != nil {
						t.Error(r.Err)
						return
					}
				}
			}
		})
		wg.Go(func() {
			for range 10 {
				c, err := s.RolloutActionCounts(ctx, tenant, r.ID)
				if err != nil {
					t.Error(err)
					return
				}
				n := 0
				for _, w := range c {
					n += w.Pending + w.Running + w.Finished()
				}
				if n != devices {
					t.Errorf("counts %+v cover %d devices, want %d", c, n, devices)
					return
				}
			}
		})
	}
	wg.Wait()
	if got, err := s.RolloutActionCounts(ctx, tenant, r.ID); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("counts\n got %+v, %v\nwant %+v", got, err, want)
	}
}

func testMaxConcurrent(t *testing.T, s schema.Store) {
	ctx := t.Context()
	const devices, limit = 20, 5
	sw := MustCreateSoftware(t, s, tenant, "1.0")
	r := MustCreateRollout(t, s, &schema.Rollout{Tenant: tenant, SoftwareID: sw.ID, MaxConcurrent: limit,
		Waves: []schema.Wave{{Percent: 50}, {Percent: 100}}})
	for i := range devices + 2 {
		MustCreateDevice(t, s, tenant, fmt.Sprintf("m%02d", i))
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		opened []*schema.Action
	)
	for i := range devices {
		wg.Go(func() {
			a := &schema.Action{Tenant: tenant, DeviceID: fmt.Sprintf("m%02d", i), SoftwareID: sw.ID, RolloutID: r.ID, Wave: i % 2}
			err := s.CreateAction(ctx, a)
			switch schema.ErrorCode(err) {
			case "":
				mu.Lock()
				opened = append(opened, a)
				mu.Unlock()
			case schema.EUNAVAILABLE:
				if schema.ErrorMessage(err) == "" {
					t.Errorf("EUNAVAILABLE without a message")
				}
			default:
				t.Errorf("create action: %v", err)
			}
		})
	}
	wg.Wait()
	if len(opened) != limit {
		t.Fatalf("%d actions opened, want exactly %d", len(opened), limit)
	}
	for _, a := range opened {
		if got := mustAction(t, s, a); !reflect.DeepEqual(got, a) {
			t.Fatalf("read back\n got %+v\nwant %+v", got, a)
		}
	}
	next := func(id string) error {
		return s.CreateAction(ctx, &schema.Action{Tenant: tenant, DeviceID: id, SoftwareID: sw.ID, RolloutID: r.ID})
	}
	// A canceling action is still open.
	if _, err := s.CancelAction(ctx, tenant, opened[0].DeviceID, opened[0].ID); err != nil {
		t.Fatal(err)
	}
	wantCode(t, next("m20"), schema.EUNAVAILABLE)
	// Actions outside the rollout are not bounded by it.
	MustCreateAction(t, s, tenant, "m21", sw.ID)
	// A closed action frees a slot.
	mustClose(t, s, opened[1], schema.FinishedSuccess)
	wantCode(t, next("m20"), "")
	wantCode(t, next(opened[1].DeviceID), schema.EUNAVAILABLE)

	t.Run("Wave", func(t *testing.T) {
		MustCreateDevice(t, s, tenant, "w")
		for _, a := range []schema.Action{
			{Tenant: tenant, DeviceID: "w", SoftwareID: sw.ID, RolloutID: r.ID, Wave: 2},
			{Tenant: tenant, DeviceID: "w", SoftwareID: sw.ID, RolloutID: r.ID, Wave: -1},
			{Tenant: tenant, DeviceID: "w", SoftwareID: sw.ID, Wave: 1},
		} {
			wantCode(t, s.CreateAction(ctx, &a), schema.EINVALID)
		}
	})
}

func testCancelRolloutActions(t *testing.T, s schema.Store) {
	ctx := t.Context()
	sw := MustCreateSoftware(t, s, tenant, "1.0")
	r := MustCreateRollout(t, s, &schema.Rollout{Tenant: tenant, SoftwareID: sw.ID})
	r2 := MustCreateRollout(t, s, &schema.Rollout{Tenant: tenant, SoftwareID: sw.ID})
	for i := range 6 {
		MustCreateDevice(t, s, tenant, fmt.Sprintf("x%d", i))
	}
	pending := mustRolloutAction(t, s, r, "x0", 0)
	running := mustRolloutAction(t, s, r, "x1", 0)
	MustRecordOK(t, s, NewFeedback(running, schema.FeedbackDeployment, schema.ExecProceeding, schema.FinishedNone))
	canceling := mustRolloutAction(t, s, r, "x2", 0)
	if _, err := s.CancelAction(ctx, tenant, "x2", canceling.ID); err != nil {
		t.Fatal(err)
	}
	done := mustRolloutAction(t, s, r, "x3", 0)
	mustClose(t, s, done, schema.FinishedSuccess)
	otherRollout := mustRolloutAction(t, s, r2, "x4", 0)
	plain := MustCreateAction(t, s, tenant, "x5", sw.ID)

	before := time.Now()
	list, err := s.CancelRolloutActions(ctx, tenant, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, a := range list {
		ids = append(ids, a.ID)
		if a.Status != schema.ActionCanceling || a.RolloutID != r.ID {
			t.Fatalf("returned %+v", a)
		}
		if got := mustAction(t, s, a); !reflect.DeepEqual(got, a) {
			t.Fatalf("read back\n got %+v\nwant %+v", got, a)
		}
	}
	if want := []int64{pending.ID, running.ID, canceling.ID}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("canceled %v, want %v", ids, want)
	}
	wantNow(t, "UpdatedAt", list[0].UpdatedAt, before)
	for _, a := range []*schema.Action{done, otherRollout, plain} {
		if got := mustAction(t, s, a); got.Status == schema.ActionCanceling {
			t.Fatalf("action %d of device %s canceled", a.ID, a.DeviceID)
		}
	}
	// Devices confirm; a second call returns what is still open.
	MustRecordOK(t, s, NewFeedback(pending, schema.FeedbackCancel, schema.ExecCanceled, schema.FinishedSuccess))
	list, err = s.CancelRolloutActions(ctx, tenant, r.ID)
	if err != nil || len(list) != 2 || list[0].ID != running.ID || list[1].ID != canceling.ID {
		t.Fatalf("second call: %+v, %v", list, err)
	}
	for _, id := range []int64{r.ID, r.ID + 1000} {
		if list, err := s.CancelRolloutActions(ctx, other, id); err != nil || len(list) != 0 {
			t.Fatalf("other tenant / unknown rollout: %+v, %v", list, err)
		}
	}
}

func testRolloutEvents(t *testing.T, s schema.Store) {
	ctx := t.Context()
	sw := MustCreateSoftware(t, s, tenant, "1.0")
	r := MustCreateRollout(t, s, &schema.Rollout{Tenant: tenant, SoftwareID: sw.ID})
	r2 := MustCreateRollout(t, s, &schema.Rollout{Tenant: tenant, SoftwareID: sw.ID})
	before := time.Now()
	var added []*schema.RolloutEvent
	for i, typ := range []string{"created", "started", "wave_opened", "threshold", "paused"} {
		e := &schema.RolloutEvent{RolloutID: r.ID, Type: typ, Wave: i / 2, Message: fmt.Sprintf("event %d", i)}
		if err := s.AddRolloutEvent(ctx, tenant, e); err != nil {
			t.Fatal(err)
		}
		wantNow(t, "At", e.At, before)
		if len(added) > 0 && e.ID <= added[len(added)-1].ID {
			t.Fatalf("event ids not increasing: %d after %d", e.ID, added[len(added)-1].ID)
		}
		added = append(added, e)
		if err := s.AddRolloutEvent(ctx, tenant, &schema.RolloutEvent{RolloutID: r2.ID, Type: "noise"}); err != nil {
			t.Fatal(err)
		}
	}
	page := func(after int64, limit int) []*schema.RolloutEvent {
		t.Helper()
		list, err := s.RolloutEvents(ctx, tenant, r.ID, after, limit)
		if err != nil {
			t.Fatal(err)
		}
		return list
	}
	if got := page(0, 0); !reflect.DeepEqual(got, added) {
		t.Fatalf("events\n got %+v\nwant %+v", got, added)
	}
	if got := page(added[1].ID, 2); !reflect.DeepEqual(got, added[2:4]) {
		t.Fatalf("page after %d\n got %+v\nwant %+v", added[1].ID, got, added[2:4])
	}
	if got := page(added[4].ID, 0); len(got) != 0 {
		t.Fatalf("page after the last: %+v", got)
	}
	if list, err := s.RolloutEvents(ctx, other, r.ID, 0, 0); err != nil || len(list) != 0 {
		t.Fatalf("other tenant sees %+v, %v", list, err)
	}
	_, err := s.RolloutEvents(ctx, tenant, r.ID, 0, -1)
	wantCode(t, err, schema.EINVALID)
	wantCode(t, s.AddRolloutEvent(ctx, other, &schema.RolloutEvent{RolloutID: r.ID, Type: "x"}), schema.ENOTFOUND)
	wantCode(t, s.AddRolloutEvent(ctx, tenant, &schema.RolloutEvent{RolloutID: r.ID}), schema.EINVALID)

	// Events go with their rollout.
	if err := s.DeleteRollout(ctx, tenant, r.ID); err != nil {
		t.Fatal(err)
	}
	if got := page(0, 0); len(got) != 0 {
		t.Fatalf("events of a deleted rollout: %+v", got)
	}
}

// testActionNeedsOfferingRollout: a frontline whose catalog lags behind a
// pause or abort must not open actions for that rollout; a finished one
// still serves late devices.
func testActionNeedsOfferingRollout(t *testing.T, s schema.Store) {
	ctx := t.Context()
	sw := MustCreateSoftware(t, s, tenant, "1.0")
	for i, tc := range []struct {
		status string
		want   string
	}{
		{schema.RolloutPaused, schema.EUNAVAILABLE},
		{schema.RolloutDraft, schema.EUNAVAILABLE},
		{schema.RolloutAborted, schema.EUNAVAILABLE},
		{schema.RolloutRunning, ""},
		{schema.RolloutFinished, ""},
	} {
		r := MustCreateRollout(t, s, &schema.Rollout{Tenant: tenant, SoftwareID: sw.ID, Status: schema.RolloutRunning})
		if tc.status != schema.RolloutRunning {
			r.Status = tc.status
			if tc.status == schema.RolloutDraft {
				r = MustCreateRollout(t, s, &schema.Rollout{Tenant: tenant, SoftwareID: sw.ID, Status: schema.RolloutDraft})
			} else if err := s.UpdateRollout(ctx, r); err != nil {
				t.Fatalf("set %s: %v", tc.status, err)
			}
		}
		dev := MustCreateDevice(t, s, tenant, fmt.Sprintf("offer-%d", i))
		err := s.CreateAction(ctx, &schema.Action{Tenant: tenant, DeviceID: dev.ID, SoftwareID: sw.ID, RolloutID: r.ID})
		if got := schema.ErrorCode(err); got != tc.want {
			t.Errorf("%s rollout: CreateAction = %v, want code %q", tc.status, err, tc.want)
		}
	}
}
