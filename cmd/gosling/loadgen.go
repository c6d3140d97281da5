package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"

	"github.com/gosling-ota/gosling/loadtest"
	"github.com/gosling-ota/gosling/loadtest/baseline"
)

// loadgenFlags is what `gosling loadgen` parses: a loadtest.Config plus
// where the results go, or the baseline server's address instead.
type loadgenFlags struct {
	cfg            loadtest.Config
	jsonFile       string
	baselineListen string
}

// parseLoadgenFlags fills loadgenFlags from GOSLING_LOADGEN_* variables and
// args (flags win).
func parseLoadgenFlags(args []string, getenv func(string) string, stderr io.Writer) (loadgenFlags, error) {
	f := loadgenFlags{cfg: loadtest.Config{
		Target:      "http://127.0.0.1:8080",
		Tenant:      loadtest.DefaultTenant,
		Devices:     loadtest.DefaultDevices,
		IDPrefix:    loadtest.DefaultIDPrefix,
		Concurrency: loadtest.DefaultConcurrency,
		Timeout:     loadtest.DefaultTimeout,
		Auth:        loadtest.AuthNone,
		Download:    loadtest.DownloadNone,
		RangeSize:   loadtest.DefaultRangeSize,
		HWModel:     loadtest.DefaultHWModel,
		HWRevision:  loadtest.DefaultHWRevision,
		SWVersion:   loadtest.DefaultSWVersion,
		Seed:        1,
	}}
	c := &f.cfg
	fs := flag.NewFlagSet("gosling loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: gosling loadgen [flags]
Simulates a fleet of DDI devices against --target and prints a table of
rates, errors and latency percentiles per request type. Load model: --rate
(open model, visits/s), or --poll-interval with --jitter, or neither (closed
loop: as fast as --concurrency workers go). Bound it with --duration and/or
--max-requests. With --baseline-listen it runs the constant-answer baseline
server instead, for poll throughput comparisons.

`)
		fs.PrintDefaults()
	}
	var envErr error
	bind := func(v flag.Value, name, usage string) {
		env := "GOSLING_LOADGEN_" + envName(name)
		if s := getenv(env); s != "" {
			if err := v.Set(s); err != nil && envErr == nil {
				envErr = fmt.Errorf("%s: %w", env, err)
			}
		}
		fs.Var(v, name, usage+" ("+env+")")
	}
	str := func(p *string, name, usage string) { bind((*stringValue)(p), name, usage) }

	str(&c.Target, "target", "base URL of the DDI server; loopback only unless --allow-remote")
	bind((*boolValue)(&c.AllowRemote), "allow-remote", "permit a target (and links) that are not loopback")
	str(&c.Tenant, "tenant", "DDI tenant")
	bind((*intValue)(&c.Devices), "devices", "fleet size; device i is --id-prefix + i")
	str(&c.IDPrefix, "id-prefix", "controller id prefix")
	bind((*floatValue)(&c.Rate), "rate", "open model: device visits per second across the fleet")
	bind(pollInterval{&c.PollInterval}, "poll-interval", "each device's sleep between visits (5m or 00:05:00)")
	bind((*floatValue)(&c.Jitter), "jitter", "poll interval jitter in percent (0-100)")
	bind((*durationValue)(&c.Duration), "duration", "stop after this long")
	bind((*int64Value)(&c.MaxRequests), "max-requests", "stop after this many requests")
	bind((*intValue)(&c.Concurrency), "concurrency", "workers, each with one request in flight (and the connection limit)")
	bind((*durationValue)(&c.Timeout), "timeout", "per-request timeout, downloads included")
	str(&c.Auth, "auth", "device auth: none, target or gateway")
	str(&c.TokenSecret, "token-secret", "--auth target: TargetTokens are HMAC-SHA256(secret, id)")
	str(&c.GatewayToken, "gateway-token", "--auth gateway: the tenant's GatewayToken")
	str(&c.HWModel, "hw-model", "configData hw_model")
	str(&c.HWRevision, "hw-revision", "configData hw_revision")
	str(&c.SWVersion, "sw-version", "configData sw_version")
	str(&c.Download, "download", "artifact download: none, full or range")
	bind((*int64Value)(&c.RangeSize), "range-size", "bytes per Range request with --download range")
	bind((*floatValue)(&c.FailRate), "fail-rate", "share of devices (0-1) whose installs report failure")
	bind((*uint64Value)(&c.Seed), "seed", "seed for failures and jitter")
	bind((*boolValue)(&c.RegisterOnly), "register-only", "every device polls once and PUTs configData, then stop")
	str(&f.jsonFile, "json", "also write the report as JSON to this file (- for stdout)")
	str(&f.baselineListen, "baseline-listen", "run the baseline poll server on this address instead of generating load")
	if envErr != nil {
		return f, envErr
	}
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if f.baselineListen != "" {
		return f, nil
	}
	return f, c.Validate()
}

// loadgen runs `gosling loadgen`.
func loadgen(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f, err := parseLoadgenFlags(args, getenv, stderr)
	if err != nil {
		return err
	}
	if f.baselineListen != "" {
		return serveBaseline(ctx, f.baselineListen, f.cfg.AllowRemote, stderr)
	}
	rep, err := loadtest.Run(ctx, f.cfg)
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, rep.Table())
	if f.jsonFile == "" {
		return nil
	}
	js, err := rep.JSON()
	if err != nil {
		return err
	}
	js = append(js, '\n')
	if f.jsonFile == "-" {
		_, err = stdout.Write(js)
		return err
	}
	return os.WriteFile(f.jsonFile, js, 0o644)
}

// serveBaseline runs the baseline server until ctx ends.
func serveBaseline(ctx context.Context, addr string, allowRemote bool, stderr io.Writer) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--baseline-listen %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); !allowRemote && host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--baseline-listen %q: not a loopback address; refusing without --allow-remote", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := baseline.NewServer()
	fmt.Fprintf(stderr, "baseline: answering every GET on http://%s with %s\n", ln.Addr(), baseline.PollBody)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	if err := srv.Shutdown(); err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return <-done
}

// envName maps a flag name to its environment suffix: max-requests →
// MAX_REQUESTS.
func envName(flag string) string {
	b := []byte(flag)
	for i, c := range b {
		switch {
		case c == '-':
			b[i] = '_'
		case 'a' <= c && c <= 'z':
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

type boolValue bool

func (b *boolValue) String() string   { return strconv.FormatBool(bool(*b)) }
func (b *boolValue) IsBoolFlag() bool { return true }
func (b *boolValue) Set(v string) error {
	x, err := strconv.ParseBool(v)
	if err != nil {
		return fmt.Errorf("%q is not true or false", v)
	}
	*b = boolValue(x)
	return nil
}

type intValue int

func (n *intValue) String() string { return strconv.Itoa(int(*n)) }
func (n *intValue) Set(v string) error {
	x, err := strconv.Atoi(v)
	if err != nil {
		return fmt.Errorf("%q is not a whole number", v)
	}
	*n = intValue(x)
	return nil
}

type uint64Value uint64

func (n *uint64Value) String() string { return strconv.FormatUint(uint64(*n), 10) }
func (n *uint64Value) Set(v string) error {
	x, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return fmt.Errorf("%q is not a non-negative whole number", v)
	}
	*n = uint64Value(x)
	return nil
}

type floatValue float64

func (n *floatValue) String() string { return strconv.FormatFloat(float64(*n), 'g', -1, 64) }
func (n *floatValue) Set(v string) error {
	x, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return fmt.Errorf("%q is not a number", v)
	}
	*n = floatValue(x)
	return nil
}
