package main_test

// The production topology: one `gosling control` and two `gosling ddi`
// frontlines on a throwaway Postgres and a throwaway Redis, each test with
// its own processes. These tests check what DESIGN.md promises of it: writes
// made on the control plane reach every frontline through invalidations, a
// Redis outage degrades to serving from memory and Postgres, a Postgres
// restart never loses acknowledged feedback, and a real client updates
// through it. Latencies are measured and logged, never asserted; the
// deadlines are correctness bounds (a change that never arrives), with the
// cache TTL set far beyond them so that only an invalidation can make a
// change visible in time.

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gosling-ota/gosling/cache/redistest"
	"github.com/gosling-ota/gosling/cmd/gosling/testenv"
	"github.com/gosling-ota/gosling/schema/postgres/pgtest"
)

const (
	// topoCacheTTL is the frontlines' --cache-ttl: far longer than any
	// test, so a change that shows up did so through an invalidation.
	topoCacheTTL = "10m"
	// topoVisible bounds the time from a write's acknowledgement until
	// both frontlines answer with it. Invalidations typically take
	// milliseconds; this is a correctness bound, not a speed target.
	topoVisible = 5 * time.Second
	// topoRecover bounds how long the topology may take to recover from
	// an outage on its own (Redis: reconnect backoff of at most 2s;
	// Postgres: the pool's next dial).
	topoRecover = 20 * time.Second
)

// startTopology starts a dedicated Postgres cluster, a dedicated Redis
// process (both can be stopped by the test; shared servers could not be,
// and a shared Redis would mix the tests' cache entries) and the topology on
// them.
func startTopology(t *testing.T) (*testenv.Topology, *pgtest.Cluster, *redistest.Server) {
	t.Helper()
	pg := pgtest.StartCluster(t)
	rs := redistest.StartProcess(t)
	top := testenv.StartTopology(t, testenv.TopologyOpts{
		DatabaseURL:  pg.URL(),
		RedisURL:     rs.URL(),
		PollInterval: "1s",
		CacheTTL:     topoCacheTTL,
	})
	return top, pg, rs
}

// pollLinks is what a poll answer offers: the action ids of its
// deploymentBase and cancelAction links (0 when absent).
type pollLinks struct {
	deploy, cancel int64
}

func (l pollLinks) String() string { return fmt.Sprintf("deploy=%d cancel=%d", l.deploy, l.cancel) }

// parsePoll reads a root poll answer.
func parsePoll(body []byte) (pollLinks, error) {
	var a struct {
		Config struct {
			Polling struct {
				Sleep string `json:"sleep"`
			} `json:"polling"`
		} `json:"config"`
		Links map[string]struct {
			Href string `json:"href"`
		} `json:"_links"`
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return pollLinks{}, fmt.Errorf("poll answer %q: %v", body, err)
	}
	if a.Config.Polling.Sleep == "" {
		return pollLinks{}, fmt.Errorf("poll answer %q has no config.polling.sleep", body)
	}
	var l pollLinks
	var err error
	if h := a.Links["deploymentBase"].Href; h != "" {
		l.deploy, err = lastID(h, "/deploymentBase/")
	}
	if h := a.Links["cancelAction"].Href; h != "" && err == nil {
		l.cancel, err = lastID(h, "/cancelAction/")
	}
	return l, err
}

// lastID reads the action id after marker in href (dropping any query).
func lastID(href, marker string) (int64, error) {
	i := strings.LastIndex(href, marker)
	if i < 0 {
		return 0, fmt.Errorf("href %q lacks %s", href, marker)
	}
	s, _, _ := strings.Cut(href[i+len(marker):], "?")
	return strconv.ParseInt(s, 10, 64)
}

func ddiPath(id string) string { return "/DEFAULT/controller/v1/" + id }

// poll polls as device id on frontline f and reads the answer.
func poll(f *testenv.Gosling, id string) (int, pollLinks, error) {
	status, body, err := f.DDIRequest("GET", ddiPath(id), nil)
	if err != nil || status != http.StatusOK {
		return status, pollLinks{}, fmt.Errorf("poll %s on %s: %d %v %q", id, f.DDIURL, status, err, body)
	}
	l, err := parsePoll(body)
	return status, l, err
}

