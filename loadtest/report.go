package loadtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/valyala/fasthttp"
)

// Request types, in report order.
const (
	opPoll       = iota // GET {base}
	opConfigData        // PUT {base}/configData
	opDeployment        // GET deploymentBase
	opFeedback          // POST deploymentBase feedback
	opCancel            // GET cancelAction and POST its feedback
	opDownload          // GET artifact (each Range request counts)
	numOps
)

var opNames = [numOps]string{"poll", "configData", "deployment", "feedback", "cancel", "download"}

// Error kinds, in report order. A request counts once, under one kind.
const (
	errStatus401 = iota
	errStatus404
	errStatus405
	errStatus409
	errStatus410
	errStatus416
	errStatus429
	errStatus4xx  // other 4xx
	errStatus5xx  // any 5xx
	errStatusElse // 1xx/2xx/3xx other than the expected one
	errTimeout    // no answer within Config.Timeout
	errConnection // dial, reset, closed connection
	errBody       // unexpected answer body: not the JSON we need, wrong byte count
	errOffTarget  // an href pointing away from a loopback target; not sent
	numErrKinds
)

var errNames = [numErrKinds]string{"401", "404", "405", "409", "410", "416", "429", "4xx", "5xx", "status", "timeout", "connection", "body", "off-target"}

func statusKind(code int) int {
	switch code {
	case 401:
		return errStatus401
	case 404:
		return errStatus404
	case 405:
		return errStatus405
	case 409:
		return errStatus409
	case 410:
		return errStatus410
	case 416:
		return errStatus416
	case 429:
		return errStatus429
	}
	switch {
	case code >= 500:
		return errStatus5xx
	case code >= 400:
		return errStatus4xx
	}
	return errStatusElse
}

func transportKind(err error) int {
	var ne net.Error
	if errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, fasthttp.ErrDialTimeout) ||
		errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return errTimeout
	}
	return errConnection
}

// opStats is one worker's view of one request type.
type opStats struct {
	count uint64
	errs  [numErrKinds]uint64
	bytes uint64 // download bodies read
	hist  Histogram
}

// workerStats is everything one worker counts. Only that worker writes
// it; Run reads it after the worker has ended.
type workerStats struct {
	ops     [numOps]opStats
	lag     Histogram // start of a visit minus its scheduled time
	visits  uint64
	outcome Outcomes
}

func (w *workerStats) merge(o *workerStats) {
	for i := range w.ops {
		a, b := &w.ops[i], &o.ops[i]
		a.count += b.count
		a.bytes += b.bytes
		for k := range a.errs {
			a.errs[k] += b.errs[k]
		}
		a.hist.Merge(&b.hist)
	}
	w.lag.Merge(&o.lag)
	w.visits += o.visits
	w.outcome.Succeeded += o.outcome.Succeeded
	w.outcome.Failed += o.outcome.Failed
	w.outcome.Canceled += o.outcome.Canceled
	w.outcome.Registered += o.outcome.Registered
}

// Outcomes counts what devices told the server and the server accepted
// (answered 200): closed deployment feedback by result, acknowledged
// cancels, and configData reports.
type Outcomes struct {
	Succeeded  uint64 `json:"succeeded"`
	Failed     uint64 `json:"failed"`
	Canceled   uint64 `json:"canceled"`
	Registered uint64 `json:"config_data_stored"`
}

// OpReport is the result for one request type. Rate is per second of
// Report.Elapsed; Latency covers every request, failed ones included.
type OpReport struct {
	Name    string            `json:"name"`
	Count   uint64            `json:"count"`
	OK      uint64            `json:"ok"`
	Rate    float64           `json:"rate_per_s"`
	Errors  map[string]uint64 `json:"errors,omitempty"`
	Bytes   uint64            `json:"bytes,omitempty"`
	Latency Latency           `json:"latency"`
}

