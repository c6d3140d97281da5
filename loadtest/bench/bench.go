package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"
)

// Scenario names, in the order Run runs them.
const (
	ScenarioGoBench  = "gobench"
	ScenarioPoll     = "poll"
	ScenarioTopology = "topology"
	ScenarioFeedback = "feedback"
	ScenarioDownload = "download"
)

// Scenarios lists every scenario in run order.
var Scenarios = []string{ScenarioGoBench, ScenarioPoll, ScenarioTopology, ScenarioFeedback, ScenarioDownload}

// Config configures Run. Zero fields take the defaults of withDefaults.
type Config struct {
	// Bin is the gosling executable to measure (built by `make build`).
	Bin string
	// ModuleDir is the module root, for `go test -bench`.
	ModuleDir string
	// WorkDir holds data directories and process logs; default: a new
	// temporary directory, removed at the end unless KeepWorkDir.
	WorkDir     string
	KeepWorkDir bool

	// Devices is the fleet of the poll scenario: registered (tofu
	// TargetTokens), measured for memory, then polled for throughput.
	Devices int
	// RolloutDevices is the fleet of the Postgres rollout and install
	// cycle measurements.
	RolloutDevices int
	// FeedbackDevices is the number of devices with an open action whose
	// proceeding feedback the feedback scenario ingests.
	FeedbackDevices int
	// Duration is the length of each measured load phase.
	Duration time.Duration
	// Concurrency is the load generator's workers (and connections).
	Concurrency int
	// FeedbackConcurrency is the number of devices in flight during the
	// install cycles phase and the first closed loop of the feedback
	// scenario (the second runs twice as many): each feedback waits for
	// its group commit, so the server's capacity needs many concurrent
	// devices to show.
	FeedbackConcurrency int
	// FeedbackFrontlines is the number of `gosling ddi` processes the
	// feedback scenario starts and alternates between (default 1: on one
	// machine a second frontline only adds a process competing for the same
	// cores, and halves each one's group-commit batches).
	FeedbackFrontlines int
	// InvalidationRounds is the number of assign+cancel cycles; each
	// yields two latency samples.
	InvalidationRounds int
	// ArtifactBytes is the payload size of the download .swu.
	ArtifactBytes int64
	// DownloadClients and DownloadDuration shape each download phase.
	DownloadClients  int
	DownloadDuration time.Duration
	// Nginx is the nginx executable; empty: look it up in PATH.
	Nginx string
	// Profile records `perf record -g` of the saturated poll server.
	Profile bool
	// Pin confines the load generator to CPU 0 during the latency
	// measurements (no effect on one core).
	Pin bool
	// Only runs these scenarios (default: all).
	Only []string

	// Log receives progress lines; default os.Stderr.
	Log io.Writer
}

// Defaults sized for a 2-core machine and a run of about ten minutes.
const (
	DefaultDevices            = 300_000
	DefaultRolloutDevices     = 20_000
	DefaultFeedbackDevices    = 2_000
	DefaultFeedbackFronts     = 1
	DefaultFeedbackConc       = 128
	DefaultDuration           = 10 * time.Second
	DefaultConcurrency        = 64
	DefaultInvalidationRounds = 30
	DefaultArtifactBytes      = 512 << 20
	DefaultDownloadClients    = 16
	DefaultDownloadDuration   = 8 * time.Second
)