// mustPoll is poll that fails the test on anything but a 200 with a valid
// answer.
func mustPoll(t *testing.T, f *testenv.Gosling, id string) pollLinks {
	t.Helper()
	_, l, err := poll(f, id)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// register makes id known the way a client does: a first poll (which
// registers it) and its configData through frontline f.
func register(t *testing.T, f *testenv.Gosling, id string) {
	t.Helper()
	mustPoll(t, f, id)
	if status, body := f.DDI(t, "PUT", ddiPath(id)+"/configData", map[string]any{
		"data": map[string]string{"hw_model": "devboard", "hw_revision": "1.0", "sw_version": "1.0.0"}, "mode": "merge"}); status != http.StatusOK {
		t.Fatalf("PUT configData of %s: %d %s", id, status, body)
	}
}

// waitVisible polls every device of ids on every frontline until want
// accepts the answer on all of them, and returns the time from since (the
// acknowledgement of the write) until the last of them did. It fails the
// test if that takes longer than topoVisible. The loop is tight (a
// millisecond between rounds) so the measurement is not dominated by the
// polling itself.
func waitVisible(t *testing.T, fronts []*testenv.Gosling, ids []string, since time.Time, what string, want func(pollLinks) bool) time.Duration {
	t.Helper()
	type target struct {
		f  *testenv.Gosling
		id string
	}
	pending := map[target]string{}
	for _, f := range fronts {
		for _, id := range ids {
			pending[target{f, id}] = "not polled yet"
		}
	}
	deadline := since.Add(topoVisible)
	for {
		for tg := range pending {
			_, l, err := poll(tg.f, tg.id)
			switch {
			case err != nil:
				pending[tg] = err.Error()
			case want(l):
				delete(pending, tg)
			default:
				pending[tg] = l.String()
			}
		}
		if len(pending) == 0 {
			return time.Since(since)
		}
		if time.Now().After(deadline) {
			var msgs []string
			for tg, last := range pending {
				msgs = append(msgs, fmt.Sprintf("%s on %s: last answer %s", tg.id, tg.f.DDIURL, last))
			}
			slices.Sort(msgs)
			t.Fatalf("%s: not visible on every frontline within %s of the write:\n%s", what, topoVisible, strings.Join(msgs, "\n"))
		}
		time.Sleep(time.Millisecond)
	}
}

// wantNoOffer polls every device of ids on every frontline for d and fails
// the test if any answer offers a deployment: for writes whose effect is an
// absence, which has no moment at which it becomes visible.
func wantNoOffer(t *testing.T, fronts []*testenv.Gosling, ids []string, d time.Duration, what string) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		for _, f := range fronts {
			for _, id := range ids {
				if l := mustPoll(t, f, id); l.deploy != 0 || l.cancel != 0 {
					t.Fatalf("%s: %s on %s is offered %s, want nothing", what, id, f.DDIURL, l)
				}
			}
		}
	}
}

// ackCancel posts the client's acknowledgement of a cancellation (closed,
// success) through frontline f.
func ackCancel(t *testing.T, f *testenv.Gosling, id string, actionID int64) {
	t.Helper()
	status, body := f.DDI(t, "POST", fmt.Sprintf("%s/cancelAction/%d/feedback", ddiPath(id), actionID),
		map[string]any{"id": strconv.FormatInt(actionID, 10), "status": map[string]any{
			"execution": "closed", "result": map[string]any{"finished": "success"}, "details": []string{"canceled"}}})
	if status != http.StatusOK {
		t.Fatalf("cancel feedback of %s action %d: %d %s", id, actionID, status, body)
	}
}

// latencies collects measured durations by kind.
type latencies struct {
	all    []time.Duration
	byKind map[string][]time.Duration
}

func (l *latencies) add(kind string, d time.Duration) {
	if l.byKind == nil {
		l.byKind = map[string][]time.Duration{}
	}
	l.all = append(l.all, d)
	l.byKind[kind] = append(l.byKind[kind], d)
}

