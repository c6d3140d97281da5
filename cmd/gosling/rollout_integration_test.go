package main_test

// A fleet of simulated DDI devices (testenv.Fleet, real HTTP) goes through
// staged rollouts on the production topology: one control plane, two
// frontlines, Postgres and Redis. Every device sends its requests to the
// two frontlines in turn, so feedback on the same rollout arrives through
// both at once. The statistics the admin API reports are compared with
// what the devices really did, device by device.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gosling-ota/gosling/cmd/gosling/testenv"
	"github.com/gosling-ota/gosling/schema"
)

const (
	fleetSize = 300
	// fleetRounds bounds the rounds one wait for a rollout state may take;
	// a round is every device polling once (a few hundred ms), the engine
	// ticks every second.
	fleetRounds = 40
	// fleetRoundGap spaces the rounds, so a wait spans engine ticks
	// without hammering the frontlines with polls that find nothing.
	fleetRoundGap = 150 * time.Millisecond
)

// rolloutView is GET /api/v1/rollouts/{id}.
type rolloutView struct {
	schema.Rollout
	Stats struct {
		schema.RolloutStats
		Waves []schema.RolloutStats `json:"waves"`
	} `json:"stats"`
}

func getRolloutView(t *testing.T, g *testenv.Gosling, id int64) rolloutView {
	t.Helper()
	var v rolloutView
	adminDecode(t, g, "GET", fmt.Sprintf("/api/v1/rollouts/%d", id), nil, &v)
	return v
}

// adminDecode sends an admin request that must answer 200 or 201 and
// decodes the answer into v.
func adminDecode(t *testing.T, g *testenv.Gosling, method, path string, body, v any) {
	t.Helper()
	obj := g.MustJSON(t, http.StatusOK, method, path, body)
	b, _ := json.Marshal(obj)
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s %s: %v: %s", method, path, err, b)
	}
}

// rolloutActions lists every action of a rollout through the admin API.
func rolloutActions(t *testing.T, g *testenv.Gosling, id int64) []schema.Action {
	t.Helper()
	var all []schema.Action
	for off := 0; ; off += 1000 {
		var page struct {
			Items []schema.Action `json:"items"`
			Total int             `json:"total"`
		}
		adminDecode(t, g, "GET", fmt.Sprintf("/api/v1/rollouts/%d/actions?limit=1000&offset=%d", id, off), nil, &page)
		all = append(all, page.Items...)
		if len(page.Items) < 1000 {
			return all
		}
	}
}

// eventTypes lists a rollout's event types through the admin API.
func eventTypes(t *testing.T, g *testenv.Gosling, id int64) []string {
	t.Helper()
	var list struct {
		Items []schema.RolloutEvent `json:"items"`
	}
	adminDecode(t, g, "GET", fmt.Sprintf("/api/v1/rollouts/%d/events?limit=1000", id), nil, &list)
	var out []string
	for _, e := range list.Items {
		out = append(out, e.Type)
	}
	return out
}

// waveBy returns the wave whose threshold first covers the device: the
// stored thresholds of open waves, and for waves not open yet the one a
// percent wave will get, as the statistics do.
func waveBy(ro *schema.Rollout, id string) int {
	b := schema.Bucket(ro.ID, id)
	var prev uint32
	for k, w := range ro.Waves {
		th := w.Threshold
		if k > ro.CurrentWave {
			th = max(schema.PercentThreshold(w.Percent), prev)
		}
		if schema.Covers(th, b) {
			return k
		}
		prev = max(prev, th)
	}
	return -1
}

// fleetRun drives a fleet in rounds.
type fleetRun struct {
	t      *testing.T
	fleet  *testenv.Fleet
	rounds int
	took   time.Duration
	offers int
}

// round runs one round and fails the test on any unexpected answer.
func (r *fleetRun) round() testenv.RoundStats {
	r.t.Helper()
	st, err := r.fleet.Round()
	if err != nil {
		r.t.Fatalf("fleet round %d: %v", r.rounds+1, err)
	}
	r.rounds++
	r.took += st.Took
	r.offers += st.Offers
	return st
}

// until runs rounds until cond accepts the rollout, at most fleetRounds.
func (r *fleetRun) until(g *testenv.Gosling, id int64, what string, cond func(v rolloutView) bool) rolloutView {
	r.t.Helper()
	for i := 0; ; i++ {
		v := getRolloutView(r.t, g, id)
		if cond(v) {
			return v
		}
		if i == fleetRounds {
			r.t.Fatalf("rollout %d not %s after %d rounds: status %s wave %d awaiting %v reason %q stats %+v",
				id, what, fleetRounds, v.Status, v.CurrentWave, v.AwaitingApproval, v.Reason, v.Stats)
		}
		r.round()
		time.Sleep(fleetRoundGap)
	}
}

