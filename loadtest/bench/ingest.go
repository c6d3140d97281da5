package bench

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/gosling-ota/gosling/loadtest"
)

const ingestPrefix = "fb-"

// ingestDetails are the details lines of each proceeding feedback: a few
// lines of installer log, as SWUpdate flushes them while it installs.
var ingestDetails = []string{
	"[network_initializer] : Main loop daemon",
	"[start_swupdate_subprocess] : Image 'bench-3.0.0.swu' received, starting installation",
	"[install_single_image] : Found installer for stream rootfs.ext4.gz raw",
	"[copyimage] : Installing image rootfs.ext4.gz into /dev/mmcblk0p3",
	"[swupdate_progress_update] : Step 1 of 1, 42 % done",
}

// ingestScenario measures what issue 5 asks: acknowledged, durable
// feedback events per second into Postgres, without the polls, action
// creation and deploymentBase reads of a whole install cycle (that is the
// topology scenario's install-cycles row). FeedbackDevices devices get an
// open action (rollout, one poll each); then closed loops of Duration with
// Concurrency and FeedbackConcurrency workers POST SWUpdate-style
// proceeding feedback (progress, five details lines) to
// …/deploymentBase/{actionId}/feedback, alternating between the
// FeedbackFrontlines frontlines. Only 200 answers count: a frontline answers 200 after the
// group commit holding the feedback. Each run ends by checking that
// Postgres holds at least as many new feedback rows as 200s were counted.
func (r *runner) ingestScenario(tb *harnessTB) {
	top := r.startTopology(tb, r.cfg.FeedbackFrontlines)
	n := r.cfg.FeedbackDevices
	rep := r.runLoad(tb, "register_ingest", loadtest.Config{Target: top.fronts[0].ddiURL, Devices: n, IDPrefix: ingestPrefix, RegisterOnly: true})
	wantFewErrors(tb, "register_ingest", rep)
	swID, _ := r.uploadSWU(tb, top.control, tb.TempDir(), "3.0.0", 4096)
	check(tb, top.control.admin("POST", "/api/v1/rollouts", map[string]any{"name": "ingest", "software_id": swID}, http.StatusCreated, nil), "create rollout")
	actions := r.openActions(tb, top, n)
	// One report per device first, unmeasured: the first report moves
	// each action from pending to running (a status change, invalidated
	// everywhere, once per install); the loops measure the progress
	// reports that make up the rest of an install's feedback.
	if warm := r.ingest(tb, top, actions, r.cfg.Concurrency, true); warm.ok != n {
		tb.Fatalf("ingest warm-up: %d of %d reports answered 200 (first error: %s)", warm.ok, n, warm.firstErr)
	}

	baseline := r.baselinePollRate
	baseNote := "baseline = the baseline server's poll rate (poll scenario)"
	if baseline == 0 {
		baseline = r.measureBaseline(tb)
		baseNote = fmt.Sprintf("baseline = the baseline server's poll rate, measured in this scenario (c=%d, %s): %.0f polls/s",
			r.cfg.Concurrency, r.cfg.Duration, baseline)
	}

	db := r.pgConn(tb, top.dbURL)
	countRows := func() int64 {
		var c int64
		check(tb, db.QueryRow(r.ctx, "SELECT count(*) FROM feedback").Scan(&c), "count feedback rows")
		return c
	}
	var details []map[string]any
	for _, conc := range []int{r.cfg.FeedbackConcurrency, 2 * r.cfg.FeedbackConcurrency} {
		before := countRows()
		cpu0 := sampleCPU(append([]*gosling{top.control}, top.fronts...)...)
		res := r.ingest(tb, top, actions, conc, false)
		cpuNote, cpuUs := perEvent(cpu0, sampleCPU(append([]*gosling{top.control}, top.fronts...)...), res.ok)
		stored := countRows() - before
		if int64(res.ok) > stored {
			tb.Fatalf("ingest c=%d: %d feedback acknowledged with 200 but only %d new rows in Postgres", conc, res.ok, stored)
		}
		if res.ok == 0 || float64(res.failed) > 0.001*float64(res.ok+res.failed) {
			tb.Fatalf("ingest c=%d: %d answers 200, %d failed (first: %s)", conc, res.ok, res.failed, res.firstErr)
		}
		rate := float64(res.ok) / res.elapsed.Seconds()
		slices.Sort(res.lat)
		p50, p99 := percentile(res.lat, 0.50), percentile(res.lat, 0.99)
		details = append(details, map[string]any{
			"concurrency": conc, "acknowledged": res.ok, "failed": res.failed, "elapsed_ms": ms(res.elapsed),
			"rows_stored": stored, "p50_ms": ms(p50), "p99_ms": ms(p99), "events_per_s": rate,
			"cpu_us_per_event": cpuUs,
		})
		note := fmt.Sprintf("%d proceeding feedback answered 200 in %s over %d open actions, %d frontline(s) alternated, p50 %.1f ms p99 %.1f ms; %d new feedback rows counted in Postgres afterwards (≥ 200s); %d failed; %s; %s",
			res.ok, res.elapsed.Round(time.Millisecond), n, len(top.fronts), ms(p50), ms(p99), stored, res.failed, cpuNote, baseNote)
		r.addRow(newRow(fmt.Sprintf("feedback ingest into Postgres, proceeding on open actions, c=%d (durable, acknowledged)", conc),
			rate, "events/s", baseline, ratioAtLeast(0.4), note))
	}
	r.detail("feedback_ingest", map[string]any{"devices": n, "details_lines": len(ingestDetails), "runs": details})
}

