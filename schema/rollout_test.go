package schema_test

import (
	"slices"
	"testing"
	"time"

	"github.com/gosling-ota/gosling/schema"
)

func TestRolloutPrepareCreate(t *testing.T) {
	tests := []struct {
		name     string
		r        schema.Rollout
		wantCode string
		check    func(t *testing.T, r *schema.Rollout)
	}{
		{"defaults", schema.Rollout{CurrentWave: 2}, "", func(t *testing.T, r *schema.Rollout) {
			if r.Status != schema.RolloutRunning || r.Feed != schema.DefaultFeed || r.Download != schema.HandlingForced ||
				r.Update != schema.HandlingForced || len(r.Waves) != 1 || r.Waves[0].Percent != 100 || r.CurrentWave != -1 {
				t.Errorf("defaults not applied: %+v", r)
			}
		}},
		{"draft", schema.Rollout{Status: schema.RolloutDraft}, "", nil},
		{"paused", schema.Rollout{Status: schema.RolloutPaused}, "", nil},
		{"zero target is nil", schema.Rollout{Target: &schema.Target{}}, "", func(t *testing.T, r *schema.Rollout) {
			if r.Target != nil {
				t.Errorf("Target = %+v, want nil", r.Target)
			}
		}},
		{"finished", schema.Rollout{Status: schema.RolloutFinished}, schema.EINVALID, nil},
		{"aborted", schema.Rollout{Status: schema.RolloutAborted}, schema.EINVALID, nil},
		{"unknown status", schema.Rollout{Status: "stopped"}, schema.EINVALID, nil},
		{"skip handling", schema.Rollout{Download: schema.HandlingSkip}, schema.EINVALID, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.r
			if got := schema.ErrorCode(r.PrepareCreate()); got != tt.wantCode {
				t.Fatalf("PrepareCreate code = %q, want %q", got, tt.wantCode)
			}
			if tt.check != nil {
				tt.check(t, &r)
			}
		})
	}
}

