package bench

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gosling-ota/gosling/artifacts"
)

func TestParseGoBench(t *testing.T) {
	out := `goos: linux
goarch: amd64
pkg: github.com/gosling-ota/gosling/ddi
cpu: AMD EPYC
BenchmarkPoll/open-2         	 1507226	       795.1 ns/op	       0 B/op	       0 allocs/op
BenchmarkPoll/target-token-2 	 1000000	      1021 ns/op	      16 B/op	       1 allocs/op
BenchmarkEntryMemory-2   	       1	3549099956 ns/op	       385.6 B/device	   1000000 devices
PASS
ok  	github.com/gosling-ota/gosling/ddi	4.1s
`
	got := parseGoBench(out)
	want := []GoBench{
		{Name: "BenchmarkPoll/open", N: 1507226, NsPerOp: 795.1},
		{Name: "BenchmarkPoll/target-token", N: 1000000, NsPerOp: 1021, BytesPerOp: 16, AllocsPerOp: 1},
		{Name: "BenchmarkEntryMemory", N: 1, NsPerOp: 3549099956, Metrics: map[string]float64{"B/device": 385.6, "devices": 1000000}},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("line %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestParsePerfReport(t *testing.T) {
	text := `# Samples: 2K of event 'cpu-clock:ppp'
#
# Overhead  Symbol
# ........  ......
#
     9.21%  [k] finish_task_switch.isra.0
     3.22%  [.] runtime.mapaccess2_fast64

`
	got := parsePerfReport(text)
	if len(got) != 2 || got[0].Percent != 9.21 || got[1].Symbol != "[.] runtime.mapaccess2_fast64" {
		t.Fatalf("got %+v", got)
	}
}

func TestRowTargets(t *testing.T) {
	for _, tc := range []struct {
		name string
		row  Row
		met  string // "yes", "no" or "" (no verdict)
	}{
		{"ratio met", newRow("a", 90, "x", 100, ratioAtLeast(0.85), ""), "yes"},
		{"ratio missed", newRow("a", 80, "x", 100, ratioAtLeast(0.85), ""), "no"},
		{"ratio without baseline", newRow("a", 80, "x", 0, ratioAtLeast(0.85), ""), ""},
		{"at most met", newRow("a", 2, "ms", 0, atMost(2), ""), "yes"},
		{"at most missed", newRow("a", 2.01, "ms", 0, atMost(2), ""), "no"},
		{"exactly", newRow("a", 0, "allocs/op", 0, exactly(0), ""), "yes"},
		{"no target", newRow("a", 1, "s", 0, nil, ""), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			if tc.row.Met != nil {
				got = map[bool]string{true: "yes", false: "no"}[*tc.row.Met]
			}
			if got != tc.met {
				t.Errorf("met = %q, want %q", got, tc.met)
			}
		})
	}
}

func TestTable(t *testing.T) {
	res := &Results{Rows: []Row{
		newRow("poll throughput", 45000, "polls/s", 50000, ratioAtLeast(0.85), "a note"),
		newRow("memory per device", 412.5, "bytes", 0, atMost(300), ""),
	}, Failures: map[string]string{"download": "nginx not found"}}
	tab := res.Table()
	for _, want := range []string{"| poll throughput", "| 45000", "| 50000", "| 0.900", "| ratio ≥ 0.85", "| yes", "| 412", "| ≤ 300", "| NO",
		"poll throughput: a note", "FAILED download: nginx not found"} {
		if !strings.Contains(tab, want) {
			t.Errorf("table lacks %q:\n%s", want, tab)
		}
	}
	if _, err := res.JSON(); err != nil {
		t.Fatal(err)
	}
}

func TestHarnessTB(t *testing.T) {
	var log strings.Builder
	tb := newHarnessTB("x", &log)
	var order []int
	tb.Cleanup(func() { order = append(order, 1) })
	tb.Cleanup(func() { order = append(order, 2) })
	dir := tb.TempDir()
	r := &runner{cfg: Config{Log: &log}}
	err := r.scenario("x", func(*harnessTB) { tb.Fatalf("boom %d", 7) })
	if err == nil || err.Error() != "boom 7" || !tb.Failed() {
		t.Fatalf("scenario error = %v, failed = %v", err, tb.Failed())
	}
	tb.close()
	if len(order) != 2 || order[0] != 2 || order[1] != 1 {
		t.Errorf("cleanups ran in order %v, want [2 1]", order)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("TempDir %s not removed: %v", dir, err)
	}
}

// The generated image is one Gosling accepts: a cpio whose sw-description
// names the version and whose payload hash matches.
func TestWriteSWU(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.swu")
	if err := writeSWU(path, "1.2.3", 100_003, 1); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := artifacts.Inspect(f)
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != "1.2.3" {
		t.Errorf("version %q", m.Version)
	}
	fi, _ := f.Stat()
	if fi.Size()%512 != 0 || fi.Size() < 100_003 {
		t.Errorf("size %d", fi.Size())
	}
}

func TestHrefID(t *testing.T) {
	a := &pollAnswer{}
	a.Links.DeploymentBase.Href = "http://h/DEFAULT/controller/v1/d/deploymentBase/42?c=-1"
	a.Links.CancelAction.Href = "http://h/DEFAULT/controller/v1/d/cancelAction/7"
	if a.deployID() != 42 || a.cancelID() != 7 {
		t.Fatalf("ids %d %d", a.deployID(), a.cancelID())
	}
}

func TestConfigValidate(t *testing.T) {
	good := Config{Bin: "bin/gosling"}.withDefaults()
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*Config){
		"no bin":           func(c *Config) { c.Bin = "" },
		"few devices":      func(c *Config) { c.Devices = 10 },
		"few fb devices":   func(c *Config) { c.FeedbackDevices = 10 },
		"short duration":   func(c *Config) { c.Duration = time.Millisecond },
		"unknown scenario": func(c *Config) { c.Only = []string{"nope"} },
	} {
		c := good
		mut(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestScrapeStats(t *testing.T) {
	text := `# HELP gosling_cache_requests_total Cache lookups.
# TYPE gosling_cache_requests_total counter
gosling_cache_requests_total{level="l1",result="hit"} 1500
gosling_cache_requests_total{level="l1",result="miss"} 25
gosling_cache_requests_total{level="l2",result="hit"} 7
gosling_ddi_seen_flush_duration_seconds_bucket{le="0.1"} 3
gosling_ddi_seen_flush_duration_seconds_sum 1.25
gosling_ddi_seen_flush_duration_seconds_count 4
go_gc_duration_seconds{quantile="0.5"} 0.0001
go_gc_duration_seconds_count 9
`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, text) }))
	defer srv.Close()
	got, err := scrapeStats(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	want := serverStats{l1Hits: 1500, l1Misses: 25, seenFlushes: 4, seenSec: 1.25, gcCycles: 9}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}