// wantExactStats compares a rollout's statistics with the fleet's record:
// for each targeted device, its last action of the rollout's version
// (every action of the version must be one of the rollout's, and the
// admin API must list exactly those) decides succeeded or failed; a
// device that started on the version is in sync (succeeded); the rest
// are pending. Each action's recorded wave must be the device's wave.
func wantExactStats(t *testing.T, g *testenv.Gosling, fleet *testenv.Fleet, ids []string, v rolloutView, version string) {
	t.Helper()
	ro := &v.Rollout
	apiActions := map[int64]schema.Action{}
	for _, a := range rolloutActions(t, g, ro.ID) {
		apiActions[a.ID] = a
	}
	want := make([]schema.RolloutStats, len(ro.Waves))
	simActions := 0
	for _, id := range ids {
		d := fleet.Device(id)
		k := waveBy(ro, id)
		if k < 0 {
			t.Fatalf("device %s is in no wave of rollout %d", id, ro.ID)
		}
		w := &want[k]
		w.Targeted++
		var last *testenv.SimAction
		for i := range d.Actions {
			a := &d.Actions[i]
			if a.Version != version {
				continue
			}
			simActions++
			got, ok := apiActions[a.ID]
			switch {
			case !ok:
				t.Errorf("device %s: action %d (version %s) is not listed as an action of rollout %d", id, a.ID, version, ro.ID)
			case got.DeviceID != id || got.Wave != k:
				t.Errorf("action %d: device %s wave %d, want device %s wave %d", a.ID, got.DeviceID, got.Wave, id, k)
			case ro.Offers() && got.Wave != ro.WaveOf(id):
				t.Errorf("action %d: wave %d, schema.Rollout.WaveOf says %d", a.ID, got.Wave, ro.WaveOf(id))
			case got.Status != map[bool]schema.ActionStatus{true: schema.ActionFailed, false: schema.ActionSucceeded}[a.Failed]:
				t.Errorf("action %d of %s: status %s, but the device reported failed=%v", a.ID, id, got.Status, a.Failed)
			}
			last = a
		}
		switch {
		case last != nil && last.Failed:
			w.Failed++
		case last != nil:
			w.Succeeded++
		case fleetStartVersion(id) == version:
			w.Succeeded++ // already in sync, never offered
		default:
			w.Pending++
		}
	}
	if simActions != len(apiActions) {
		t.Errorf("rollout %d: the devices saw %d actions of version %s, the admin API lists %d", ro.ID, simActions, version, len(apiActions))
	}
	var total schema.RolloutStats
	for k, w := range want {
		if v.Stats.Waves[k] != w {
			t.Errorf("rollout %d wave %d: stats %+v, the devices' record says %+v", ro.ID, k, v.Stats.Waves[k], w)
		}
		total.Targeted += w.Targeted
		total.Pending += w.Pending
		total.Succeeded += w.Succeeded
		total.Failed += w.Failed
	}
	if v.Stats.RolloutStats != total {
		t.Errorf("rollout %d: total stats %+v, the devices' record says %+v", ro.ID, v.Stats.RolloutStats, total)
	}
	t.Logf("rollout %d (%s): stats %+v, waves %+v", ro.ID, v.Status, v.Stats.RolloutStats, v.Stats.Waves)
}

// fleetStartVersion is the version a fleet device starts on: one in 30
// already runs 2.0.0, the version of rollout A.
func fleetStartVersion(id string) string {
	var n int
	fmt.Sscanf(id, "fleet-%d", &n)
	if n%30 == 7 {
		return "2.0.0"
	}
	return "1.0.0"
}

// sseEvents reads a rollout's event stream (follow=1) over HTTP until its
// "end" event or ctx ends, and returns the types of the events read.
func sseEvents(ctx context.Context, g *testenv.Gosling, id int64) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/api/v1/rollouts/%d/events?follow=1", g.AdminURL, id), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+g.AdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(ct, "text/event-stream") {
		return nil, fmt.Errorf("event stream: status %d, content type %q", resp.StatusCode, ct)
	}
	var (
		types []string
		name  string
	)
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
			if name == "end" {
				return types, nil
			}
		case strings.HasPrefix(line, "data: ") && (name == "" || name == "message"):
			var e schema.RolloutEvent
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &e); err != nil {
				return types, fmt.Errorf("event data %q: %v", line, err)
			}
			types = append(types, e.Type)
		case line == "":
			name = ""
		}
	}
	return types, fmt.Errorf("event stream ended without an end event: %v", sc.Err())
}

