package control_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gosling-ota/gosling/control"
	"github.com/gosling-ota/gosling/schema"
	"github.com/gosling-ota/gosling/schema/sqlite"
)

// clock is a settable Config.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Now().UTC()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fleet is a synthetic fleet in the store, driven as the DDI side would:
// devices in update mode rollout that take what the rollout's open waves
// offer them and report an outcome.
type fleet struct {
	t       *testing.T
	e       *env
	ids     []string
	actions map[string]*schema.Action // device → its action of the rollout
}

// newFleet creates n devices d000… in feed default.
func newFleet(t *testing.T, e *env, n int) *fleet {
	t.Helper()
	f := &fleet{t: t, e: e, actions: make(map[string]*schema.Action)}
	for i := range n {
		id := fmt.Sprintf("d%03d", i)
		d := &schema.Device{Tenant: tenantA, ID: id, UpdateMode: schema.ModeRollout, Feed: schema.DefaultFeed, Provisioned: true}
		if err := e.db.CreateDevice(context.Background(), d); err != nil {
			t.Fatal(err)
		}
		f.ids = append(f.ids, id)
	}
	return f
}

// rollout reads a rollout from the store.
func (f *fleet) rollout(id int64) *schema.Rollout {
	f.t.Helper()
	ro, err := f.e.db.Rollout(context.Background(), tenantA, id)
	if err != nil {
		f.t.Fatal(err)
	}
	return ro
}

// offer creates an action for every device an open wave of the rollout
// covers that has none yet, as a poll would, and returns them in id order.
func (f *fleet) offer(roID int64) []*schema.Action {
	f.t.Helper()
	ro := f.rollout(roID)
	var out []*schema.Action
	if !ro.Offers() {
		return nil
	}
	for _, id := range f.ids {
		if f.actions[id] != nil {
			continue
		}
		w := ro.WaveOf(id)
		if w < 0 {
			continue
		}
		a := &schema.Action{Tenant: tenantA, DeviceID: id, SoftwareID: ro.SoftwareID, RolloutID: ro.ID, Wave: w,
			Download: ro.Download, Update: ro.Update}
		if err := f.e.db.CreateAction(context.Background(), a); err != nil {
			f.t.Fatalf("create action for %s: %v", id, err)
		}
		f.actions[id] = a
		out = append(out, a)
	}
	return out
}

// report records a closing feedback (success or failure) for each action.
func (f *fleet) report(result string, actions ...*schema.Action) {
	f.t.Helper()
	if len(actions) == 0 {
		return
	}
	batch := make([]*schema.Feedback, len(actions))
	for i, a := range actions {
		batch[i] = feedback(a, schema.ExecClosed, result, "done: "+result)
	}
	res, err := f.e.db.RecordFeedback(context.Background(), batch)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			f.t.Fatal(r.Err)
		}
	}
}

// waveSizes computes, independently of the engine, how many of the fleet's
// devices fall first in each wave for the given thresholds.
func (f *fleet) waveSizes(roID int64, thresholds []uint32) []int {
	sizes := make([]int, len(thresholds))
	for _, id := range f.ids {
		b := schema.Bucket(roID, id)
		for k, t := range thresholds {
			if schema.Covers(t, b) {
				sizes[k]++
				break
			}
		}
	}
	return sizes
}

// tick runs one engine tick.
func (e *env) tick(t *testing.T) {
	t.Helper()
	if err := e.srv.Tick(context.Background()); err != nil {
		t.Fatalf("tick: %v", err)
	}
}

// rolloutDetail is GET /rollouts/{id}.
type rolloutDetail struct {
	schema.Rollout
	Stats control.Statistics `json:"stats"`
}

func (e *env) getRollout(t *testing.T, id int64) rolloutDetail {
	t.Helper()
	var ro rolloutDetail
	res := e.request(t, "GET", "/api/v1/rollouts/"+itoa(id), "", nil)
	res.wantStatus(t, 200)
	res.decode(t, &ro)
	return ro
}

