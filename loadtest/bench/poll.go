package bench

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/gosling-ota/gosling/loadtest"
)

// Fleet settings shared by the poll scenario's load phases.
const (
	tokenSecret = "gosling-bench-secret"
	pollPrefix  = "bench-"
)

// runLoad runs the fleet simulator, logs its table and keeps its report
// under label in the details.
func (r *runner) runLoad(tb *harnessTB, label string, cfg loadtest.Config) *loadtest.Report {
	if cfg.Concurrency == 0 {
		cfg.Concurrency = r.cfg.Concurrency
	}
	cfg.Timeout = 10 * time.Second
	rep, err := loadtest.Run(r.ctx, cfg)
	check(tb, err, label)
	r.logf("%s:\n%s", label, rep.Table())
	r.detail("loadgen_"+label, rep)
	if r.ctx.Err() != nil {
		tb.Fatalf("%s: %v", label, r.ctx.Err())
	}
	return rep
}

// wantFewErrors fails the scenario when more than 0.1 % of a run's
// requests failed: its rates would not be poll rates.
func wantFewErrors(tb *harnessTB, label string, rep *loadtest.Report) {
	if rep.Requests == 0 || float64(rep.Errors) > 0.001*float64(rep.Requests) {
		tb.Fatalf("%s: %d of %d requests failed:\n%s", label, rep.Errors, rep.Requests, rep.Table())
	}
}