// TestRolloutFleet: 300 simulated devices through two frontlines.
//
// A: a 3-wave rollout (10%, 50% with approval, 100%) with a success
// threshold of 90% and an error rule (30% of at least 10 finished devices
// pauses). Every device succeeds; devices that already run the version
// count as succeeded without an action. Wave 1 waits for approval until
// POST …/approve; the rollout ends finished, and its event stream (SSE,
// follow=1) delivers the whole history up to its end event.
//
// B: the fleet moves to another feed (a bulk change) and a second software
// is rolled out there the same way, but half of wave 1's devices fail: the
// rollout pauses by itself with a reason and an error_threshold event, and
// then no device is offered the software any more, however often they
// poll; wave 2's devices never get an action.
//
// In both, the statistics per wave and in total equal the devices' own
// record exactly.
func TestRolloutFleet(t *testing.T) {
	start := time.Now()
	top, _, _ := startTopology(t)
	ctl := top.Control
	startup := time.Since(start)

	attrs := func(id string) map[string]string {
		return map[string]string{"hw_model": "simboard", "hw_revision": "1.0", "sw_version": fleetStartVersion(id)}
	}
	ids := make([]string, fleetSize)
	for i := range ids {
		ids[i] = fmt.Sprintf("fleet-%03d", i)
	}
	fleet := testenv.NewFleet(testenv.FleetOpts{Frontlines: top.Frontlines, IDs: ids, Attributes: attrs, Workers: 8})
	run := &fleetRun{t: t, fleet: fleet}
	swA, _ := uploadSWU(t, ctl, testenv.SWUSpec{Version: "2.0.0", Board: "simboard", Revisions: []string{"1.0"}})
	swB, _ := uploadSWU(t, ctl, testenv.SWUSpec{Version: "3.0.0", Board: "simboard", Revisions: []string{"1.0"}})

	// Registration: a first poll and configData from every device.
	if st := run.round(); st.Offers != 0 {
		t.Fatalf("registration round: %d offers before any rollout", st.Offers)
	}
	rules := map[string]any{"success_percent": 90, "error_percent": 30, "min_finished": 10, "on_error": "pause"}
	target := map[string]any{"hw_model": "simboard"}

	// Scenario A.
	phase := time.Now()
	var a rolloutView
	a.Rollout.ID = ctl.MustJSON(t, http.StatusCreated, "POST", "/api/v1/rollouts", map[string]any{
		"name": "fleet-a", "software_id": swA, "target": target, "rules": rules,
		"waves": []map[string]any{{"percent": 10}, {"percent": 50, "approval": true}, {"percent": 100}},
	}).Int("id")
	if v := getRolloutView(t, ctl, a.ID); v.CurrentWave != 0 {
		t.Fatalf("rollout A created running: wave %d, want wave 0 open at once", v.CurrentWave)
	}
	var (
		sseWG    sync.WaitGroup
		sseTypes []string
		sseErr   error
	)
	sseCtx, sseCancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer sseCancel()
	sseWG.Add(1)
	go func() {
		defer sseWG.Done()
		sseTypes, sseErr = sseEvents(sseCtx, ctl, a.ID)
	}()

	a = run.until(ctl, a.ID, "awaiting approval", func(v rolloutView) bool { return v.AwaitingApproval })
	if a.CurrentWave != 1 || a.Status != schema.RolloutRunning {
		t.Fatalf("awaiting approval at wave %d, status %s; want wave 1 running", a.CurrentWave, a.Status)
	}
	for range 2 {
		if st := run.round(); st.Offers != 0 {
			t.Fatalf("awaiting approval: %d devices offered the software", st.Offers)
		}
	}
	var approved schema.Rollout
	adminDecode(t, ctl, "POST", fmt.Sprintf("/api/v1/rollouts/%d/approve", a.ID), nil, &approved)
	if approved.CurrentWave != 2 || approved.AwaitingApproval {
		t.Fatalf("approve answered wave %d awaiting %v; want wave 2 open", approved.CurrentWave, approved.AwaitingApproval)
	}
	a = run.until(ctl, a.ID, "finished", func(v rolloutView) bool { return v.Status == schema.RolloutFinished })
	phaseA := time.Since(phase)
	wantExactStats(t, ctl, fleet, ids, a, "2.0.0")
	if a.Stats.Succeeded != fleetSize || a.Stats.Failed != 0 {
		t.Errorf("rollout A: %d of %d succeeded, %d failed", a.Stats.Succeeded, fleetSize, a.Stats.Failed)
	}
	sseWG.Wait()
	if sseErr != nil {
		t.Fatalf("rollout A event stream: %v", sseErr)
	}
	if types := eventTypes(t, ctl, a.ID); !slices.Equal(sseTypes, types) {
		t.Errorf("event stream %v, event list %v", sseTypes, types)
	}
	for _, want := range []string{"wave_opened", "success_threshold", "awaiting_approval", "approved", "finished"} {
		if !slices.Contains(sseTypes, want) {
			t.Errorf("event stream %v lacks %s", sseTypes, want)
		}
	}

	// Scenario B, on another feed: rollout A (finished, on the default
	// feed) would otherwise decide for the devices again while B is
	// paused (the newest rollout that offers wins).
	bulk := ctl.MustJSON(t, http.StatusOK, "POST", "/api/v1/devices/bulk", map[string]any{
		"target": target, "set": map[string]any{"feed": "fleet-b"}})
	if bulk.Int("updated") != fleetSize {
		t.Fatalf("bulk feed change: %s", bulk)
	}
	phase = time.Now()
	var b rolloutView
	b.Rollout.ID = ctl.MustJSON(t, http.StatusCreated, "POST", "/api/v1/rollouts", map[string]any{
		"name": "fleet-b", "feed": "fleet-b", "software_id": swB, "target": target, "rules": rules,
		"waves": []map[string]any{{"percent": 10}, {"percent": 50}, {"percent": 100}},
	}).Int("id")
	t10, t50 := schema.PercentThreshold(10), schema.PercentThreshold(50)
	failing := 0
	fails := func(id string) bool {
		bk := schema.Bucket(b.ID, id)
		h := fnv.New32a()
		h.Write([]byte(id))
		return bk >= t10 && bk < t50 && h.Sum32()%2 == 0
	}
	for _, id := range ids {
		if fails(id) {
			failing++
		}
	}
	fleet.SetFail(func(id, version string) bool { return version == "3.0.0" && fails(id) })
	b = run.until(ctl, b.ID, "paused", func(v rolloutView) bool { return v.Status != schema.RolloutRunning })
	pausedAt := time.Now()
	if b.Status != schema.RolloutPaused || b.Reason == "" || b.CurrentWave != 1 {
		t.Fatalf("rollout B: status %s, wave %d, reason %q; want paused in wave 1 with a reason", b.Status, b.CurrentWave, b.Reason)
	}
	if types := eventTypes(t, ctl, b.ID); !slices.Contains(types, "error_threshold") {
		t.Fatalf("rollout B events %v lack error_threshold", types)
	}
	before := len(rolloutActions(t, ctl, b.ID))
	// A few poll intervals (1s) of every device polling: nothing new.
	for time.Since(pausedAt) < 3*time.Second {
		if st := run.round(); st.Offers != 0 {
			t.Fatalf("rollout B paused: %d devices offered software in a round", st.Offers)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if after := len(rolloutActions(t, ctl, b.ID)); after != before {
		t.Fatalf("rollout B paused: %d actions, then %d", before, after)
	}
	phaseB := time.Since(phase)
	b = getRolloutView(t, ctl, b.ID)
	for _, id := range ids {
		if waveBy(&b.Rollout, id) != 2 {
			continue
		}
		for _, act := range fleet.Device(id).Actions {
			if act.Version == "3.0.0" {
				t.Errorf("device %s of wave 2 got action %d of the paused rollout", id, act.ID)
			}
		}
	}
	wantExactStats(t, ctl, fleet, ids, b, "3.0.0")
	if b.Stats.Waves[1].Failed == 0 || b.Stats.Waves[2].Pending != b.Stats.Waves[2].Targeted {
		t.Errorf("rollout B waves %+v: want failures in wave 1 and wave 2 untouched", b.Stats.Waves)
	}
	t.Logf("reason: %s", b.Reason)
	t.Logf("timing: topology %v; A (3 waves, approval) %v; B (pause + 3s of polls) %v; %d rounds, %v in rounds, %d offers; wave-1 devices chosen to fail in B: %d; total %v",
		startup.Round(time.Millisecond), phaseA.Round(time.Millisecond), phaseB.Round(time.Millisecond),
		run.rounds, run.took.Round(time.Millisecond), run.offers, failing, time.Since(start).Round(time.Millisecond))
}