// eventTypes lists a rollout's event types.
func (e *env) eventTypes(t *testing.T, id int64) []string {
	t.Helper()
	var list struct {
		Items []schema.RolloutEvent `json:"items"`
		Next  int64                 `json:"next"`
	}
	e.request(t, "GET", "/api/v1/rollouts/"+itoa(id)+"/events?limit=1000", "", nil).decode(t, &list)
	var out []string
	for _, ev := range list.Items {
		out = append(out, ev.Type)
	}
	return out
}

// createRollout posts a rollout and returns it.
func (e *env) createRollout(t *testing.T, body map[string]any) *schema.Rollout {
	t.Helper()
	res := e.json(t, "POST", "/api/v1/rollouts", body)
	res.wantStatus(t, 201)
	var ro schema.Rollout
	res.decode(t, &ro)
	return &ro
}

func wantStats(t *testing.T, what string, got schema.RolloutStats, want schema.RolloutStats) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: stats %+v, want %+v", what, got, want)
	}
}

func TestEngineWavesApprovalFinish(t *testing.T) {
	clk := newClock()
	e := newEnv(t, func(c *control.Config) { c.Now = clk.Now })
	sw := e.mustUpload(t, "", "a.swu", mustSWU(t, "2.0", 300))
	f := newFleet(t, e, 200)
	ro := e.createRollout(t, map[string]any{"name": "staged", "software_id": sw.ID, "draft": true, "waves": []map[string]any{
		{"percent": 10}, {"percent": 50, "approval": true}, {"percent": 100},
	}})
	if ro.Status != schema.RolloutDraft || ro.CurrentWave != -1 || len(ro.Waves) != 3 {
		t.Fatalf("created %+v", ro)
	}
	thresholds := []uint32{schema.PercentThreshold(10), schema.PercentThreshold(50), schema.PercentThreshold(100)}
	sizes := f.waveSizes(ro.ID, thresholds)
	if sizes[0] == 0 || sizes[1] == 0 || sizes[2] == 0 || sizes[0]+sizes[1]+sizes[2] != 200 {
		t.Fatalf("wave sizes %v: pick other ids", sizes)
	}

	// A draft offers nothing, and the statistics show the plan.
	e.tick(t)
	if got := f.offer(ro.ID); len(got) != 0 {
		t.Fatalf("offered %d before wave 0 opened", len(got))
	}
	d := e.getRollout(t, ro.ID)
	wantStats(t, "draft plan", d.Stats.RolloutStats, schema.RolloutStats{Targeted: 200, Pending: 200})
	for k, n := range sizes {
		wantStats(t, fmt.Sprintf("plan wave %d", k), d.Stats.Waves[k], schema.RolloutStats{Targeted: n, Pending: n})
	}

	// Starting opens wave 0 in the request, without waiting for a tick.
	var started schema.Rollout
	e.request(t, "POST", "/api/v1/rollouts/"+itoa(ro.ID)+"/start", "", nil).decode(t, &started)
	got := f.rollout(ro.ID)
	if started.CurrentWave != 0 || got.CurrentWave != 0 || got.Waves[0].Threshold != thresholds[0] || got.Waves[0].OpenedAt.IsZero() {
		t.Fatalf("after start: answered wave %d, stored wave %d %+v", started.CurrentWave, got.CurrentWave, got.Waves[0])
	}
	w0 := f.offer(ro.ID)
	if len(w0) != sizes[0] {
		t.Fatalf("wave 0 offered %d devices, want %d", len(w0), sizes[0])
	}
	// Half succeed: the wave stays.
	f.report(schema.FinishedSuccess, w0[:len(w0)/2]...)
	e.tick(t)
	if got := f.rollout(ro.ID); got.CurrentWave != 0 {
		t.Fatalf("wave advanced at 50%% success")
	}
	d = e.getRollout(t, ro.ID)
	half := len(w0) / 2
	wantStats(t, "wave 0 half", d.Stats.Waves[0], schema.RolloutStats{Targeted: sizes[0], Running: 0, Succeeded: half, Pending: sizes[0] - half})
	f.report(schema.FinishedSuccess, w0[half:]...)
	e.tick(t)
	if got := f.rollout(ro.ID); got.CurrentWave != 1 || got.Waves[1].Threshold != thresholds[1] {
		t.Fatalf("wave 1 did not open: %+v", got)
	}
	w1 := f.offer(ro.ID)
	if len(w1) != sizes[1] {
		t.Fatalf("wave 1 offered %d, want %d", len(w1), sizes[1])
	}
	f.report(schema.FinishedSuccess, w1...)
	e.tick(t)
	got = f.rollout(ro.ID)
	if !got.AwaitingApproval || got.CurrentWave != 1 {
		t.Fatalf("want awaiting approval at wave 1: %+v", got)
	}
	e.tick(t) // waiting stays waiting
	if got := f.rollout(ro.ID); got.CurrentWave != 1 || len(f.offer(ro.ID)) != 0 {
		t.Fatal("wave 2 opened without approval")
	}
	res := e.request(t, "POST", "/api/v1/rollouts/"+itoa(ro.ID)+"/approve", "", nil)
	res.wantStatus(t, 200)
	var approved schema.Rollout
	res.decode(t, &approved)
	if got := f.rollout(ro.ID); got.CurrentWave != 2 || got.AwaitingApproval || approved.CurrentWave != 2 {
		t.Fatalf("approve: %+v", got)
	}
	e.request(t, "POST", "/api/v1/rollouts/"+itoa(ro.ID)+"/approve", "", nil).wantError(t, 409, schema.ENOTALLOWED, "not awaiting approval")
	w2 := f.offer(ro.ID)
	if len(w2) != sizes[2] {
		t.Fatalf("wave 2 offered %d, want %d", len(w2), sizes[2])
	}
	f.report(schema.FinishedSuccess, w2...)
	e.tick(t)
	d = e.getRollout(t, ro.ID)
	if d.Status != schema.RolloutFinished {
		t.Fatalf("status %s, want finished", d.Status)
	}
	wantStats(t, "finished", d.Stats.RolloutStats, schema.RolloutStats{Targeted: 200, Succeeded: 200})
	want := []string{"created", "started", "wave_opened", "success_threshold", "wave_opened", "awaiting_approval", "approved", "wave_opened", "finished"}
	if types := e.eventTypes(t, ro.ID); !slices.Equal(types, want) {
		t.Fatalf("events %v, want %v", types, want)
	}
}

