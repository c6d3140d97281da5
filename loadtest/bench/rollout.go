package bench

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/valyala/fasthttp"

	"github.com/gosling-ota/gosling/loadtest"
)

const rolloutPrefix = "ro-"

// Statement is one normalised statement of pg_stat_statements and how
// often it ran during a phase.
type Statement struct {
	Calls int64  `json:"calls"`
	Query string `json:"query"`
}

// rollout registers RolloutDevices devices (feed "default", update mode
// rollout), warms both frontlines, starts a rollout through the admin API
// and polls every device (alternating frontlines) until each is offered
// the deployment. It counts the statements Postgres ran from the rollout
// write until the last offer, split into those that ran about once per
// device or more (creating each device's action: inherent) and the rest
// (the write, catalog reloads, batches), which must not grow with N.
func (r *runner) rollout(tb *harnessTB, top *topology) {
	n := r.cfg.RolloutDevices
	reg := loadtest.Config{Target: top.fronts[0].ddiURL, Devices: n, IDPrefix: rolloutPrefix, RegisterOnly: true}
	t0 := time.Now()
	rep := r.runLoad(tb, "register_postgres", reg)
	regTime := time.Since(t0)
	wantFewErrors(tb, "register_postgres", rep)
	r.addRow(newRow("registration, Postgres (poll + configData)", float64(n)/regTime.Seconds(), "devices/s", 0, nil,
		fmt.Sprintf("%d devices in %s", n, regTime.Round(time.Second))))

	swID, _ := r.uploadSWU(tb, top.control, tb.TempDir(), "3.0.0", 4096)
	// Steady state: every device's answer cached on the frontline it polls.
	if left := r.sweep(tb, top, n, nil); left != n {
		tb.Fatalf("warm-up: %d of %d devices offered something before the rollout", n-left, n)
	}
	time.Sleep(time.Second) // last-seen batches of the warm-up flushed

	db := r.pgConn(tb, top.dbURL)
	_, err := db.Exec(r.ctx, "SELECT pg_stat_statements_reset()")
	check(tb, err, "reset pg_stat_statements")
	xact0 := xacts(tb, r.ctx, db)

	start := time.Now()
	check(tb, top.control.admin("POST", "/api/v1/rollouts", map[string]any{"name": "bench", "software_id": swID}, http.StatusCreated, nil), "create rollout")
	writeTime := time.Since(start)
	atWrite := statements(tb, r.ctx, db)

	var offered atomic.Int64
	remaining := n
	for pass := 0; remaining > 0 && pass < 5; pass++ {
		remaining = r.sweep(tb, top, n, &offered)
	}
	elapsed := time.Since(start)
	if remaining > 0 {
		tb.Fatalf("%d of %d devices not offered the rollout after 5 polls each", remaining, n)
	}
	time.Sleep(1500 * time.Millisecond) // pending batches flushed, pgstat updated
	all := statements(tb, r.ctx, db)
	xact1 := xacts(tb, r.ctx, db)

	var perDevice, other, writeStmts int64
	var perList, otherList []Statement
	for q, c := range all {
		s := Statement{Calls: c, Query: q}
		writeStmts += atWrite[q]
		if c >= int64(n)/2 {
			perDevice += c
			perList = append(perList, s)
		} else {
			other += c
			otherList = append(otherList, s)
		}
	}
	byCalls := func(l []Statement) []Statement {
		sort.Slice(l, func(i, j int) bool { return l[i].Calls > l[j].Calls })
		for i := range l {
			if len(l[i].Query) > 160 {
				l[i].Query = l[i].Query[:160] + "…"
			}
		}
		return l
	}
	r.detail("rollout", map[string]any{
		"devices": n, "write_ms": ms(writeTime), "until_all_offered_ms": ms(elapsed),
		"statements_at_write_ack": writeStmts, "transactions": xact1 - xact0,
		"per_device_statements": byCalls(perList), "other_statements": byCalls(otherList),
	})
	r.logf("rollout: per-device statements %v", byCalls(perList))
	r.logf("rollout: other statements %v", byCalls(otherList))
	r.addRow(newRow(fmt.Sprintf("rollout start, %d devices: until every device's next poll offers it", n), elapsed.Seconds(), "s", 0, nil,
		fmt.Sprintf("admin write acknowledged in %.1f ms; %d transactions in all", ms(writeTime), xact1-xact0)))
	r.addRow(newRow("rollout start: statements per device (action creation, inherent)", float64(perDevice)/float64(n), "stmts/device", 0, nil,
		fmt.Sprintf("%d statements in %d kinds, each run ≥ N/2 times", perDevice, len(perList))))
	r.addRow(newRow("rollout start: other statements (write, catalog, batches)", float64(other), "stmts", 0, atMost(float64(n)/100),
		fmt.Sprintf("target: O(feeds), i.e. far below N (1 %% of N = %d); %d of them before the write was acknowledged", n/100, writeStmts)))
}