// summary formats n, p50, p99 and max of ds (nearest-rank percentiles).
func summary(ds []time.Duration) string {
	if len(ds) == 0 {
		return "n=0"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := func(p float64) time.Duration {
		i := int(p*float64(len(s))+0.999999) - 1
		return s[min(max(i, 0), len(s)-1)]
	}
	r := func(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
	return fmt.Sprintf("n=%d p50=%v p99=%v max=%v", len(s), r(rank(0.50)), r(rank(0.99)), r(s[len(s)-1]))
}

// TestTopologyInvalidation: every write made through the control plane's
// admin API that changes what a device is offered is answered by both
// frontlines within a bounded time, although their caches would keep the
// old answer for ten minutes: only the invalidation can have carried it.
// The writes (42 measured rounds):
//   - assign: PATCH a pinned device to assigned → both offer the same new
//     deploymentBase (the first frontline to see it opens the action, the
//     other learns of the action through the bus);
//   - cancel: POST …/actions/{id}/cancel → both offer cancelAction;
//   - rollout create and resume → both offer the rollout's deployment to
//     the feed's devices.
//
// Writes whose effect is an absence have no moment to measure and are
// checked for correctness only: pausing a rollout (afterwards, clearing the
// devices' skip must not make any frontline open an action from a stale
// catalog) and pinning a device (which never changes an answer: an open
// action runs on, and without one nothing was offered). The devices' own
// cancel acknowledgements, posted to one frontline, are measured apart:
// that is frontline-to-frontline propagation.
func TestTopologyInvalidation(t *testing.T) {
	top, _, _ := startTopology(t)
	ctl, fronts := top.Control, top.Frontlines
	swID, _ := uploadSWU(t, ctl, testenv.SWUSpec{Version: "2.0.0"})

	assigned := []string{"topo-inv-a0", "topo-inv-a1", "topo-inv-a2", "topo-inv-a3"}
	inFeed := []string{"topo-inv-r0", "topo-inv-r1"}
	for i, id := range append(slices.Clone(assigned), inFeed...) {
		register(t, fronts[i%len(fronts)], id)
	}
	for _, id := range assigned {
		ctl.MustJSON(t, http.StatusOK, "PATCH", "/api/v1/devices/"+id, map[string]any{"update_mode": "pinned"})
	}
	for _, id := range inFeed {
		ctl.MustJSON(t, http.StatusOK, "PATCH", "/api/v1/devices/"+id, map[string]any{"update_mode": "rollout", "feed": "topo"})
	}
	// Warm both frontlines' caches with the answers before the first write.
	for _, f := range fronts {
		for _, id := range append(slices.Clone(assigned), inFeed...) {
			if l := mustPoll(t, f, id); l != (pollLinks{}) {
				t.Fatalf("%s offered %s before any write", id, l)
			}
		}
	}

	var admin, fromDDI latencies
	seq := 0
	// write makes one admin API write and returns when it was acknowledged.
	write := func(want int, method, path string, body any) (time.Time, testenv.Object) {
		t.Helper()
		obj := ctl.MustJSON(t, want, method, path, body)
		return time.Now(), obj
	}
	// offered waits until every device of ids is offered a deployment on
	// both frontlines, the same action on both, and returns the actions.
	offered := func(kind string, ids []string, since time.Time) map[string]int64 {
		t.Helper()
		got := map[string]int64{}
		admin.add(kind, waitVisible(t, fronts, ids, since, kind, func(l pollLinks) bool { return l.deploy != 0 }))
		for _, id := range ids {
			for _, f := range fronts {
				l := mustPoll(t, f, id)
				if prev, ok := got[id]; ok && prev != l.deploy {
					t.Fatalf("%s: %s offered action %d on one frontline and %d on the other", kind, id, prev, l.deploy)
				}
				got[id] = l.deploy
			}
		}
		return got
	}
	// cancelAndAck cancels the device's action through the admin API
	// (measured), then acknowledges it as the device through one frontline
	// (measured apart).
	cancelAndAck := func(id string, actionID int64) {
		t.Helper()
		since, _ := write(http.StatusOK, "POST", fmt.Sprintf("/api/v1/devices/%s/actions/%d/cancel", id, actionID), nil)
		admin.add("cancel", waitVisible(t, fronts, []string{id}, since, "cancel "+id,
			func(l pollLinks) bool { return l.cancel == actionID && l.deploy == 0 }))
		seq++
		ackCancel(t, fronts[seq%len(fronts)], id, actionID)
		fromDDI.add("cancel-ack", waitVisible(t, fronts, []string{id}, time.Now(), "cancel ack "+id,
			func(l pollLinks) bool { return l.cancel == 0 && l.deploy == 0 }))
	}

	for cycle := range 3 {
		for _, id := range assigned {
			since, _ := write(http.StatusOK, "PATCH", "/api/v1/devices/"+id, map[string]any{"update_mode": "assigned", "software_id": swID})
			aid := offered("assign", []string{id}, since)[id]
			cancelAndAck(id, aid)
			ctl.MustJSON(t, http.StatusOK, "PATCH", "/api/v1/devices/"+id, map[string]any{"update_mode": "pinned"})
			wantNoOffer(t, fronts, []string{id}, 50*time.Millisecond, "pinned "+id)
		}

		since, ro := write(http.StatusCreated, "POST", "/api/v1/rollouts", map[string]any{
			"name": fmt.Sprintf("topo-inv-%d", cycle), "feed": "topo", "software_id": swID})
		roPath := fmt.Sprintf("/api/v1/rollouts/%d", ro.Int("id"))
		for id, aid := range offered("rollout-create", inFeed, since) {
			cancelAndAck(id, aid) // the device now skips the software
		}
		// Clearing the skip while the rollout is paused must not offer it.
		pauseAndClearSkip := func() {
			t.Helper()
			ctl.MustJSON(t, http.StatusOK, "POST", roPath+"/pause", nil)
			for _, id := range inFeed {
				ctl.MustJSON(t, http.StatusOK, "PATCH", "/api/v1/devices/"+id, map[string]any{"update_mode": "rollout"})
			}
			wantNoOffer(t, fronts, inFeed, 300*time.Millisecond, "paused rollout")
		}
		pauseAndClearSkip()
		since, _ = write(http.StatusOK, "POST", roPath+"/resume", nil)
		for id, aid := range offered("rollout-resume", inFeed, since) {
			cancelAndAck(id, aid)
		}
		pauseAndClearSkip()
	}

	t.Logf("invalidation latency, admin write acknowledged → both frontlines answer with it: %s", summary(admin.all))
	for _, k := range []string{"assign", "cancel", "rollout-create", "rollout-resume"} {
		t.Logf("  %-15s %s", k, summary(admin.byKind[k]))
	}
	t.Logf("device feedback on one frontline acknowledged → both frontlines answer with it: %s", summary(fromDDI.all))
}

// TestTopologyRedisOutage: with Redis killed, both frontlines keep
// answering polls of devices they have cached (not one failure), and
// serve devices they have not cached (new ones, registering) from Postgres.
// A write made on the control plane meanwhile is committed (the admin API
// answers 200) but need not reach the frontlines: its invalidation travels
// over Redis pub/sub, which is down, so their cached answers stay stale,
// bounded by the cache TTL. Once Redis is back on the same port, every
// process resubscribes by itself (no restart), the frontlines drop what
// they cached (resync), and both the change made during the outage and a
// fresh one are visible on both frontlines within a bounded time.
func TestTopologyRedisOutage(t *testing.T) {
	top, _, rs := startTopology(t)
	ctl, fronts := top.Control, top.Frontlines
	swID, _ := uploadSWU(t, ctl, testenv.SWUSpec{Version: "2.0.0"})

	// Cached devices: three with an open action, three with nothing to do;
	// two more pinned devices for the writes during and after the outage.
	busy := []string{"topo-redis-b0", "topo-redis-b1", "topo-redis-b2"}
	idle := []string{"topo-redis-i0", "topo-redis-i1", "topo-redis-i2"}
	const during, after = "topo-redis-during", "topo-redis-after"
	all := append(append(slices.Clone(busy), idle...), during, after)
	for i, id := range all {
		register(t, fronts[i%len(fronts)], id)
		mode := map[string]any{"update_mode": "pinned"}
		if slices.Contains(busy, id) {
			mode = map[string]any{"update_mode": "assigned", "software_id": swID}
		}
		ctl.MustJSON(t, http.StatusOK, "PATCH", "/api/v1/devices/"+id, mode)
	}
	for _, id := range busy {
		waitVisible(t, fronts, []string{id}, time.Now(), "action of "+id, func(l pollLinks) bool { return l.deploy != 0 })
	}
	cached := append(slices.Clone(busy), idle...)
	warm := func() {
		for range 2 { // ristretto applies Sets asynchronously: poll twice
			for _, f := range fronts {
				for _, id := range append(slices.Clone(cached), during, after) {
					mustPoll(t, f, id)
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	warm()

	// Poll the cached devices on both frontlines all through the outage
	// and the recovery; every answer must be a 200.
	var polls, pollFailures atomic.Int64
	var failMu sync.Mutex
	var failures []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(25 * time.Millisecond):
			}
			for _, f := range fronts {
				for _, id := range cached {
					polls.Add(1)
					if _, _, err := poll(f, id); err != nil {
						pollFailures.Add(1)
						failMu.Lock()
						failures = append(failures, time.Now().Format("15:04:05.000")+" "+err.Error())
						failMu.Unlock()
					}
				}
			}
		}
	})
	stopPolling := func() {
		select {
		case <-stop:
		default:
			close(stop)
			wg.Wait()
		}
	}
	t.Cleanup(stopPolling)

	rs.Kill()
	killed := time.Now()
	// Let the processes notice (their subscriptions break at once; the
	// Store marks Redis down on its first failed command).
	time.Sleep(500 * time.Millisecond)

	// Devices no frontline has cached, a new one included, are served
	// from Postgres.
	for i, f := range fronts {
		id := fmt.Sprintf("topo-redis-new%d", i)
		register(t, f, id)
		mustPoll(t, fronts[(i+1)%len(fronts)], id)
		if d := device(t, ctl, id); d.Obj("attributes").Str("hw_model") != "devboard" {
			t.Errorf("device %s registered during the outage: %s, want its configData stored", id, d)
		}
	}

	// A write during the outage is committed, but its invalidation is lost.
	ctl.MustJSON(t, http.StatusOK, "PATCH", "/api/v1/devices/"+during, map[string]any{"update_mode": "assigned", "software_id": swID})
	if d := device(t, ctl, during); d.Str("update_mode") != "assigned" {
		t.Fatalf("PATCH during the outage not stored: %s", d)
	}
	var stale []string
	for _, f := range fronts {
		if l := mustPoll(t, f, during); l.deploy == 0 {
			stale = append(stale, f.DDIURL)
		}
	}
	t.Logf("during the outage, %d of %d frontlines still answer %s from before the write (allowed: pub/sub is down, the cache TTL bounds it)",
		len(stale), len(fronts), during)
	time.Sleep(time.Second) // a little more outage for the pollers

	rs.Restart()
	restarted := time.Now()
	// Every process resubscribes by itself and resynchronises.
	for _, g := range top.All() {
		g.WaitOutput(t, "invalidation subscription re-established", topoRecover)
	}
	resubscribed := time.Now()
	waitVisible(t, fronts, []string{during}, restarted, "write made during the outage", func(l pollLinks) bool { return l.deploy != 0 })
	ctl.MustJSON(t, http.StatusOK, "PATCH", "/api/v1/devices/"+after, map[string]any{"update_mode": "assigned", "software_id": swID})
	fresh := waitVisible(t, fronts, []string{after}, time.Now(), "write after the outage", func(l pollLinks) bool { return l.deploy != 0 })
	time.Sleep(500 * time.Millisecond) // some polls after the resync
	stopPolling()

	t.Logf("Redis down for %v; all processes resubscribed %v after the restart; a fresh write was visible on both frontlines after %v",
		restarted.Sub(killed).Round(time.Millisecond), resubscribed.Sub(restarted).Round(time.Millisecond), fresh.Round(time.Microsecond))
	t.Logf("polls of cached devices through outage and recovery: %d, failed: %d", polls.Load(), pollFailures.Load())
	if n := pollFailures.Load(); n != 0 {
		failMu.Lock()
		t.Errorf("%d polls of cached devices failed; first ones:\n%s", n, strings.Join(failures[:min(len(failures), 10)], "\n"))
		failMu.Unlock()
	}
	if polls.Load() == 0 {
		t.Error("no polls made")
	}
}

// fbPost is one feedback a simulated device posted, and its answer.
type fbPost struct {
	device string
	action int64
	detail string
	status int // 0: transport error
	err    error
	at     time.Time
}

// TestTopologyPostgresRestart: devices post feedback concurrently to both
// frontlines while Postgres restarts (fast shutdown, two seconds down,
// start on the same port). Feedback is acknowledged with 200 only once it
// is stored: during the outage it is refused with 429 (or 503), never with
// another 5xx, and every acknowledged feedback is in the action's history
// afterwards. Polls of devices the frontlines have cached are answered
// all along, 200 every time. Recovery needs no restart of any process: new
// feedback is acknowledged again within a bounded time.
func TestTopologyPostgresRestart(t *testing.T) {
	top, pg, _ := startTopology(t)
	ctl, fronts := top.Control, top.Frontlines
	swID, _ := uploadSWU(t, ctl, testenv.SWUSpec{Version: "2.0.0"})

	// 20 devices with open actions post feedback; 6 quiet ones (3 with an
	// open action, 3 pinned) are only polled.
	const reporters = 20
	actions := map[string]int64{}
	var ids []string
	for i := range reporters {
		ids = append(ids, fmt.Sprintf("topo-pg-fb%02d", i))
	}
	quiet := []string{"topo-pg-q0", "topo-pg-q1", "topo-pg-q2", "topo-pg-q3", "topo-pg-q4", "topo-pg-q5"}
	for i, id := range append(slices.Clone(ids), quiet...) {
		register(t, fronts[i%len(fronts)], id)
		mode := map[string]any{"update_mode": "assigned", "software_id": swID}
		if i >= reporters+3 {
			mode = map[string]any{"update_mode": "pinned"}
		}
		ctl.MustJSON(t, http.StatusOK, "PATCH", "/api/v1/devices/"+id, mode)
	}
	for i, id := range append(slices.Clone(ids), quiet...) {
		l := mustPoll(t, fronts[i%len(fronts)], id) // opens the action
		if i < reporters {
			if l.deploy == 0 {
				t.Fatalf("%s: no deployment offered: %s", id, l)
			}
			actions[id] = l.deploy
		}
	}
	for range 2 { // warm both caches (ristretto applies Sets asynchronously)
		for _, f := range fronts {
			for _, id := range quiet {
				mustPoll(t, f, id)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var (
		mu    sync.Mutex
		posts []fbPost
	)
	var seq atomic.Int64
	const posters = 4
	for p := range posters {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				id := ids[(p+posters*n)%reporters]
				f := fronts[n%len(fronts)]
				post := fbPost{device: id, action: actions[id], detail: fmt.Sprintf("topo-pg %s #%d", id, seq.Add(1))}
				post.status, _, post.err = f.DDIRequest("POST", fmt.Sprintf("%s/deploymentBase/%d/feedback", ddiPath(id), post.action),
					map[string]any{"id": strconv.FormatInt(post.action, 10), "status": map[string]any{
						"execution": "proceeding", "result": map[string]any{"finished": "none", "progress": map[string]int{"cnt": n % 5, "of": 5}},
						"details": []string{post.detail}}})
				post.at = time.Now()
				mu.Lock()
				posts = append(posts, post)
				mu.Unlock()
			}
		})
	}
	var polls, pollFailures atomic.Int64
	var pollErrs []string
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			for _, f := range fronts {
				for _, id := range quiet {
					polls.Add(1)
					if _, _, err := poll(f, id); err != nil {
						pollFailures.Add(1)
						mu.Lock()
						pollErrs = append(pollErrs, time.Now().Format("15:04:05.000")+" "+err.Error())
						mu.Unlock()
					}
				}
			}
		}
	})
	stopLoad := func() {
		select {
		case <-stop:
		default:
			close(stop)
			wg.Wait()
		}
	}
	t.Cleanup(stopLoad)

	begin := time.Now()
	time.Sleep(3 * time.Second)
	pg.Stop()
	down := time.Now()
	time.Sleep(2 * time.Second)
	pg.Start()
	up := time.Now()
	// Recovery: a feedback sent after the restart is acknowledged.
	var recovered time.Time
	testenv.Eventually(t, topoRecover, func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range posts {
			if p.status == http.StatusOK && p.at.After(up) {
				recovered = p.at
				return true, ""
			}
		}
		return false, "no feedback acknowledged since Postgres restarted"
	})
	if rest := 10*time.Second - time.Since(begin); rest > 0 {
		time.Sleep(rest)
	}
	stopLoad()

	// Tally the answers.
	byStatus := map[int]int{}
	acked := map[string]map[string]bool{} // device → details acknowledged
	var transport []string
	var refusedDuringOutage int
	for _, p := range posts {
		byStatus[p.status]++
		switch {
		case p.err != nil:
			transport = append(transport, fmt.Sprintf("%s: %v", p.detail, p.err))
		case p.status == http.StatusOK:
			if acked[p.device] == nil {
				acked[p.device] = map[string]bool{}
			}
			acked[p.device][p.detail] = true
		case p.status == http.StatusTooManyRequests || p.status == http.StatusServiceUnavailable:
			if p.at.After(down) {
				refusedDuringOutage++
			}
		}
	}
	var statuses []string
	for _, st := range slices.Sorted(maps.Keys(byStatus)) {
		statuses = append(statuses, fmt.Sprintf("%d×%d", byStatus[st], st))
	}
	t.Logf("feedback posts: %d (%s); Postgres down %v, feedback acknowledged again %v after its start",
		len(posts), strings.Join(statuses, ", "), up.Sub(down).Round(time.Millisecond), recovered.Sub(up).Round(time.Millisecond))
	t.Logf("polls of cached devices: %d, failed: %d", polls.Load(), pollFailures.Load())
	for st, n := range byStatus {
		switch {
		case st == http.StatusOK, st == http.StatusTooManyRequests, st == http.StatusServiceUnavailable:
		case st == 0:
			t.Errorf("%d feedback posts got no HTTP answer: %s", n, strings.Join(transport[:min(len(transport), 5)], "; "))
		default:
			t.Errorf("%d feedback posts answered %d; want only 200, or 429/503 while Postgres is down", n, st)
		}
	}
	if refusedDuringOutage == 0 {
		t.Errorf("no feedback was refused while Postgres was down: the outage was not observed")
	}
	if n := pollFailures.Load(); n != 0 {
		t.Errorf("%d polls of cached devices failed; first ones:\n%s", n, strings.Join(pollErrs[:min(len(pollErrs), 10)], "\n"))
	}

	// Every acknowledged feedback is stored.
	var missing []string
	var total, stored int
	for _, id := range ids {
		a := action(t, ctl, id, actions[id])
		have := map[string]bool{}
		for _, f := range a.List("feedback") {
			details, _ := f["details"].([]any)
			for _, d := range details {
				if s, ok := d.(string); ok {
					have[s] = true
				}
			}
		}
		for detail := range acked[id] {
			total++
			if have[detail] {
				stored++
			} else {
				missing = append(missing, detail)
			}
		}
	}
	t.Logf("acknowledged feedback: %d, found stored: %d", total, stored)
	if len(missing) > 0 {
		slices.Sort(missing)
		t.Errorf("%d acknowledged feedback missing from the store, e.g. %s", len(missing), strings.Join(missing[:min(len(missing), 10)], "; "))
	}
	if total == 0 {
		t.Error("no feedback acknowledged at all")
	}
}

