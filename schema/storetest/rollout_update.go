package storetest

import (
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gosling-ota/gosling/schema"
)

// MustCreateRollout creates r and fails the test on error.
func MustCreateRollout(tb testing.TB, s schema.RolloutStore, r *schema.Rollout) *schema.Rollout {
	tb.Helper()
	if err := s.CreateRollout(tb.Context(), r); err != nil {
		tb.Fatalf("create rollout %q: %v", r.Name, err)
	}
	return r
}

func mustRollout(tb testing.TB, s schema.RolloutStore, tenant string, id int64) *schema.Rollout {
	tb.Helper()
	r, err := s.Rollout(tb.Context(), tenant, id)
	if err != nil {
		tb.Fatalf("rollout %d: %v", id, err)
	}
	return r
}

// testRolloutFull stores every setting of a staged rollout and reads it
// back unchanged.
func testRolloutFull(t *testing.T, s schema.Store) {
	sw := MustCreateSoftware(t, s, tenant, "1.0")
	start := time.Date(2026, 5, 1, 22, 0, 0, 123456789, time.FixedZone("CEST", 2*3600))
	r := MustCreateRollout(t, s, &schema.Rollout{
		Tenant: tenant, Name: "staged", Feed: "beta", SoftwareID: sw.ID, Status: schema.RolloutDraft,
		Target: &schema.Target{Tags: []string{"eu", "canary"}, HWModel: "pi4",
			Attributes: map[string]string{"a.b": `q"v`}, IDs: []string{}},
		Waves: []schema.Wave{
			{Count: 5, Approval: true, SuccessPercent: 80},
			{Percent: 10, ErrorCount: 3, MinFinished: 5, OnError: schema.OnErrorAbort},
			{Percent: 10, ErrorPercent: 12.5},
			{Percent: 100, OnError: schema.OnErrorPause},
		},
		CurrentWave:   2, // ignored: a new rollout has no open wave
		StartAt:       start,
		MaxConcurrent: 50,
		Download:      schema.HandlingAttempt,
		Update:        schema.HandlingForced,
		Window:        &schema.MaintenanceWindow{Start: "23:30", Duration: schema.Duration(3 * time.Hour), Location: "Europe/Berlin"},
		Reason:        "prepared",
	})
	if r.CurrentWave != -1 || r.Status != schema.RolloutDraft {
		t.Fatalf("created %+v", r)
	}
	wantTime(t, "StartAt", r.StartAt, start)
	if got := mustRollout(t, s, tenant, r.ID); !reflect.DeepEqual(got, r) {
		t.Fatalf("read back\n got %+v\nwant %+v", got, r)
	}
	t.Run("ZeroTargetIsNil", func(t *testing.T) {
		r := MustCreateRollout(t, s, &schema.Rollout{Tenant: tenant, SoftwareID: sw.ID, Target: &schema.Target{}})
		if r.Target != nil {
			t.Fatalf("zero target kept: %+v", r.Target)
		}
		if got := mustRollout(t, s, tenant, r.ID); got.Target != nil {
			t.Fatalf("zero target read back as %+v", got.Target)
		}
	})
}