func TestRolloutValidate(t *testing.T) {
	valid := func(mut func(r *schema.Rollout)) schema.Rollout {
		r := schema.Rollout{Status: schema.RolloutRunning, Download: schema.HandlingForced, Update: schema.HandlingAttempt,
			Waves: []schema.Wave{{Percent: 10}, {Count: 50}, {Percent: 100}}, CurrentWave: -1}
		mut(&r)
		return r
	}
	waves := func(w ...schema.Wave) func(r *schema.Rollout) { return func(r *schema.Rollout) { r.Waves = w } }
	tests := []struct {
		name string
		r    schema.Rollout
		want string
	}{
		{"valid", valid(func(*schema.Rollout) {}), ""},
		{"any status", valid(func(r *schema.Rollout) { r.Status = schema.RolloutFinished }), ""},
		{"last wave open", valid(func(r *schema.Rollout) { r.CurrentWave = 2 }), ""},
		{"window", valid(func(r *schema.Rollout) {
			r.Window = &schema.MaintenanceWindow{Start: "02:00", Duration: schema.Duration(time.Hour)}
		}), ""},
		{"wave rules", valid(waves(schema.Wave{Percent: 50, SuccessPercent: 90, ErrorPercent: 5, ErrorCount: 3,
			MinFinished: 10, OnError: schema.OnErrorAbort, AcceptedFailures: 1})), ""},
		{"no status", valid(func(r *schema.Rollout) { r.Status = "" }), schema.EINVALID},
		{"empty handling", valid(func(r *schema.Rollout) { r.Update = "" }), schema.EINVALID},
		{"skip handling", valid(func(r *schema.Rollout) { r.Download = schema.HandlingSkip }), schema.EINVALID},
		{"no waves", valid(waves()), schema.EINVALID},
		{"percent and count", valid(waves(schema.Wave{Percent: 10, Count: 5})), schema.EINVALID},
		{"negative count", valid(waves(schema.Wave{Count: -1})), schema.EINVALID},
		{"zero wave", valid(waves(schema.Wave{})), schema.EINVALID},
		{"percent over 100", valid(waves(schema.Wave{Percent: 101})), schema.EINVALID},
		{"percent decreases", valid(waves(schema.Wave{Percent: 50}, schema.Wave{Count: 3}, schema.Wave{Percent: 40})), schema.EINVALID},
		{"success percent", valid(waves(schema.Wave{Percent: 100, SuccessPercent: 101})), schema.EINVALID},
		{"error percent", valid(waves(schema.Wave{Percent: 100, ErrorPercent: -1})), schema.EINVALID},
		{"negative error count", valid(waves(schema.Wave{Percent: 100, ErrorCount: -1})), schema.EINVALID},
		{"negative min finished", valid(waves(schema.Wave{Percent: 100, MinFinished: -1})), schema.EINVALID},
		{"negative accepted failures", valid(waves(schema.Wave{Percent: 100, AcceptedFailures: -1})), schema.EINVALID},
		{"unknown on_error", valid(waves(schema.Wave{Percent: 100, OnError: "retry"})), schema.EINVALID},
		{"current wave below -1", valid(func(r *schema.Rollout) { r.CurrentWave = -2 }), schema.EINVALID},
		{"current wave past the last", valid(func(r *schema.Rollout) { r.CurrentWave = 3 }), schema.EINVALID},
		{"negative max_concurrent", valid(func(r *schema.Rollout) { r.MaxConcurrent = -1 }), schema.EINVALID},
		{"bad window", valid(func(r *schema.Rollout) {
			r.Window = &schema.MaintenanceWindow{Start: "25:00", Duration: schema.Duration(time.Hour)}
		}),
			schema.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.r
			err := r.Validate()
			if got := schema.ErrorCode(err); got != tt.want {
				t.Errorf("Validate code = %q (%v), want %q", got, err, tt.want)
			}
			if got := schema.ErrorCode(r.Normalize()); got != tt.want {
				t.Errorf("Normalize code = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRolloutStatusChanges(t *testing.T) {
	all := []string{schema.RolloutDraft, schema.RolloutRunning, schema.RolloutPaused, schema.RolloutFinished, schema.RolloutAborted}
	// allowed[from] lists what an operator may set from there, besides from itself.
	allowed := map[string][]string{
		schema.RolloutDraft:   {schema.RolloutRunning, schema.RolloutAborted},
		schema.RolloutRunning: {schema.RolloutPaused, schema.RolloutAborted},
		schema.RolloutPaused:  {schema.RolloutRunning, schema.RolloutAborted},
	}
	for _, from := range all {
		for _, to := range all {
			t.Run(from+"→"+to, func(t *testing.T) {
				r := &schema.Rollout{ID: 1, Status: from}

				settable := to == schema.RolloutRunning || to == schema.RolloutPaused || to == schema.RolloutAborted
				want := schema.EINVALID
				if settable {
					want = ""
				}
				if got := schema.ErrorCode(schema.CheckSetRolloutStatus(to)); got != want {
					t.Errorf("CheckSetRolloutStatus code = %q, want %q", got, want)
				}
				if settable {
					want := schema.ENOTALLOWED
					if from == to || slices.Contains(allowed[from], to) {
						want = ""
					}
					if got := schema.ErrorCode(r.CanSetStatus(to)); got != want {
						t.Errorf("CanSetStatus code = %q, want %q", got, want)
					}
				}

				want = ""
				if schema.RolloutStatusFinal(from) && from != to {
					want = schema.ENOTALLOWED
				}
				if got := schema.ErrorCode(r.CanUpdateStatus(to)); got != want {
					t.Errorf("CanUpdateStatus code = %q, want %q", got, want)
				}
			})
		}
	}
}

func TestActionCountsAdd(t *testing.T) {
	c := make(schema.ActionCounts, 2)
	c.Add(0, schema.ActionPending, 1)
	c.Add(0, schema.ActionRunning, 2)
	c.Add(0, schema.ActionCanceling, 3)
	c.Add(1, schema.ActionSucceeded, 4)
	c.Add(5, schema.ActionFailed, 5)    // waves shortened: the last wave
	c.Add(-1, schema.ActionCanceled, 6) // the first wave
	want := schema.ActionCounts{
		{Pending: 1, Running: 5, Canceled: 6},
		{Succeeded: 4, Failed: 5},
	}
	for i := range want {
		if c[i] != want[i] {
			t.Errorf("wave %d: %+v, want %+v", i, c[i], want[i])
		}
	}
}

func TestRolloutEventValidate(t *testing.T) {
	if got := schema.ErrorCode((&schema.RolloutEvent{}).Validate()); got != schema.EINVALID {
		t.Errorf("no type: code %q, want %q", got, schema.EINVALID)
	}
	if err := (&schema.RolloutEvent{Type: "paused"}).Validate(); err != nil {
		t.Errorf("paused: %v", err)
	}
}