func (c Config) withDefaults() Config {
	if c.Devices == 0 {
		c.Devices = DefaultDevices
	}
	if c.RolloutDevices == 0 {
		c.RolloutDevices = DefaultRolloutDevices
	}
	if c.FeedbackDevices == 0 {
		c.FeedbackDevices = DefaultFeedbackDevices
	}
	if c.Duration == 0 {
		c.Duration = DefaultDuration
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.FeedbackFrontlines == 0 {
		c.FeedbackFrontlines = DefaultFeedbackFronts
	}
	if c.FeedbackConcurrency == 0 {
		c.FeedbackConcurrency = DefaultFeedbackConc
	}
	if c.InvalidationRounds == 0 {
		c.InvalidationRounds = DefaultInvalidationRounds
	}
	if c.ArtifactBytes == 0 {
		c.ArtifactBytes = DefaultArtifactBytes
	}
	if c.DownloadClients == 0 {
		c.DownloadClients = DefaultDownloadClients
	}
	if c.DownloadDuration == 0 {
		c.DownloadDuration = DefaultDownloadDuration
	}
	if len(c.Only) == 0 {
		c.Only = Scenarios
	}
	if c.Log == nil {
		c.Log = os.Stderr
	}
	return c
}

// Validate reports the first setting that cannot work, naming the limit.
func (c *Config) Validate() error {
	switch {
	case c.Bin == "":
		return errors.New("bench: the gosling executable is required (-bin)")
	case c.Devices < 1000 || c.Devices > 10_000_000:
		return fmt.Errorf("bench: devices %d: must be 1,000–10,000,000", c.Devices)
	case c.RolloutDevices < 100 || c.RolloutDevices > 10_000_000:
		return fmt.Errorf("bench: rollout devices %d: must be 100–10,000,000", c.RolloutDevices)
	case c.FeedbackDevices < 100 || c.FeedbackDevices > 1_000_000:
		return fmt.Errorf("bench: feedback devices %d: must be 100–1,000,000", c.FeedbackDevices)
	case c.Duration < time.Second || c.Duration > 10*time.Minute:
		return fmt.Errorf("bench: duration %s: must be 1s–10m", c.Duration)
	case c.Concurrency < 1 || c.Concurrency > 4096:
		return fmt.Errorf("bench: concurrency %d: must be 1–4096", c.Concurrency)
	case c.FeedbackFrontlines < 1 || c.FeedbackFrontlines > 8:
		return fmt.Errorf("bench: feedback frontlines %d: must be 1–8", c.FeedbackFrontlines)
	case c.FeedbackConcurrency < 1 || c.FeedbackConcurrency > 4096:
		return fmt.Errorf("bench: feedback concurrency %d: must be 1–4096", c.FeedbackConcurrency)
	case c.InvalidationRounds < 1 || c.InvalidationRounds > 10_000:
		return fmt.Errorf("bench: invalidation rounds %d: must be 1–10,000", c.InvalidationRounds)
	case c.ArtifactBytes < 1<<20 || c.ArtifactBytes > 4<<30:
		return fmt.Errorf("bench: artifact size %d: must be 1 MiB–4 GiB", c.ArtifactBytes)
	case c.DownloadClients < 1 || c.DownloadClients > 256:
		return fmt.Errorf("bench: download clients %d: must be 1–256", c.DownloadClients)
	case c.DownloadDuration < time.Second || c.DownloadDuration > 10*time.Minute:
		return fmt.Errorf("bench: download duration %s: must be 1s–10m", c.DownloadDuration)
	}
	for _, s := range c.Only {
		if !slices.Contains(Scenarios, s) {
			return fmt.Errorf("bench: unknown scenario %q: want %s", s, strings.Join(Scenarios, ", "))
		}
	}
	return nil
}

// runner is the state of one Run.
type runner struct {
	cfg    Config
	ctx    context.Context
	logDir string
	res    *Results

	mu sync.Mutex // guards res.Details and res.Failures; rows are added in order

	// baselinePollRate is the baseline server's saturation poll rate,
	// the yardstick of the feedback rows; 0 until the poll scenario ran.
	baselinePollRate float64
}

// Run runs the configured scenarios and returns their rows. A scenario
// that fails is recorded in Results.Failures and the others still run; the
// error is only for an invalid Config or an unusable work directory.
func Run(ctx context.Context, cfg Config) (*Results, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.WorkDir == "" {
		dir, err := os.MkdirTemp("", "gosling-bench-")
		if err != nil {
			return nil, err
		}
		cfg.WorkDir = dir
		if !cfg.KeepWorkDir {
			defer os.RemoveAll(dir)
		}
	}
	r := &runner{
		cfg:    cfg,
		ctx:    ctx,
		logDir: filepath.Join(cfg.WorkDir, "logs"),
		res: &Results{
			Machine: describeMachine(),
			Started: time.Now(),
			Settings: map[string]any{
				"devices": cfg.Devices, "rollout_devices": cfg.RolloutDevices, "feedback_devices": cfg.FeedbackDevices,
				"duration": cfg.Duration.String(), "concurrency": cfg.Concurrency, "feedback_concurrency": cfg.FeedbackConcurrency,
				"feedback_frontlines": cfg.FeedbackFrontlines,
				"invalidation_rounds": cfg.InvalidationRounds, "artifact_bytes": cfg.ArtifactBytes,
				"download_clients": cfg.DownloadClients, "download_duration": cfg.DownloadDuration.String(),
				"scenarios": cfg.Only,
			},
			Details:  map[string]any{},
			Failures: map[string]string{},
		},
	}
	if err := os.MkdirAll(r.logDir, 0o755); err != nil {
		return nil, err
	}
	scenarios := map[string]func(*harnessTB){
		ScenarioGoBench:  r.goBench,
		ScenarioPoll:     r.pollScenario,
		ScenarioTopology: r.topologyScenario,
		ScenarioFeedback: r.ingestScenario,
		ScenarioDownload: r.downloadScenario,
	}
	for _, name := range Scenarios {
		if !slices.Contains(cfg.Only, name) {
			continue
		}
		if ctx.Err() != nil {
			r.res.Failures[name] = "not run: " + ctx.Err().Error()
			continue
		}
		t0 := time.Now()
		r.logf("=== %s", name)
		if err := r.scenario(name, scenarios[name]); err != nil {
			r.res.Failures[name] = err.Error()
			r.logf("--- %s FAILED after %s: %v", name, time.Since(t0).Round(time.Second), err)
			continue
		}
		r.logf("--- %s done in %s", name, time.Since(t0).Round(time.Second))
	}
	r.res.Elapsed = time.Since(r.res.Started)
	if cfg.KeepWorkDir {
		r.logf("work directory kept: %s", cfg.WorkDir)
	}
	return r.res, nil
}

// scenario runs fn with a harnessTB whose cleanups (processes, clusters,
// directories) run when fn returns, whether it returned or failed.
func (r *runner) scenario(name string, fn func(*harnessTB)) (err error) {
	tb := newHarnessTB(name, r.cfg.Log)
	defer tb.close()
	defer func() {
		switch v := recover().(type) {
		case nil:
		case fatal:
			err = errors.New(v.msg)
		default:
			err = fmt.Errorf("panic: %v\n%s", v, debug.Stack())
		}
	}()
	fn(tb)
	return nil
}

func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(r.cfg.Log, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func (r *runner) addRow(row Row) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.res.Rows = append(r.res.Rows, row)
	r.logf("row: %s = %s %s", row.Name, fmtNum(row.Value), row.Unit)
}

func (r *runner) detail(key string, v any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.res.Details[key] = v
}

// check fails the scenario on err.
func check(tb *harnessTB, err error, what string) {
	if err != nil {
		tb.Fatalf("%s: %v", what, err)
	}
}