func TestEngineErrorThreshold(t *testing.T) {
	tests := []struct {
		name       string
		rules      map[string]any
		fail, succ int // reported before the tick that trips
		early      int // failures reported first, below min_finished
		want       string
	}{
		{"count pauses after min_finished", map[string]any{"error_count": 2, "min_finished": 5}, 2, 3, 2, schema.RolloutPaused},
		{"percent aborts", map[string]any{"error_percent": 50, "min_finished": 4, "on_error": "abort"}, 2, 2, 1, schema.RolloutAborted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			sw := e.mustUpload(t, "", "a.swu", mustSWU(t, "2.0", 300))
			f := newFleet(t, e, 100)
			ro := e.createRollout(t, map[string]any{"name": "r", "software_id": sw.ID, "rules": tt.rules,
				"waves": []map[string]any{{"percent": 30}, {"percent": 100}}})
			e.tick(t)
			w0 := f.offer(ro.ID)
			if len(w0) < tt.fail+tt.succ+1 {
				t.Fatalf("wave 0 has only %d devices", len(w0))
			}
			// Failures below min_finished do not trip.
			f.report(schema.FinishedFailure, w0[:tt.early]...)
			e.tick(t)
			if got := f.rollout(ro.ID); got.Status != schema.RolloutRunning {
				t.Fatalf("tripped below min_finished: %+v", got)
			}
			f.report(schema.FinishedFailure, w0[tt.early:tt.fail]...)
			f.report(schema.FinishedSuccess, w0[tt.fail:tt.fail+tt.succ]...)
			e.tick(t)
			got := f.rollout(ro.ID)
			if got.Status != tt.want || got.Reason == "" || got.CurrentWave != 0 {
				t.Fatalf("after the threshold: %+v", got)
			}
			if types := e.eventTypes(t, ro.ID); types[len(types)-1] != "error_threshold" {
				t.Fatalf("events %v", types)
			}
			// No further device is offered the software.
			if n := len(f.offer(ro.ID)); n != 0 {
				t.Fatalf("offered %d devices after the error rule tripped", n)
			}
			d := e.getRollout(t, ro.ID)
			open := len(w0) - tt.fail - tt.succ
			wantStats(t, "tripped wave 0", d.Stats.Waves[0], schema.RolloutStats{Targeted: len(w0), Running: 0, Succeeded: tt.succ, Failed: tt.fail, Pending: open})

			if tt.want == schema.RolloutAborted {
				e.request(t, "POST", "/api/v1/rollouts/"+itoa(ro.ID)+"/resume", "", nil).wantError(t, 409, schema.ENOTALLOWED, "aborted")
				// The operator also cancels what is still open.
				e.bus.take()
				res := e.json(t, "POST", "/api/v1/rollouts/"+itoa(ro.ID)+"/abort", map[string]any{"cancel_actions": true})
				res.wantStatus(t, 200)
				if inv := e.bus.take(); len(inv) != open+1 {
					t.Fatalf("invalidations %d, want %d devices + the catalog", len(inv), open)
				}
				a, err := e.db.Action(context.Background(), tenantA, w0[len(w0)-1].DeviceID, w0[len(w0)-1].ID)
				if err != nil || a.Status != schema.ActionCanceling {
					t.Fatalf("open action after abort+cancel: %+v, %v", a, err)
				}
				return
			}
			// Resume accepts the failures so far: the next tick does not
			// pause again, and the wave completes once the rest succeed.
			e.request(t, "POST", "/api/v1/rollouts/"+itoa(ro.ID)+"/resume", "", nil).wantStatus(t, 200)
			e.tick(t)
			if got := f.rollout(ro.ID); got.Status != schema.RolloutRunning || got.Waves[0].AcceptedFailures != tt.fail {
				t.Fatalf("after resume: %+v", got)
			}
			// One more failure is new: count 1 < error_count 2 stays running.
			f.report(schema.FinishedFailure, w0[tt.fail+tt.succ])
			e.tick(t)
			if got := f.rollout(ro.ID); got.Status != schema.RolloutRunning {
				t.Fatalf("paused again by accepted failures: %+v", got)
			}
		})
	}
}