func testUpdateRollout(t *testing.T, s schema.Store) {
	ctx := t.Context()
	sw := MustCreateSoftware(t, s, tenant, "1.0")
	sw2 := MustCreateSoftware(t, s, tenant, "2.0")
	r := MustCreateRollout(t, s, &schema.Rollout{Tenant: tenant, SoftwareID: sw.ID,
		Waves: []schema.Wave{{Percent: 10}, {Percent: 100}}})
	stale := *r

	opened := time.Now()
	r.CurrentWave = 0
	r.Waves[0].Threshold = schema.PercentThreshold(10)
	r.Waves[0].OpenedAt = opened
	r.Name, r.Reason, r.MaxConcurrent = "renamed", "wave 1 opened", 3
	r.Target = &schema.Target{Feed: "beta"}
	r.Window = &schema.MaintenanceWindow{Start: "01:00", Duration: schema.Duration(time.Hour)}
	r.Feed, r.SoftwareID = "ignored", sw2.ID // immutable
	prev := r.UpdatedAt
	if err := s.UpdateRollout(ctx, r); err != nil {
		t.Fatal(err)
	}
	if !r.UpdatedAt.After(prev) {
		t.Fatalf("UpdatedAt %v not after %v", r.UpdatedAt, prev)
	}
	if r.Feed != schema.DefaultFeed || r.SoftwareID != sw.ID {
		t.Fatalf("immutable fields not restored: feed %q software %d", r.Feed, r.SoftwareID)
	}
	wantTime(t, "OpenedAt", r.Waves[0].OpenedAt, opened)
	if got := mustRollout(t, s, tenant, r.ID); !reflect.DeepEqual(got, r) {
		t.Fatalf("read back\n got %+v\nwant %+v", got, r)
	}

	t.Run("Stale", func(t *testing.T) {
		stale.Name = "lost update"
		wantCode(t, s.UpdateRollout(ctx, &stale), schema.ECONFLICT)
		if got := mustRollout(t, s, tenant, r.ID); got.Name != "renamed" {
			t.Fatalf("stale write applied: %q", got.Name)
		}
	})
	t.Run("SameWriterNeverConflicts", func(t *testing.T) {
		// Back-to-back writes land in one millisecond; each must still
		// get a new token.
		for i := range 20 {
			prev := r.UpdatedAt
			r.Reason = "write " + strconv.Itoa(i)
			if err := s.UpdateRollout(ctx, r); err != nil {
				t.Fatalf("write %d: %v", i, err)
			}
			if !r.UpdatedAt.After(prev) {
				t.Fatalf("write %d: UpdatedAt %v not after %v", i, r.UpdatedAt, prev)
			}
		}
	})
	t.Run("SetStatusBumps", func(t *testing.T) {
		held := mustRollout(t, s, tenant, r.ID)
		if _, err := s.SetRolloutStatus(ctx, tenant, r.ID, schema.RolloutPaused); err != nil {
			t.Fatal(err)
		}
		held.CurrentWave = 1
		wantCode(t, s.UpdateRollout(ctx, held), schema.ECONFLICT)
		held = mustRollout(t, s, tenant, r.ID)
		held.Status = schema.RolloutRunning
		if err := s.UpdateRollout(ctx, held); err != nil {
			t.Fatal(err)
		}
		*r = *held
	})
	t.Run("Errors", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			change func(r *schema.Rollout)
			code   string
		}{
			{"NotFound", func(r *schema.Rollout) { r.ID += 1000 }, schema.ENOTFOUND},
			{"OtherTenant", func(r *schema.Rollout) { r.Tenant = other }, schema.ENOTFOUND},
			{"NoWaves", func(r *schema.Rollout) { r.Waves = nil }, schema.EINVALID},
			{"BadWave", func(r *schema.Rollout) { r.Waves[1].Percent = 5 }, schema.EINVALID},
			{"WavePastEnd", func(r *schema.Rollout) { r.CurrentWave = 2 }, schema.EINVALID},
			{"BadStatus", func(r *schema.Rollout) { r.Status = "done" }, schema.EINVALID},
			{"BadHandling", func(r *schema.Rollout) { r.Update = "skip" }, schema.EINVALID},
			{"BadWindow", func(r *schema.Rollout) { r.Window = &schema.MaintenanceWindow{Start: "1:00"} }, schema.EINVALID},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c := mustRollout(t, s, tenant, r.ID)
				tc.change(c)
				wantCode(t, s.UpdateRollout(ctx, c), tc.code)
			})
		}
	})
	t.Run("FinalStatus", func(t *testing.T) {
		c := mustRollout(t, s, tenant, r.ID)
		c.Status = schema.RolloutFinished
		if err := s.UpdateRollout(ctx, c); err != nil {
			t.Fatal(err)
		}
		c.Reason = "late devices still get it" // other fields stay writable
		if err := s.UpdateRollout(ctx, c); err != nil {
			t.Fatal(err)
		}
		c.Status = schema.RolloutRunning
		wantCode(t, s.UpdateRollout(ctx, c), schema.ENOTALLOWED)
	})
}

