// Command gosling-bench runs Gosling's benchmarks on this machine and
// prints one table (see package bench and docs/benchmarks.md). It is what
// `make bench` runs:
//
//	go run ./loadtest/bench/cmd/gosling-bench -bin bin/gosling -json bench-results.json
//
// Scale knobs are flags; BENCH_DEVICES and BENCH_ROLLOUT_DEVICES set the
// defaults of -devices and -rollout-devices.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gosling-ota/gosling/loadtest/bench"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gosling-bench:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		cfg      bench.Config
		jsonPath string
		only     string
		artMiB   int64
		err      error
	)
	fs := flag.NewFlagSet("gosling-bench", flag.ContinueOnError)
	fs.StringVar(&cfg.Bin, "bin", "bin/gosling", "gosling executable to measure")
	fs.StringVar(&jsonPath, "json", "bench-results.json", "write the results as JSON here (empty: don't)")
	fs.IntVar(&cfg.Devices, "devices", envInt("BENCH_DEVICES", bench.DefaultDevices, &err),
		"devices registered, measured for memory and polled (BENCH_DEVICES)")
	fs.IntVar(&cfg.RolloutDevices, "rollout-devices", envInt("BENCH_ROLLOUT_DEVICES", bench.DefaultRolloutDevices, &err),
		"devices of the Postgres rollout and install cycle measurements (BENCH_ROLLOUT_DEVICES)")
	fs.IntVar(&cfg.FeedbackDevices, "feedback-devices", envInt("BENCH_FEEDBACK_DEVICES", bench.DefaultFeedbackDevices, &err),
		"devices with an open action in the feedback ingest scenario (BENCH_FEEDBACK_DEVICES)")
	fs.DurationVar(&cfg.Duration, "duration", bench.DefaultDuration, "length of each measured load phase")
	fs.IntVar(&cfg.Concurrency, "concurrency", bench.DefaultConcurrency, "load generator workers (and connections)")
	fs.BoolVar(&cfg.Pin, "pin", true, "latency measurements: confine the load generator to CPU 0")
	fs.IntVar(&cfg.FeedbackFrontlines, "feedback-frontlines", bench.DefaultFeedbackFronts, "frontlines (gosling ddi) the feedback scenario alternates between")
	fs.IntVar(&cfg.FeedbackConcurrency, "feedback-concurrency", bench.DefaultFeedbackConc, "devices in flight during the install cycles phase and the feedback scenario's first loop (its second runs twice as many)")
	fs.IntVar(&cfg.InvalidationRounds, "invalidation-rounds", bench.DefaultInvalidationRounds, "assign+cancel cycles (two latency samples each)")
	fs.Int64Var(&artMiB, "artifact-mib", bench.DefaultArtifactBytes>>20, "payload size of the download .swu in MiB")
	fs.IntVar(&cfg.DownloadClients, "download-clients", bench.DefaultDownloadClients, "concurrent download clients")
	fs.DurationVar(&cfg.DownloadDuration, "download-duration", bench.DefaultDownloadDuration, "length of each download phase")
	fs.StringVar(&cfg.Nginx, "nginx", "", "nginx executable (default: from PATH)")
	fs.BoolVar(&cfg.Profile, "profile", true, "record a perf profile of the saturated poll server")
	fs.StringVar(&only, "only", "", "comma-separated scenarios to run: "+strings.Join(bench.Scenarios, ","))
	fs.StringVar(&cfg.WorkDir, "workdir", "", "directory for data and logs (default: a temporary one)")
	fs.BoolVar(&cfg.KeepWorkDir, "keep", false, "keep the work directory (logs, perf data)")
	if err != nil {
		return err
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg.ArtifactBytes = artMiB << 20
	if only != "" {
		cfg.Only = strings.Split(only, ",")
	}
	if cfg.ModuleDir, err = os.Getwd(); err != nil {
		return err
	}
	if _, err := os.Stat("go.mod"); err != nil {
		return errors.New("run from the module root (where go.mod is)")
	}
	if _, err := os.Stat(cfg.Bin); err != nil {
		return fmt.Errorf("%v (run `make build` first)", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	t0 := time.Now()
	res, err := bench.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if jsonPath != "" {
		b, err := res.JSON()
		if err != nil {
			return err
		}
		if err := os.WriteFile(jsonPath, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	m := res.Machine
	fmt.Printf("\nGosling benchmarks — %d × %s, %.1f GiB, Linux %s, %s; wall time %s\n\n",
		m.CPUs, m.Model, float64(m.MemBytes)/(1<<30), m.Kernel, m.Go, time.Since(t0).Round(time.Second))
	fmt.Print(res.Table())
	if jsonPath != "" {
		fmt.Printf("\nJSON: %s\n", jsonPath)
	}
	if len(res.Failures) > 0 {
		return fmt.Errorf("%d scenario(s) failed", len(res.Failures))
	}
	return nil
}

// envInt reads an integer default from the environment.
func envInt(name string, def int, errp *error) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(strings.ReplaceAll(s, "_", ""))
	if err != nil && *errp == nil {
		*errp = fmt.Errorf("%s=%q: not a whole number", name, s)
	}
	return n
}
