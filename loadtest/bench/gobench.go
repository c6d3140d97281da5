package bench

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// goBench runs the hit-path micro-benchmark of package ddi and reports
// ns/op and allocs/op per sub-benchmark.
func (r *runner) goBench(tb *harnessTB) {
	ctx, cancel := context.WithTimeout(r.ctx, 5*time.Minute)
	defer cancel()
	args := []string{"test", "-run", "XXX", "-bench", "BenchmarkPoll", "-benchmem", "-count", "1", "./ddi/"}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = r.cfg.ModuleDir
	r.logf("go %s", strings.Join(args, " "))
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	results := parseGoBench(string(out))
	if len(results) == 0 {
		tb.Fatalf("no benchmark results in:\n%s", out)
	}
	r.detail("go_bench", results)
	for _, b := range results {
		name := strings.TrimPrefix(b.Name, "BenchmarkPoll/")
		r.addRow(newRow("poll hit path ("+name+", go test -bench)", b.NsPerOp, "ns/op", 0, nil, ""))
		r.addRow(newRow("poll hit path allocations ("+name+")", b.AllocsPerOp, "allocs/op", 0, exactly(0), ""))
	}

	// The L1's own memory: live heap per cached device with 1,000,000
	// devices in the default budget, after a GC (BenchmarkEntryMemory).
	args = []string{"test", "-run", "XXX", "-bench", "BenchmarkEntryMemory", "-benchtime", "1x", "-count", "1", "./ddi/"}
	cmd = exec.CommandContext(ctx, "go", args...)
	cmd.Dir = r.cfg.ModuleDir
	r.logf("go %s", strings.Join(args, " "))
	out, err = cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	mem := parseGoBench(string(out))
	if len(mem) != 1 || mem[0].Metrics["B/device"] == 0 {
		tb.Fatalf("no BenchmarkEntryMemory result in:\n%s", out)
	}
	r.detail("go_bench_memory", mem)
	r.addRow(newRow(fmt.Sprintf("L1 heap per cached device, %.0f devices (go test -bench)", mem[0].Metrics["devices"]),
		mem[0].Metrics["B/device"], "bytes", 0, atMost(300),
		"live heap after GC: entry, key, ristretto's maps, admission counters of the default 256 MiB budget"))
}

// GoBench is one line of `go test -bench -benchmem` output.
type GoBench struct {
	Name        string  `json:"name"`
	N           int64   `json:"n"`
	NsPerOp     float64 `json:"ns_per_op"`
	BytesPerOp  float64 `json:"bytes_per_op"`
	AllocsPerOp float64 `json:"allocs_per_op"`
	// Metrics are the other units reported (b.ReportMetric), by unit.
	Metrics map[string]float64 `json:"metrics,omitempty"`
}

// parseGoBench reads benchmark lines ("BenchmarkX/y-2  N  v ns/op  v B/op
// v allocs/op"), dropping the -GOMAXPROCS suffix of names.
func parseGoBench(out string) []GoBench {
	var res []GoBench
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		b := GoBench{Name: f[0], N: n}
		if i := strings.LastIndexByte(b.Name, '-'); i > 0 {
			if _, err := strconv.Atoi(b.Name[i+1:]); err == nil {
				b.Name = b.Name[:i]
			}
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				b.NsPerOp = v
			case "B/op":
				b.BytesPerOp = v
			case "allocs/op":
				b.AllocsPerOp = v
			default:
				if b.Metrics == nil {
					b.Metrics = map[string]float64{}
				}
				b.Metrics[f[i+1]] = v
			}
		}
		res = append(res, b)
	}
	return res
}
