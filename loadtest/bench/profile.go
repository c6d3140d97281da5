package bench

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gosling-ota/gosling/loadtest"
)

// ProfileLine is one symbol of a perf report: its share of the samples.
type ProfileLine struct {
	Percent float64 `json:"percent"`
	Symbol  string  `json:"symbol"`
}

// profilePolls records the server while the fleet saturates it (perf
// record -g on its pid; the load phase itself is not one of the measured
// ones, since perf costs a few percent) and keeps the top symbols.
func (r *runner) profilePolls(tb *harnessTB, srv *gosling, fleet loadtest.Config) {
	if _, err := exec.LookPath("perf"); err != nil {
		r.logf("profile skipped: perf not found (apt-get install linux-perf)")
		return
	}
	load := fleet
	load.Duration = 8 * time.Second
	var wg sync.WaitGroup
	wg.Go(func() { r.runLoad(tb, "profile_load", load) })
	time.Sleep(time.Second)
	top, err := r.perf(srv.PID(), 5*time.Second, "poll")
	wg.Wait()
	if err != nil {
		r.logf("profile failed: %v", err)
		return
	}
	r.detail("profile_poll_saturated", top)
}

// perf samples pid for d and returns the symbols above 0.5 % (self time,
// kernel and user), and the share of kernel samples as "[kernel total]".
func (r *runner) perf(pid int, d time.Duration, label string) ([]ProfileLine, error) {
	out := filepath.Join(r.logDir, "perf-"+label+".data")
	ctx, cancel := context.WithTimeout(r.ctx, d+30*time.Second)
	defer cancel()
	rec := exec.CommandContext(ctx, "perf", "record", "-F", "499", "-g", "-p", strconv.Itoa(pid), "-o", out,
		"--", "sleep", strconv.Itoa(int(d.Seconds())))
	if msg, err := rec.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("perf record: %v: %s", err, msg)
	}
	rep := exec.CommandContext(ctx, "perf", "report", "-i", out, "--stdio", "--no-children",
		"--sort", "symbol", "-g", "none", "--percent-limit", "0.5")
	text, err := rep.Output()
	if err != nil {
		return nil, fmt.Errorf("perf report: %v", err)
	}
	lines := parsePerfReport(string(text))
	var kernel float64
	for _, l := range lines {
		if strings.HasPrefix(l.Symbol, "[k]") {
			kernel += l.Percent
		}
	}
	lines = append(lines, ProfileLine{Percent: kernel, Symbol: "[kernel total of listed symbols]"})
	var b strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&b, "  %6.2f%%  %s\n", l.Percent, l.Symbol)
	}
	r.logf("perf profile (%s, pid %d, %s, self time):\n%s", label, pid, d, b.String())
	return lines, nil
}

// parsePerfReport reads "  12.34%  [k] symbol" lines.
func parsePerfReport(text string) []ProfileLine {
	var out []ProfileLine
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		pct, sym, ok := strings.Cut(line, "%")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(pct), 64)
		if err != nil {
			continue
		}
		out = append(out, ProfileLine{Percent: v, Symbol: strings.TrimSpace(sym)})
	}
	return out
}