// TestTopologySWUpdate: the real client against the production topology.
// swupdate polls, downloads from and reports to one frontline, while the
// operator works on the control plane: the device registers with its
// configData, is assigned an image by a PATCH on the control plane,
// installs it, and the next swupdate process (-c 2, "the reboot went
// fine") reports success; the control plane then shows the action
// succeeded and the device on the image's version. Every request of the
// client gets an answer it counts as success.
func TestTopologySWUpdate(t *testing.T) {
	top, _, _ := startTopology(t)
	ctl, front := top.Control, top.Frontlines[1]
	proxy := testenv.StartProxy(t, front.DDIURL, testenv.ProxyOpts{})
	spec := testenv.SWUSpec{Version: "2.0.0", Board: "devboard", Revisions: []string{"1.0"}, Path: t.TempDir(),
		Payload: []byte("installed through a gosling frontline\n")}
	swID, _ := uploadSWU(t, ctl, spec)

	opts := testenv.SWUpdateOpts{URL: proxy.URL, ID: "topo-swupdate", SWVersion: "1.0.0"}
	first := testenv.StartSWUpdate(t, opts)
	waitDevice(t, ctl, opts.ID, waitStep, func(d testenv.Object) (bool, string) {
		return wantAttributes(d, map[string]string{"hw_model": "devboard", "hw_revision": "1.0", "sw_version": "1.0.0"})
	})
	ctl.MustJSON(t, http.StatusOK, "PATCH", "/api/v1/devices/"+opts.ID, map[string]any{"update_mode": "assigned", "software_id": swID})

	actionID := openActionID(t, ctl, opts.ID)
	waitAction(t, ctl, opts.ID, actionID, "running", "All Chunks Installed.")
	wantFile(t, spec.PayloadFile(), spec.PayloadBytes())
	first.Stop()

	opts.Confirm = 2
	testenv.StartSWUpdate(t, opts)
	waitAction(t, ctl, opts.ID, actionID, "succeeded", "Update Installed.")
	waitDevice(t, ctl, opts.ID, waitStep, func(d testenv.Object) (bool, string) {
		return d.Str("sw_version") == spec.Version && d.Int("action_id") == 0 && d.Int("last_action_id") == actionID,
			"want sw_version 2.0.0, no open action, last_action_id set"
	})
	wantAllOK(t, proxy)
}