func TestEngineCountWaves(t *testing.T) {
	e := newEnv(t)
	sw := e.mustUpload(t, "", "a.swu", mustSWU(t, "2.0", 300))
	f := newFleet(t, e, 30)
	ro := e.createRollout(t, map[string]any{"name": "c", "software_id": sw.ID, "waves": []map[string]any{
		{"count": 5}, {"count": 12}, {"count": 100},
	}})
	cum := 0
	for k, want := range []int{5, 7, 18} {
		e.tick(t)
		got := f.rollout(ro.ID)
		if got.CurrentWave != k {
			t.Fatalf("wave %d did not open: %+v", k, got)
		}
		acts := f.offer(ro.ID)
		if len(acts) != want {
			t.Fatalf("wave %d offered %d devices, want %d", k, len(acts), want)
		}
		cum += want
		d := e.getRollout(t, ro.ID)
		if d.Stats.Waves[k].Targeted != want {
			t.Fatalf("wave %d targeted %d, want %d", k, d.Stats.Waves[k].Targeted, want)
		}
		f.report(schema.FinishedSuccess, acts...)
	}
	if got := f.rollout(ro.ID); got.Waves[2].Threshold != ^uint32(0) {
		t.Fatalf("count ≥ fleet: threshold %d, want all", got.Waves[2].Threshold)
	}
	e.tick(t)
	if d := e.getRollout(t, ro.ID); d.Status != schema.RolloutFinished || d.Stats.Succeeded != 30 || cum != 30 {
		t.Fatalf("after last wave: %+v", d)
	}
}