// openActions polls device i of ingestPrefix on frontline i mod 2 until it
// is offered a deployment (creating its action) and returns the action ids.
func (r *runner) openActions(tb *harnessTB, top *topology, n int) []int64 {
	ids := make([]int64, n)
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: r.cfg.Concurrency}}
	defer c.CloseIdleConnections()
	var (
		next   atomic.Int64
		failed atomic.Pointer[string]
		wg     sync.WaitGroup
	)
	for range r.cfg.Concurrency {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(n) || failed.Load() != nil || r.ctx.Err() != nil {
					return
				}
				id := ingestPrefix + strconv.FormatInt(i, 10)
				deadline := time.Now().Add(10 * time.Second)
				for {
					a, err := pollOnce(c, top.fronts[i%int64(len(top.fronts))].ddiURL, id)
					if err == nil && a.deployID() != 0 {
						ids[i] = a.deployID()
						break
					}
					if time.Now().After(deadline) {
						msg := fmt.Sprintf("%s not offered the rollout after 10 s (last error %v)", id, err)
						failed.CompareAndSwap(nil, &msg)
						return
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	if msg := failed.Load(); msg != nil {
		tb.Fatalf("open actions: %s", *msg)
	}
	check(tb, r.ctx.Err(), "open actions")
	return ids
}

// measureBaseline runs the poll scenario's saturation load against the
// baseline server once, for a yardstick when the poll scenario did not run.
func (r *runner) measureBaseline(tb *harnessTB) float64 {
	base := r.startBaseline(tb)
	rep := r.runLoad(tb, "saturation_baseline_ingest", loadtest.Config{
		Target: base, Devices: r.cfg.Devices, IDPrefix: pollPrefix, Auth: loadtest.AuthTarget, TokenSecret: tokenSecret,
		Duration: r.cfg.Duration,
	})
	wantFewErrors(tb, "saturation_baseline_ingest", rep)
	return float64(rep.Op("poll").OK) / rep.Elapsed.Seconds()
}

type ingestResult struct {
	ok, failed int
	firstErr   string
	elapsed    time.Duration
	lat        []time.Duration // of the 200s
}

// ingest runs one closed loop of Duration with conc workers, each POSTing
// proceeding feedback for the next action (round robin over the devices)
// to the next frontline (alternating), over fasthttp on loopback. once
// sends one report per action instead.
func (r *runner) ingest(tb *harnessTB, top *topology, actions []int64, conc int, once bool) ingestResult {
	client := &fasthttp.Client{MaxConnsPerHost: conc, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second,
		MaxIdemponentCallAttempts: 1}
	defer client.CloseIdleConnections()
	var (
		next    atomic.Int64
		mu      sync.Mutex
		res     ingestResult
		wg      sync.WaitGroup
		details []byte
	)
	details, err := json.Marshal(ingestDetails)
	check(tb, err, "details")
	start := time.Now()
	stop := start.Add(r.cfg.Duration)
	for range conc {
		wg.Go(func() {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.Header.SetMethod(fasthttp.MethodPost)
			req.Header.SetContentType("application/json")
			req.Header.Set("Accept", "application/json")
			var (
				uri, body []byte
				lat       = make([]time.Duration, 0, 4096)
				ok, bad   int
				firstErr  string
			)
			for r.ctx.Err() == nil && time.Now().Before(stop) {
				k := next.Add(1) - 1
				if once && k >= int64(len(actions)) {
					break
				}
				i := k % int64(len(actions))
				aid := actions[i]
				uri = append(uri[:0], top.fronts[k%int64(len(top.fronts))].ddiURL...)
				uri = append(uri, "/DEFAULT/controller/v1/"+ingestPrefix...)
				uri = strconv.AppendInt(uri, i, 10)
				uri = append(uri, "/deploymentBase/"...)
				uri = strconv.AppendInt(uri, aid, 10)
				uri = append(uri, "/feedback"...)
				req.SetRequestURIBytes(uri)
				// SWUpdate 2022.12's proceeding report: local time without
				// zone, progress, details flushed from its log.
				body = append(body[:0], `{"id":"`...)
				body = strconv.AppendInt(body, aid, 10)
				body = append(body, `","time":"`...)
				body = time.Now().AppendFormat(body, "20060102T150405")
				body = append(body, `","status":{"result":{"finished":"none","progress":{"cnt":0,"of":1}},"execution":"proceeding","details":`...)
				body = append(body, details...)
				body = append(body, `}}`...)
				req.SetBodyRaw(body)
				t0 := time.Now()
				// Do, bounded by the client's read and write timeouts:
				// DoTimeout would start a goroutine per request, CPU
				// that the server under test then lacks.
				err := client.Do(req, resp)
				d := time.Since(t0)
				if err == nil && resp.StatusCode() == fasthttp.StatusOK {
					ok++
					lat = append(lat, d)
					continue
				}
				bad++
				if firstErr == "" {
					firstErr = fmt.Sprintf("POST %s: %v %d %s", uri, err, resp.StatusCode(), resp.Body())
				}
			}
			mu.Lock()
			defer mu.Unlock()
			res.ok += ok
			res.failed += bad
			res.lat = append(res.lat, lat...)
			if res.firstErr == "" {
				res.firstErr = firstErr
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	check(tb, r.ctx.Err(), "ingest")
	r.logf("ingest c=%d: %d ok, %d failed in %s", conc, res.ok, res.failed, res.elapsed.Round(time.Millisecond))
	return res
}