// pollScenario measures the embedded default (`gosling serve`, SQLite,
// in-process bus) with TargetToken auth bound by tofu: memory per device,
// saturation throughput against the baseline server, latency at 50 % and
// 80 % of saturation, and a profile of the saturated server.
func (r *runner) pollScenario(tb *harnessTB) {
	n := r.cfg.Devices
	// The L1 cache must hold the whole fleet: the product's default
	// budget holds ~1,400,000 steady devices (entry.cost ≈ 176 bytes);
	// above that, 256 bytes per device.
	cacheBytes := max(int64(256<<20), int64(n)*256)
	opts := goslingOpts{
		role: "serve", dataDir: filepath.Join(tb.TempDir(), "data"), token: "bench-admin-token",
		args: []string{"--device-auth", "tofu", "--poll-interval", "1h", "--cache-bytes", fmt.Sprint(cacheBytes)},
	}
	srv := r.startGosling(tb, "serve-poll", opts)
	fleet := loadtest.Config{
		Target: srv.ddiURL, Devices: n, IDPrefix: pollPrefix,
		Auth: loadtest.AuthTarget, TokenSecret: tokenSecret,
	}

	reg := fleet
	reg.RegisterOnly = true
	t0 := time.Now()
	rep := r.runLoad(tb, "register", reg)
	regTime := time.Since(t0)
	wantFewErrors(tb, "register", rep)
	r.addRow(newRow("registration, SQLite + tofu token bind (poll + configData)", float64(n)/regTime.Seconds(), "devices/s", 0, nil,
		fmt.Sprintf("%d devices in %s", n, regTime.Round(time.Second))))

	// Memory: a fresh server on the registered fleet (so the heap left
	// over from registering does not count), RSS before and after every
	// device was polled once (so every device's answer is in L1).
	srv.stop()
	srv = r.startGosling(tb, "serve-poll-2", opts)
	fleet.Target = srv.ddiURL
	time.Sleep(time.Second)
	rssBefore, err := srv.rss()
	check(tb, err, "rss")
	warm := fleet
	warm.MaxRequests = int64(n)
	rep = r.runLoad(tb, "warm", warm)
	wantFewErrors(tb, "warm", rep)
	time.Sleep(2 * time.Second) // let ristretto's set buffers drain
	rssAfter, err := srv.rss()
	check(tb, err, "rss")
	perDev := float64(rssAfter-rssBefore) / float64(n)
	r.detail("memory", map[string]any{"devices": n, "rss_before": rssBefore, "rss_after": rssAfter, "cache_bytes": cacheBytes})
	r.addRow(newRow("memory per cached device, whole server (ΔRSS/N)", perDev, "bytes", 0, atMost(300),
		fmt.Sprintf("N=%d, restarted server VmRSS %d MiB → %d MiB after one poll per device (misses that load from SQLite, then L1), --cache-bytes %d MiB; includes Go's GC headroom (GOGC=100) and SQLite's page cache",
			n, rssBefore>>20, rssAfter>>20, cacheBytes>>20)))

	// Throughput: closed loop, same generator and settings, against
	// Gosling and the baseline server, interleaved in two rounds of half
	// the duration each, so a drift in the machine's load (it is shared)
	// does not favour one side.
	base := r.startBaseline(tb)
	sat := fleet
	sat.Duration = max(r.cfg.Duration/2, time.Second)
	var gPolls, bPolls uint64
	var gSecs, bSecs float64
	var gStats []string
	for round := range 2 {
		st0, err0 := scrapeStats(srv.adminURL + "/metrics")
		gRep := r.runLoad(tb, fmt.Sprintf("saturation_gosling_%d", round), sat)
		if st1, err1 := scrapeStats(srv.adminURL + "/metrics"); err0 == nil && err1 == nil {
			gStats = append(gStats, fmt.Sprintf("round %d %.0f polls/s, %s", round, gRep.Rate, st1.since(st0)))
		}
		wantFewErrors(tb, "saturation_gosling", gRep)
		bsat := sat
		bsat.Target = base
		bRep := r.runLoad(tb, fmt.Sprintf("saturation_baseline_%d", round), bsat)
		wantFewErrors(tb, "saturation_baseline", bRep)
		gPolls, gSecs = gPolls+gRep.Op("poll").OK, gSecs+gRep.Elapsed.Seconds()
		bPolls, bSecs = bPolls+bRep.Op("poll").OK, bSecs+bRep.Elapsed.Seconds()
	}
	gRate, bRate := float64(gPolls)/gSecs, float64(bPolls)/bSecs
	r.baselinePollRate = bRate
	r.addRow(newRow(fmt.Sprintf("poll throughput, %d devices, TargetToken, closed loop c=%d", n, r.cfg.Concurrency), gRate, "polls/s", bRate, ratioAtLeast(0.85),
		"baseline = constant-answer fasthttp server (gosling loadgen --baseline-listen), same generator; "+strings.Join(gStats, "; ")))

	// Latency in the open model at 50 % and 80 % of Gosling's saturation,
	// against Gosling and then the baseline at the same offered rate: on
	// a small machine the generator's own scheduling is part of every
	// latency it measures, and the baseline shows how much. The generator
	// is confined to CPU 0 (-pin), so that its lag and the server's
	// latency do not feed each other through a shared run queue.
	gen := generatorCPUs(r.cfg.Pin)
	if gen != nil {
		restore, err := pinSelf(gen)
		check(tb, err, "pin the load generator")
		defer restore()
	}
	for _, share := range []float64{0.5, 0.8} {
		lat := fleet
		lat.Duration = r.cfg.Duration
		lat.Rate = share * gRate
		label := fmt.Sprintf("latency_%.0f", share*100)
		rep := r.runLoad(tb, label, lat)
		wantFewErrors(tb, label, rep)
		blat := lat
		blat.Target = base
		brep := r.runLoad(tb, label+"_baseline", blat)
		wantFewErrors(tb, label+"_baseline", brep)
		p, bp := rep.Op("poll").Latency, brep.Op("poll").Latency
		note := fmt.Sprintf("offered %.0f/s; Gosling achieved %.0f/s, generator lag p99 %s; baseline achieved %.0f/s, lag p99 %s; generator on CPU %v, servers unconfined",
			lat.Rate, rep.Op("poll").Rate, rep.Lag.P99, brep.Op("poll").Rate, brep.Lag.P99, gen)
		var target *Target
		if share == 0.5 {
			target = atMost(2)
		}
		r.addRow(newRow(fmt.Sprintf("poll latency p50 at %.0f%% of saturation", share*100), ms(p.P50), "ms", ms(bp.P50), nil, ""))
		r.addRow(newRow(fmt.Sprintf("poll latency p99 at %.0f%% of saturation", share*100), ms(p.P99), "ms", ms(bp.P99), target, note))
	}

	if r.cfg.Profile {
		r.profilePolls(tb, srv, fleet)
	}
}

// startBaseline runs `gosling loadgen --baseline-listen` and returns its
// URL.
func (r *runner) startBaseline(tb *harnessTB) string {
	addr, err := freeAddr()
	check(tb, err, "free port")
	p, err := startProc("baseline", filepath.Join(r.logDir, "baseline.log"), r.cfg.Bin, "loadgen", "--baseline-listen", addr)
	check(tb, err, "baseline")
	tb.Cleanup(p.stop)
	check(tb, waitHTTP(p, "http://"+addr+"/", 0, 10*time.Second), "baseline")
	return "http://" + addr
}
