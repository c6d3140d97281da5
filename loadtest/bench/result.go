package bench

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Target is a row's goal: Value or Ratio (On) compared by Op ("<=", ">=",
// "==") with Limit.
type Target struct {
	On    string  `json:"on"` // "value" or "ratio"
	Op    string  `json:"op"`
	Limit float64 `json:"limit"`
}

func (t *Target) String() string {
	if t == nil {
		return ""
	}
	op := map[string]string{"<=": "≤", ">=": "≥", "==": "="}[t.Op]
	if t.On == "ratio" {
		return "ratio " + op + " " + fmtNum(t.Limit)
	}
	return op + " " + fmtNum(t.Limit)
}

// met reports whether v satisfies the target.
func (t *Target) met(v float64) bool {
	switch t.Op {
	case "<=":
		return v <= t.Limit
	case ">=":
		return v >= t.Limit
	case "==":
		return v == t.Limit
	}
	return false
}

func atMost(limit float64) *Target  { return &Target{On: "value", Op: "<=", Limit: limit} }
func exactly(limit float64) *Target { return &Target{On: "value", Op: "==", Limit: limit} }
func ratioAtLeast(r float64) *Target {
	return &Target{On: "ratio", Op: ">=", Limit: r}
}

// Row is one line of the results table. Baseline and Ratio (Value /
// Baseline) are set when the measurement has a yardstick from the same
// run; Met when it has a target.
type Row struct {
	Name     string   `json:"name"`
	Value    float64  `json:"value"`
	Unit     string   `json:"unit"`
	Baseline *float64 `json:"baseline,omitempty"`
	Ratio    *float64 `json:"ratio,omitempty"`
	Target   *Target  `json:"target,omitempty"`
	Met      *bool    `json:"met,omitempty"`
	Note     string   `json:"note,omitempty"`
}

// newRow builds a row and evaluates its target. A baseline ≤ 0 is left
// out (no ratio).
func newRow(name string, value float64, unit string, baseline float64, target *Target, note string) Row {
	r := Row{Name: name, Value: value, Unit: unit, Target: target, Note: note}
	if baseline > 0 {
		b, q := baseline, value/baseline
		r.Baseline, r.Ratio = &b, &q
	}
	if target != nil {
		v := value
		if target.On == "ratio" {
			if r.Ratio == nil {
				return r
			}
			v = *r.Ratio
		}
		m := target.met(v)
		r.Met = &m
	}
	return r
}

// Results is what a Run measured; it is written as JSON.
type Results struct {
	Machine  Machine        `json:"machine"`
	Started  time.Time      `json:"started"`
	Elapsed  time.Duration  `json:"elapsed_ns"`
	Settings map[string]any `json:"settings"`
	Rows     []Row          `json:"rows"`
	// Failures names scenarios that did not complete, with the reason.
	Failures map[string]string `json:"failures,omitempty"`
	// Details holds raw measurements: loadgen reports, profiles, query
	// breakdowns.
	Details map[string]any `json:"details"`
}

// JSON returns the results as indented JSON.
func (r *Results) JSON() ([]byte, error) { return json.MarshalIndent(r, "", "  ") }

// Table renders the rows for a terminal (and for docs/benchmarks.md:
// the columns are separated by " | ").
func (r *Results) Table() string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 1, ' ', 0)
	fmt.Fprintln(tw, "| measurement\t| value\t| unit\t| baseline\t| ratio\t| target\t| met\t|")
	fmt.Fprintln(tw, "|---\t|---\t|---\t|---\t|---\t|---\t|---\t|")
	for _, row := range r.Rows {
		base, ratio, met := "", "", ""
		if row.Baseline != nil {
			base = fmtNum(*row.Baseline)
		}
		if row.Ratio != nil {
			ratio = strconv.FormatFloat(*row.Ratio, 'f', 3, 64)
		}
		if row.Met != nil {
			met = map[bool]string{true: "yes", false: "NO"}[*row.Met]
		}
		fmt.Fprintf(tw, "| %s\t| %s\t| %s\t| %s\t| %s\t| %s\t| %s\t|\n",
			row.Name, fmtNum(row.Value), row.Unit, base, ratio, row.Target.String(), met)
	}
	tw.Flush()
	for _, row := range r.Rows {
		if row.Note != "" {
			fmt.Fprintf(&b, "  %s: %s\n", row.Name, row.Note)
		}
	}
	for name, why := range r.Failures {
		fmt.Fprintf(&b, "  FAILED %s: %s\n", name, why)
	}
	return b.String()
}

// fmtNum prints integers without decimals and small numbers with three
// significant digits.
func fmtNum(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return fmt.Sprint(v)
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case math.Abs(v) >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case math.Abs(v) >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// ms converts a duration to float milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