func TestEngineStartAtAndDraft(t *testing.T) {
	clk := newClock()
	e := newEnv(t, func(c *control.Config) { c.Now = clk.Now })
	sw := e.mustUpload(t, "", "a.swu", mustSWU(t, "2.0", 300))
	newFleet(t, e, 10)
	later := e.createRollout(t, map[string]any{"name": "later", "software_id": sw.ID, "start_at": clk.Now().Add(time.Hour)})
	draft := e.createRollout(t, map[string]any{"name": "draft", "software_id": sw.ID, "draft": true})
	if draft.Status != schema.RolloutDraft {
		t.Fatalf("draft status %s", draft.Status)
	}
	e.tick(t)
	for _, id := range []int64{later.ID, draft.ID} {
		if got := e.getRollout(t, id); got.CurrentWave != -1 {
			t.Fatalf("rollout %d opened a wave early: %+v", id, got.Rollout)
		}
	}
	e.request(t, "POST", "/api/v1/rollouts/"+itoa(draft.ID)+"/pause", "", nil).wantError(t, 409, schema.ENOTALLOWED, "draft")
	e.request(t, "POST", "/api/v1/rollouts/"+itoa(draft.ID)+"/start", "", nil).wantStatus(t, 200)
	e.tick(t)
	if got := e.getRollout(t, draft.ID); got.Status != schema.RolloutRunning || got.CurrentWave != 0 {
		t.Fatalf("started draft: %+v", got.Rollout)
	}
	clk.add(time.Hour)
	e.tick(t)
	if got := e.getRollout(t, later.ID); got.CurrentWave != 0 {
		t.Fatalf("start_at passed, wave 0 not open: %+v", got.Rollout)
	}
}

// racingStore pauses the rollout (as an operator would) between the
// engine's read and its write, once.
type racingStore struct {
	*sqlite.DB
	once sync.Once
	race func(id int64)
}

func (s *racingStore) UpdateRollout(ctx context.Context, r *schema.Rollout) error {
	s.once.Do(func() { s.race(r.ID) })
	return s.DB.UpdateRollout(ctx, r)
}

func TestEngineRaceWithOperator(t *testing.T) {
	var rs *racingStore
	e := newEnvStore(t, func(db *sqlite.DB) control.Store {
		rs = &racingStore{DB: db}
		return rs
	})
	sw := e.mustUpload(t, "", "a.swu", mustSWU(t, "2.0", 300))
	newFleet(t, e, 10)
	rs.race = func(id int64) {
		if _, err := rs.DB.SetRolloutStatus(context.Background(), tenantA, id, schema.RolloutPaused); err != nil {
			t.Error(err)
		}
	}
	// The step that creating a running rollout takes races with the pause.
	ro := e.createRollout(t, map[string]any{"name": "r", "software_id": sw.ID})
	e.tick(t)
	got := e.getRollout(t, ro.ID)
	if got.Status != schema.RolloutPaused || got.CurrentWave != -1 {
		t.Fatalf("the engine overwrote the operator's pause: %+v", got.Rollout)
	}
	if types := e.eventTypes(t, ro.ID); slices.Contains(types, "wave_opened") {
		t.Fatalf("events %v: a wave opened on a paused rollout", types)
	}
}

func TestRolloutCreateValidation(t *testing.T) {
	e := newEnv(t)
	sw := e.mustUpload(t, "", "a.swu", mustSWU(t, "2.0", 300))
	tests := []struct {
		name string
		body map[string]any
		msg  string
	}{
		{"percent and count", map[string]any{"waves": []map[string]any{{"percent": 10, "count": 3}}}, "exactly one of percent and count"},
		{"not cumulative", map[string]any{"waves": []map[string]any{{"percent": 50}, {"percent": 10}}}, "cumulative"},
		{"percent range", map[string]any{"waves": []map[string]any{{"percent": 120}}}, "percent 120"},
		{"on_error", map[string]any{"rules": map[string]any{"on_error": "explode"}}, "on_error"},
		{"handling", map[string]any{"update": "soon"}, `update "soon"`},
		{"window", map[string]any{"maintenance_window": map[string]any{"start": "25:00", "duration": "1h"}}, "HH:MM"},
		{"target mode", map[string]any{"target": map[string]any{"update_mode": "latest"}}, "update_mode"},
		{"target feed", map[string]any{"feed": "a", "target": map[string]any{"feed": "b"}}, "differs"},
		{"target unknown field", map[string]any{"target": map[string]any{"colour": "red"}}, "unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.body["name"], tt.body["software_id"] = "x", sw.ID
			e.json(t, "POST", "/api/v1/rollouts", tt.body).wantError(t, 400, schema.EINVALID, tt.msg)
		})
	}
	ro := e.createRollout(t, map[string]any{"name": "full", "software_id": sw.ID, "target": map[string]any{"tags": []string{"lab"}},
		"rules": map[string]any{"error_count": 3, "on_error": "abort"}, "waves": []map[string]any{{"percent": 5, "error_count": 1}, {"percent": 100}},
		"update": "attempt", "max_concurrent": 7, "maintenance_window": map[string]any{"start": "02:00", "duration": "2h", "location": "Europe/Berlin"}})
	if ro.Waves[0].ErrorCount != 1 || ro.Waves[1].ErrorCount != 3 || ro.Waves[0].OnError != "abort" || ro.Update != "attempt" ||
		ro.Download != "forced" || ro.MaxConcurrent != 7 || ro.Window == nil || ro.Target == nil || ro.Target.Tags[0] != "lab" {
		t.Fatalf("created %+v", ro)
	}
}

