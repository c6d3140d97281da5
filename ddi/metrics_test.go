package ddi_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/gosling-ota/gosling/ddi"
)

// TestMetrics drives a device through registration, an offer, feedback
// and errors, and checks that the frontline's series move with it.
func TestMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	e := MustEnv(t, ddi.Config{Registerer: reg})
	count := func(route, method, code string) float64 {
		return counterValue(t, reg, "gosling_ddi_requests_total", map[string]string{"route": route, "method": method, "code": code})
	}

	href, aid, _, _ := e.MustOffer("dev-01") // polls: register, offer
	e.Poll("dev-01")
	if got := count("poll", "GET", "200"); got != 3 {
		t.Errorf("poll 200: %v, want 3", got)
	}
	MustStatus(t, e.Do("GET", href, ""), 200)
	fbURL := e.base("dev-01") + "/deploymentBase/" + itoa(aid) + "/feedback"
	if got := count("deploymentBase", "GET", "200"); got != 1 {
		t.Errorf("deploymentBase 200: %v, want 1", got)
	}
	MustStatus(t, e.Do("POST", fbURL, fbProceeding, swupdateHeaders...), 200)
	MustStatus(t, e.Do("POST", fbURL, "{not json", swupdateHeaders...), 400)
	MustStatus(t, e.Do("POST", fbURL, fbSuccess, swupdateHeaders...), 200)
	// The action is closed: more feedback is gone.
	MustStatus(t, e.Do("POST", fbURL, fbProceeding, swupdateHeaders...), 410)
	if got := count("deploymentFeedback", "POST", "200"); got != 2 {
		t.Errorf("feedback 200: %v, want 2", got)
	}
	if got := count("deploymentFeedback", "POST", "410"); got != 1 {
		t.Errorf("feedback 410: %v, want 1", got)
	}
	MustStatus(t, e.Do("GET", e.url+"/nowhere", ""), 404)
	MustStatus(t, e.Do("DELETE", e.base("dev-01"), ""), 405)
	if got := count("other", "GET", "404"); got != 1 {
		t.Errorf("unrouted 404: %v, want 1", got)
	}
	if got := count("other", "other", "405"); got != 1 {
		t.Errorf("unrouted DELETE 405: %v, want 1", got)
	}

	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"gosling_ddi_actions_created_total", nil, 1},
		{"gosling_ddi_actions_closed_total", map[string]string{"status": "succeeded"}, 1},
		{"gosling_ddi_feedback_rejected_total", map[string]string{"reason": "invalid"}, 1},
		{"gosling_ddi_feedback_rejected_total", map[string]string{"reason": "gone"}, 1},
		{"gosling_ddi_feedback_rejected_total", map[string]string{"reason": "queue_full"}, 0},
		{"gosling_cache_requests_total", map[string]string{"level": "l1", "result": "hit"}, -1}, // > 0
		{"gosling_ddi_seen_pending", nil, 1},
		{"gosling_ddi_feedback_queue_depth", nil, 0},
	} {
		got := counterValue(t, reg, c.name, c.labels)
		if c.want < 0 && got <= 0 || c.want >= 0 && got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if n := histogramCount(t, reg, "gosling_ddi_feedback_batch_size"); n < 1 || n > 3 {
		t.Errorf("feedback batches: %d, want 1..3", n)
	}
	if n := histogramCount(t, reg, "gosling_ddi_request_duration_seconds", "route", "poll"); n != 3 {
		t.Errorf("poll durations: %d, want 3", n)
	}

	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// counterValue returns the value of the counter or gauge name whose labels
// include want; it fails if there is none.
func counterValue(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if have[k] != v {
					continue metric
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
		return 0 // the family exists, the child was never used
	}
	t.Fatalf("%s is not exported", name)
	return 0
}

// histogramCount returns the sample count of a histogram, optionally the
// child with label k=v.
func histogramCount(t *testing.T, reg *prometheus.Registry, name string, kv ...string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			ok := true
			for i := 0; i+1 < len(kv); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					found = found || l.GetName() == kv[i] && l.GetValue() == kv[i+1]
				}
				ok = ok && found
			}
			if ok {
				return m.GetHistogram().GetSampleCount()
			}
		}
	}
	t.Fatalf("%s%v is not exported", name, kv)
	return 0
}