// Report is the outcome of a Run.
type Report struct {
	Target  string    `json:"target"`
	Mode    string    `json:"mode"` // Config.Mode
	Devices int       `json:"devices"`
	Workers int       `json:"workers"`
	Started time.Time `json:"started"`
	// Elapsed is from the first request until the last worker ended.
	Elapsed time.Duration `json:"elapsed_ns"`
	// StopReason: "duration", "max-requests", "done" (register-only),
	// "canceled" (the context).
	StopReason string `json:"stop_reason"`
	// TargetRate is Config.Rate (open model), else 0.
	TargetRate float64 `json:"target_rate_per_s,omitempty"`

	Requests uint64  `json:"requests"`
	Errors   uint64  `json:"errors"`
	Rate     float64 `json:"rate_per_s"`
	// Visits counts device visits started; Skipped counts open-model
	// arrivals dropped because that device's previous visit was running.
	Visits  uint64 `json:"visits"`
	Skipped uint64 `json:"skipped"`
	// Lag is how late visits started against their schedule. A large lag
	// means the generator (workers or CPU), not the server, set the pace.
	Lag      Latency    `json:"schedule_lag"`
	Outcomes Outcomes   `json:"outcomes"`
	Ops      []OpReport `json:"ops"`
}

// Op returns the report of a request type by name ("poll", "configData",
// "deployment", "feedback", "cancel", "download"), or a zero OpReport.
func (r *Report) Op(name string) OpReport {
	for _, o := range r.Ops {
		if o.Name == name {
			return o
		}
	}
	return OpReport{Name: name}
}

// JSON returns the report as indented JSON.
func (r *Report) JSON() ([]byte, error) { return json.MarshalIndent(r, "", "  ") }

func newReport(cfg *Config, st *workerStats, started time.Time, elapsed time.Duration, reason string, skipped uint64) *Report {
	r := &Report{
		Target: cfg.Target, Mode: cfg.Mode(), Devices: cfg.Devices, Workers: cfg.Concurrency,
		Started: started, Elapsed: elapsed, StopReason: reason,
		Visits: st.visits, Skipped: skipped, Lag: st.lag.Summary(), Outcomes: st.outcome,
	}
	if cfg.Rate > 0 && !cfg.RegisterOnly {
		r.TargetRate = cfg.Rate
	}
	secs := elapsed.Seconds()
	rate := func(n uint64) float64 {
		if secs <= 0 {
			return 0
		}
		return float64(n) / secs
	}
	for i := range st.ops {
		s := &st.ops[i]
		o := OpReport{Name: opNames[i], Count: s.count, Rate: rate(s.count), Bytes: s.bytes, Latency: s.hist.Summary()}
		var errs uint64
		for k, n := range s.errs {
			if n == 0 {
				continue
			}
			if o.Errors == nil {
				o.Errors = map[string]uint64{}
			}
			o.Errors[errNames[k]] = n
			errs += n
		}
		o.OK = s.count - min(errs, s.count)
		r.Requests += s.count
		r.Errors += errs
		r.Ops = append(r.Ops, o)
	}
	r.Rate = rate(r.Requests)
	return r
}

// Table renders the report for a terminal: a header line, then one row
// per request type that was used.
func (r *Report) Table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "target %s  mode %s  devices %d  workers %d  elapsed %s  stop %s\n",
		r.Target, r.Mode, r.Devices, r.Workers, r.Elapsed.Round(time.Millisecond), r.StopReason)
	if r.TargetRate > 0 {
		fmt.Fprintf(&b, "target rate %.0f visits/s  ", r.TargetRate)
	}
	fmt.Fprintf(&b, "requests %d (%.0f/s)  errors %d  visits %d  skipped %d  schedule lag p99 %s max %s\n",
		r.Requests, r.Rate, r.Errors, r.Visits, r.Skipped, fmtDur(r.Lag.P99), fmtDur(r.Lag.Max))
	fmt.Fprintf(&b, "outcomes: succeeded %d  failed %d  canceled %d  configData stored %d\n",
		r.Outcomes.Succeeded, r.Outcomes.Failed, r.Outcomes.Canceled, r.Outcomes.Registered)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "request\tcount\trate/s\terrors\tp50\tp90\tp99\tmax\t\terrors by kind")
	for _, o := range r.Ops {
		if o.Count == 0 {
			continue
		}
		var kinds []string
		for _, k := range errNames {
			if n := o.Errors[k]; n > 0 {
				kinds = append(kinds, fmt.Sprintf("%s:%d", k, n))
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%d\t%s\t%s\t%s\t%s\t\t%s\n", o.Name, o.Count, o.Rate, o.Count-o.OK,
			fmtDur(o.Latency.P50), fmtDur(o.Latency.P90), fmtDur(o.Latency.P99), fmtDur(o.Latency.Max), strings.Join(kinds, " "))
	}
	tw.Flush()
	return b.String()
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Microsecond).String()
}