// TestEngineStepsInRequest: creating a running rollout opens wave 0 in the
// request, and resuming one whose wave already met its success threshold
// opens the next wave in the request; a future start_at waits.
func TestEngineStepsInRequest(t *testing.T) {
	clk := newClock()
	e := newEnv(t, func(c *control.Config) { c.Now = clk.Now })
	sw := e.mustUpload(t, "", "a.swu", mustSWU(t, "2.0", 300))
	f := newFleet(t, e, 40)
	later := e.createRollout(t, map[string]any{"name": "later", "software_id": sw.ID, "start_at": clk.Now().Add(time.Hour)})
	if later.CurrentWave != -1 {
		t.Fatalf("start_at in an hour: wave %d opened at creation", later.CurrentWave)
	}
	e.request(t, "DELETE", "/api/v1/rollouts/"+itoa(later.ID), "", nil).wantStatus(t, 204)

	ro := e.createRollout(t, map[string]any{"name": "now", "software_id": sw.ID,
		"rules": map[string]any{"error_count": 1}, "waves": []map[string]any{{"percent": 50}, {"percent": 100}}})
	if ro.CurrentWave != 0 || ro.Waves[0].Threshold == 0 {
		t.Fatalf("created running: wave %d %+v, want wave 0 open", ro.CurrentWave, ro.Waves[0])
	}
	w0 := f.offer(ro.ID)
	if len(w0) == 0 {
		t.Fatal("wave 0 offers nothing")
	}
	// One failure pauses; the operator resumes (accepting it) after the
	// rest succeeded, and wave 1 opens in the resume request.
	f.report(schema.FinishedFailure, w0[0])
	e.tick(t)
	if got := f.rollout(ro.ID); got.Status != schema.RolloutPaused {
		t.Fatalf("after a failure: %s, want paused", got.Status)
	}
	f.report(schema.FinishedSuccess, w0[1:]...)
	var resumed schema.Rollout
	e.request(t, "POST", "/api/v1/rollouts/"+itoa(ro.ID)+"/resume", "", nil).decode(t, &resumed)
	// success_percent 100 of wave 0 is not met (one failed): no step.
	if resumed.Status != schema.RolloutRunning || resumed.CurrentWave != 0 {
		t.Fatalf("resumed: %+v", resumed)
	}
	e.request(t, "POST", "/api/v1/rollouts/"+itoa(ro.ID)+"/pause", "", nil).wantStatus(t, 200)
	// Lower the bar through the store, as an operator's edit would.
	stored := f.rollout(ro.ID)
	stored.Waves[0].SuccessPercent = 50
	if err := e.db.UpdateRollout(context.Background(), stored); err != nil {
		t.Fatal(err)
	}
	e.request(t, "POST", "/api/v1/rollouts/"+itoa(ro.ID)+"/resume", "", nil).decode(t, &resumed)
	if resumed.CurrentWave != 1 || f.rollout(ro.ID).CurrentWave != 1 {
		t.Fatalf("resume with wave 0 done: answered wave %d, want 1 opened in the request", resumed.CurrentWave)
	}
	want := []string{"created", "wave_opened", "error_threshold", "resumed", "paused", "resumed", "success_threshold", "wave_opened"}
	if types := e.eventTypes(t, ro.ID); !slices.Equal(types, want) {
		t.Fatalf("events %v, want %v", types, want)
	}
}