// testRolloutConcurrentUpdates has writers increment a counter with
// read-modify-write and retry on ECONFLICT: no increment may be lost.
func testRolloutConcurrentUpdates(t *testing.T, s schema.Store) {
	ctx := t.Context()
	sw := MustCreateSoftware(t, s, tenant, "1.0")
	r := MustCreateRollout(t, s, &schema.Rollout{Tenant: tenant, SoftwareID: sw.ID, Reason: "0"})
	const workers, rounds = 6, 15
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range rounds {
				for {
					c, err := s.Rollout(ctx, tenant, r.ID)
					if err != nil {
						t.Error(err)
						return
					}
					n, _ := strconv.Atoi(c.Reason)
					c.Reason = strconv.Itoa(n + 1)
					err = s.UpdateRollout(ctx, c)
					if schema.ErrorCode(err) == schema.ECONFLICT {
						continue
					}
					if err != nil {
						t.Error(err)
						return
					}
					break
				}
			}
		})
	}
	wg.Wait()
	if got := mustRollout(t, s, tenant, r.ID); got.Reason != strconv.Itoa(workers*rounds) {
		t.Fatalf("counter %s after %d increments", got.Reason, workers*rounds)
	}
}

func testRolloutLifecycle(t *testing.T, s schema.Store) {
	ctx := t.Context()
	sw := MustCreateSoftware(t, s, tenant, "1.0")
	// in returns a new rollout in the given status.
	in := func(t *testing.T, status string) *schema.Rollout {
		t.Helper()
		r := &schema.Rollout{Tenant: tenant, SoftwareID: sw.ID}
		switch status {
		case schema.RolloutDraft, schema.RolloutRunning, schema.RolloutPaused:
			r.Status = status
			return MustCreateRollout(t, s, r)
		}
		MustCreateRollout(t, s, r)
		r.Status = status
		if err := s.UpdateRollout(ctx, r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	for _, tc := range []struct {
		from, to string
		code     string
	}{
		{schema.RolloutDraft, schema.RolloutRunning, ""},
		{schema.RolloutDraft, schema.RolloutAborted, ""},
		{schema.RolloutDraft, schema.RolloutPaused, schema.ENOTALLOWED},
		{schema.RolloutRunning, schema.RolloutPaused, ""},
		{schema.RolloutRunning, schema.RolloutAborted, ""},
		{schema.RolloutRunning, schema.RolloutRunning, ""},
		{schema.RolloutPaused, schema.RolloutRunning, ""},
		{schema.RolloutPaused, schema.RolloutAborted, ""},
		{schema.RolloutPaused, schema.RolloutPaused, ""},
		{schema.RolloutFinished, schema.RolloutRunning, schema.ENOTALLOWED},
		{schema.RolloutFinished, schema.RolloutPaused, schema.ENOTALLOWED},
		{schema.RolloutFinished, schema.RolloutAborted, schema.ENOTALLOWED},
		{schema.RolloutAborted, schema.RolloutRunning, schema.ENOTALLOWED},
		{schema.RolloutAborted, schema.RolloutPaused, schema.ENOTALLOWED},
		{schema.RolloutAborted, schema.RolloutAborted, ""},
		{schema.RolloutRunning, schema.RolloutFinished, schema.EINVALID},
		{schema.RolloutRunning, schema.RolloutDraft, schema.EINVALID},
	} {
		t.Run(tc.from+"/"+tc.to, func(t *testing.T) {
			r := in(t, tc.from)
			got, err := s.SetRolloutStatus(ctx, tenant, r.ID, tc.to)
			wantCode(t, err, tc.code)
			want := tc.to
			if err != nil {
				want = tc.from
			} else if !reflect.DeepEqual(got, mustRollout(t, s, tenant, r.ID)) {
				t.Fatalf("returned %+v, reads %+v", got, mustRollout(t, s, tenant, r.ID))
			}
			if read := mustRollout(t, s, tenant, r.ID); read.Status != want {
				t.Fatalf("status %s, want %s", read.Status, want)
			}
		})
	}
}
