package bench

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// serverStats are the counters of a running gosling that explain a
// throughput row: how many polls hit L1, how much last-seen writing and
// garbage collection went on meanwhile.
type serverStats struct {
	l1Hits, l1Misses     float64
	seenFlushes, seenSec float64
	gcCycles             float64
}

// scrapeStats reads the counters from a gosling's /metrics (Prometheus
// text format). Missing series read as 0.
func scrapeStats(metricsURL string) (serverStats, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(metricsURL)
	if err != nil {
		return serverStats{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return serverStats{}, fmt.Errorf("GET %s: %s", metricsURL, resp.Status)
	}
	var st serverStats
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		series := line[:i]
		switch {
		case strings.HasPrefix(series, "gosling_cache_requests_total{") && strings.Contains(series, `level="l1"`):
			if strings.Contains(series, `result="hit"`) {
				st.l1Hits += v
			} else if strings.Contains(series, `result="miss"`) {
				st.l1Misses += v
			}
		case series == "gosling_ddi_seen_flush_duration_seconds_count":
			st.seenFlushes += v
		case series == "gosling_ddi_seen_flush_duration_seconds_sum":
			st.seenSec += v
		case series == "go_gc_duration_seconds_count":
			st.gcCycles += v
		}
	}
	return st, sc.Err()
}

// since describes what happened between two scrapes.
func (s serverStats) since(before serverStats) string {
	return fmt.Sprintf("server meanwhile: L1 hits %.0f, misses %.0f; last-seen flushes %.0f taking %.1f s; GC cycles %.0f",
		s.l1Hits-before.l1Hits, s.l1Misses-before.l1Misses, s.seenFlushes-before.seenFlushes,
		s.seenSec-before.seenSec, s.gcCycles-before.gcCycles)
}
