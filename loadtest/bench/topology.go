package bench

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gosling-ota/gosling/cache/redistest"
	"github.com/gosling-ota/gosling/schema/postgres/pgtest"
)

// topology is the production shape: Postgres, Redis, one control plane,
// two frontlines, one data directory (the shared artifact volume).
type topology struct {
	dbURL   string
	pg      *pgtest.Cluster
	control *gosling
	fronts  []*gosling
	dataDir string
}

// topologyScenario measures the Postgres + Redis topology: invalidation
// latency, rollout start on RolloutDevices devices, feedback ingest.
func (r *runner) topologyScenario(tb *harnessTB) {
	top := r.startTopology(tb, 2)
	r.invalidation(tb, top)
	r.rollout(tb, top)
	r.feedback(tb, top)
}

// startTopology starts the cluster (with pg_stat_statements loaded, to
// count statements), Redis, `gosling control` and fronts `gosling ddi`,
// and returns when every gosling has subscribed to invalidations.
func (r *runner) startTopology(tb *harnessTB, fronts int) *topology {
	pg := pgtest.StartCluster(tb)
	// pg_stat_statements must be preloaded; ALTER SYSTEM survives the
	// restart (Cluster keeps data and port).
	check(tb, pgExec(r.ctx, pg.URL(), "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'"), "preload pg_stat_statements")
	pg.Restart()
	check(tb, pgExec(r.ctx, pg.URL(), "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"), "create extension")
	rd := redistest.StartProcess(tb)

	top := &topology{dbURL: pg.URL(), pg: pg, dataDir: filepath.Join(tb.TempDir(), "shared")}
	common := []string{"--database-url", pg.URL(), "--redis-url", rd.URL(), "--poll-interval", "1h", "--log-level", "info"}
	top.control = r.startGosling(tb, "control", goslingOpts{role: "control", dataDir: top.dataDir, token: "bench-admin-token", args: common})
	for i := range fronts {
		top.fronts = append(top.fronts, r.startGosling(tb, fmt.Sprintf("ddi-%d", i), goslingOpts{
			role: "ddi", dataDir: top.dataDir,
			args: append(slices.Clone(common), "--device-auth", "open", "--cache-bytes", fmt.Sprint(max(int64(64<<20), int64(r.cfg.RolloutDevices)*1536))),
		}))
	}
	deadline := time.Now().Add(15 * time.Second)
	for _, g := range append([]*gosling{top.control}, top.fronts...) {
		for !g.logged("invalidation subscription established") {
			if time.Now().After(deadline) || g.exited() {
				tb.Fatalf("%s never subscribed to invalidations:\n%s", g.name, g.output(30))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return top
}

func pgExec(ctx context.Context, url, sql string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// uploadSWU writes a .swu with a payload of size bytes and uploads it
// through the admin API; it returns the software id and the file's path.
func (r *runner) uploadSWU(tb *harnessTB, g *gosling, dir, version string, size int64) (int64, string) {
	path := filepath.Join(dir, "bench-"+version+".swu")
	check(tb, writeSWU(path, version, size, uint64(len(version))), "write .swu")
	f, err := os.Open(path)
	check(tb, err, "open .swu")
	defer f.Close()
	var sw struct {
		ID   int64 `json:"id"`
		Size int64 `json:"size"`
	}
	check(tb, g.admin("POST", "/api/v1/software?filename=bench-"+version+".swu", f, http.StatusCreated, &sw), "upload .swu")
	return sw.ID, path
}

// invalidation measures admin write acknowledged → both frontlines answer
// with it, for two writes per round: assigning software to a pinned device
// (both frontlines offer the deployment) and cancelling that action (both
// offer cancelAction). The device then acknowledges the cancel and is
// pinned again, unmeasured, so the next round starts from no offer.
func (r *runner) invalidation(tb *harnessTB, top *topology) {
	swID, _ := r.uploadSWU(tb, top.control, tb.TempDir(), "2.0.0", 4096)
	ids := []string{"inv-0", "inv-1", "inv-2", "inv-3"}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	for i, id := range ids {
		_, err := pollOnce(c, top.fronts[i%2].ddiURL, id) // registers
		check(tb, err, "register")
		// The image accepts hardware revision 1.0 only.
		status, body, err := ddi(c, "PUT", top.fronts[i%2].ddiURL+"/DEFAULT/controller/v1/"+id+"/configData", map[string]any{
			"status": map[string]any{"execution": "closed", "result": map[string]any{"finished": "success"}},
			"data":   map[string]string{"hw_model": "bench-board", "hw_revision": "1.0"}})
		if err != nil || status != http.StatusOK {
			tb.Fatalf("configData %s: %d %s %v", id, status, body, err)
		}
		check(tb, top.control.admin("PATCH", "/api/v1/devices/"+id, map[string]any{"update_mode": "pinned"}, http.StatusOK, nil), "pin")
		for _, f := range top.fronts {
			_, err := pollOnce(c, f.ddiURL, id) // warm both caches
			check(tb, err, "warm")
		}
	}
	var lat []time.Duration
	for round := range r.cfg.InvalidationRounds {
		id := ids[round%len(ids)]
		check(tb, top.control.admin("PATCH", "/api/v1/devices/"+id, map[string]any{"update_mode": "assigned", "software_id": swID}, http.StatusOK, nil), "assign")
		since := time.Now()
		var aid int64
		d := r.waitFronts(tb, c, top, id, since, func(a *pollAnswer) bool {
			if a.deployID() != 0 {
				aid = a.deployID()
				return true
			}
			return false
		})
		lat = append(lat, d)

		check(tb, top.control.admin("POST", fmt.Sprintf("/api/v1/devices/%s/actions/%d/cancel", id, aid), nil, http.StatusOK, nil), "cancel")
		since = time.Now()
		lat = append(lat, r.waitFronts(tb, c, top, id, since, func(a *pollAnswer) bool { return a.cancelID() == aid && a.deployID() == 0 }))

		// Unmeasured: the device acknowledges, the operator pins it again.
		f := top.fronts[round%2]
		status, body, err := ddi(c, "POST", fmt.Sprintf("%s/DEFAULT/controller/v1/%s/cancelAction/%d/feedback", f.ddiURL, id, aid),
			map[string]any{"id": fmt.Sprint(aid), "status": map[string]any{"execution": "closed", "result": map[string]any{"finished": "success"}, "details": []string{"canceled"}}})
		if err != nil || status != http.StatusOK {
			tb.Fatalf("cancel feedback: %d %s %v", status, body, err)
		}
		check(tb, top.control.admin("PATCH", "/api/v1/devices/"+id, map[string]any{"update_mode": "pinned"}, http.StatusOK, nil), "pin")
		r.waitFronts(tb, c, top, id, time.Now(), func(a *pollAnswer) bool { return a.cancelID() == 0 && a.deployID() == 0 })
	}
	slices.Sort(lat)
	p50, p99 := percentile(lat, 0.50), percentile(lat, 0.99)
	r.detail("invalidation_ms", durationsMs(lat))
	note := fmt.Sprintf("%d samples (assign and cancel), max %.2f ms; each includes one poll round trip per frontline", len(lat), ms(lat[len(lat)-1]))
	r.addRow(newRow("invalidation latency p50 (admin write → 2 frontlines)", ms(p50), "ms", 0, nil, ""))
	r.addRow(newRow("invalidation latency p99 (admin write → 2 frontlines)", ms(p99), "ms", 0, atMost(50), note))
}

// waitFronts polls id on every frontline, concurrently, until cond holds
// on each, and returns the time from since until the last one did. More
// than 10 s fails the scenario.
func (r *runner) waitFronts(tb *harnessTB, c *http.Client, top *topology, id string, since time.Time, cond func(*pollAnswer) bool) time.Duration {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		last time.Time
		errs []string
	)
	for _, f := range top.fronts {
		wg.Go(func() {
			deadline := since.Add(10 * time.Second)
			for {
				a, err := pollOnce(c, f.ddiURL, id)
				now := time.Now()
				if err == nil && cond(a) {
					mu.Lock()
					if now.After(last) {
						last = now
					}
					mu.Unlock()
					return
				}
				if now.After(deadline) {
					mu.Lock()
					errs = append(errs, fmt.Sprintf("%s on %s: not visible after 10s (last error %v)", id, f.name, err))
					mu.Unlock()
					return
				}
				time.Sleep(200 * time.Microsecond)
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		tb.Fatalf("%s", strings.Join(errs, "; "))
	}
	return last.Sub(since)
}

// percentile returns the nearest-rank percentile of sorted ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	i := int(p*float64(len(ds))+0.999999) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}

func durationsMs(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = ms(d)
	}
	return out
}