// sweep polls devices 0..n-1 once (device i on frontline i mod 2) with
// the configured concurrency and returns how many were not offered a
// deployment. offered, when not nil, counts those that were.
func (r *runner) sweep(tb *harnessTB, top *topology, n int, offered *atomic.Int64) int {
	workers := r.cfg.Concurrency
	client := &fasthttp.Client{MaxConnsPerHost: workers, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second,
		MaxIdemponentCallAttempts: 1}
	defer client.CloseIdleConnections()
	var (
		next, missing atomic.Int64
		failed        atomic.Pointer[string]
		wg            sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			var uri []byte
			for {
				i := next.Add(1) - 1
				if i >= int64(n) || failed.Load() != nil || r.ctx.Err() != nil {
					return
				}
				uri = append(append(append(uri[:0], top.fronts[i%2].ddiURL...), "/DEFAULT/controller/v1/"+rolloutPrefix...), strconv.FormatInt(i, 10)...)
				req.SetRequestURIBytes(uri)
				req.Header.Set("Accept", "application/json")
				if err := client.DoTimeout(req, resp, 10*time.Second); err != nil || resp.StatusCode() != 200 {
					msg := fmt.Sprintf("poll %s%d: %v %d %s", rolloutPrefix, i, err, resp.StatusCode(), resp.Body())
					failed.CompareAndSwap(nil, &msg)
					return
				}
				if bytes.Contains(resp.Body(), []byte(`"deploymentBase"`)) {
					if offered != nil {
						offered.Add(1)
					}
				} else {
					missing.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if msg := failed.Load(); msg != nil {
		tb.Fatalf("sweep: %s", *msg)
	}
	check(tb, r.ctx.Err(), "sweep")
	return int(missing.Load())
}

// feedback drives the rollout's devices through whole install cycles like
// SWUpdate (poll → action creation → deploymentBase → proceeding → closed
// success → next poll) against one Postgres frontline, and reports the
// feedback events acknowledged per second. Polls, action creation and
// deploymentBase reads share the time, so this is the rate of install
// cycles, not of feedback ingest: the feedback scenario measures that.
func (r *runner) feedback(tb *harnessTB, top *topology) {
	cfg := loadtest.Config{Target: top.fronts[0].ddiURL, Devices: r.cfg.RolloutDevices, IDPrefix: rolloutPrefix, Duration: r.cfg.Duration,
		Concurrency: r.cfg.FeedbackConcurrency}
	rep := r.runLoad(tb, "feedback", cfg)
	wantFewErrors(tb, "feedback", rep)
	fb := rep.Op("feedback")
	rate := float64(fb.OK) / rep.Elapsed.Seconds()
	if rep.Outcomes.Succeeded == 0 {
		tb.Fatalf("feedback: no device completed an install:\n%s", rep.Table())
	}
	note := fmt.Sprintf("%d proceeding + closed events acknowledged in %s by c=%d devices (%d installs completed; feedback p50 %s p99 %s); baseline = the baseline server's poll rate",
		fb.OK, rep.Elapsed.Round(time.Millisecond), cfg.Concurrency, rep.Outcomes.Succeeded, fb.Latency.P50, fb.Latency.P99)
	r.addRow(newRow("install cycles into Postgres (poll → action → deploymentBase → proceeding → closed; feedback events)", rate, "events/s", r.baselinePollRate, nil, note))
}

func (r *runner) pgConn(tb *harnessTB, url string) *pgx.Conn {
	conn, err := pgx.Connect(r.ctx, url)
	check(tb, err, "connect to postgres")
	tb.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// statements returns calls per statement of the gosling database, without
// the bench's own statistics queries.
func statements(tb *harnessTB, ctx context.Context, db *pgx.Conn) map[string]int64 {
	rows, err := db.Query(ctx, `SELECT query, sum(calls)::bigint FROM pg_stat_statements
		WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
		  AND query NOT LIKE '%pg_stat%' GROUP BY query`)
	check(tb, err, "pg_stat_statements")
	out := map[string]int64{}
	for rows.Next() {
		var q string
		var c int64
		check(tb, rows.Scan(&q, &c), "pg_stat_statements")
		out[q] = c
	}
	check(tb, rows.Err(), "pg_stat_statements")
	return out
}

// xacts returns committed plus rolled back transactions of the database.
func xacts(tb *harnessTB, ctx context.Context, db *pgx.Conn) int64 {
	var n int64
	check(tb, db.QueryRow(ctx, `SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()`).Scan(&n), "pg_stat_database")
	return n
}
