package schema_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/gosling-ota/gosling/schema"
)

func TestPollInterval(t *testing.T) {
	p := &schema.PollSettings{
		Default: schema.Duration(10 * time.Minute),
		Feeds:   map[string]schema.Duration{"beta": schema.Duration(2 * time.Minute)},
		Tags:    map[string]schema.Duration{"lab": schema.Duration(time.Minute), "slow": schema.Duration(time.Hour)},
		Action:  schema.Duration(30 * time.Second),
	}
	dev := func(mut func(*schema.Device)) *schema.Device {
		d := &schema.Device{ID: "d", Feed: "default"}
		if mut != nil {
			mut(d)
		}
		return d
	}
	tests := []struct {
		name string
		p    *schema.PollSettings
		d    *schema.Device
		want time.Duration
	}{
		{"no settings: server default", nil, dev(nil), 5 * time.Minute},
		{"tenant default", p, dev(nil), 10 * time.Minute},
		{"feed", p, dev(func(d *schema.Device) { d.Feed = "beta" }), 2 * time.Minute},
		{"shortest tag beats feed", p, dev(func(d *schema.Device) { d.Feed = "beta"; d.Tags = []string{"slow", "lab"} }), time.Minute},
		{"device override", p, dev(func(d *schema.Device) { d.Tags = []string{"lab"}; d.PollInterval = 3 * time.Hour }), 3 * time.Hour},
		{"open action caps", p, dev(func(d *schema.Device) { d.ActionID = 7 }), 30 * time.Second},
		{"open action never lengthens", p, dev(func(d *schema.Device) { d.ActionID = 7; d.PollInterval = 5 * time.Second }), 5 * time.Second},
		{"clamped below 24h", nil, dev(func(d *schema.Device) { d.PollInterval = 48 * time.Hour }), schema.MaxPollInterval},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.Interval(tt.d, 5*time.Minute); got != tt.want {
				t.Errorf("Interval = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestPollJitter(t *testing.T) {
	p := &schema.PollSettings{JitterPercent: 10}
	seen := map[time.Duration]bool{}
	for i := range 200 {
		// Serial-numbered ids differ only in their last bytes.
		d := &schema.Device{ID: fmt.Sprintf("dev-%03d", i)}
		got := p.Interval(d, 100*time.Second)
		if got < 90*time.Second || got > 110*time.Second {
			t.Fatalf("%s: %s outside ±10%%", d.ID, got)
		}
		if again := p.Interval(d, 100*time.Second); again != got {
			t.Fatalf("%s: jitter not stable: %s then %s", d.ID, got, again)
		}
		seen[got.Round(time.Second)] = true
	}
	// ±10% of 100 s rounded to seconds has 21 values; all should be used.
	if len(seen) < 19 {
		t.Errorf("jitter spreads 200 devices over only %d distinct sleeps", len(seen))
	}
}

func TestPollSettingsValidate(t *testing.T) {
	for _, tt := range []struct {
		p  schema.PollSettings
		ok bool
	}{
		{schema.PollSettings{}, true},
		{schema.PollSettings{Default: schema.Duration(24 * time.Hour)}, false},
		{schema.PollSettings{Tags: map[string]schema.Duration{"x": schema.Duration(time.Millisecond)}}, false},
		{schema.PollSettings{JitterPercent: 51}, false},
		{schema.PollSettings{Action: schema.Duration(10 * time.Second), JitterPercent: 20}, true},
	} {
		if err := tt.p.Validate(); (err == nil) != tt.ok {
			t.Errorf("%+v: Validate = %v, want ok=%v", tt.p, err, tt.ok)
		}
	}
}

func TestWaveBuckets(t *testing.T) {
	const n = 20000
	r := &schema.Rollout{ID: 42, CurrentWave: 2, Waves: []schema.Wave{
		{Threshold: schema.PercentThreshold(1)},
		{Threshold: schema.PercentThreshold(10)},
		{Threshold: schema.PercentThreshold(100)},
	}}
	counts := make([]int, 3)
	for i := range n {
		id := fmt.Sprintf("device-%06d", i)
		w := r.WaveOf(id)
		if w < 0 {
			t.Fatalf("%s: not covered by a 100%% wave", id)
		}
		if w != r.WaveOf(id) {
			t.Fatal("wave choice not deterministic")
		}
		counts[w]++
	}
	// Cumulative 1% / 10% / 100%: about 200, 1800, 18000 devices.
	for i, want := range []float64{0.01, 0.09, 0.90} {
		if got := float64(counts[i]) / n; got < want*0.8 || got > want*1.2 {
			t.Errorf("wave %d holds %.4f of devices, want about %.2f", i, got, want)
		}
	}
	r.CurrentWave = 0
	if w := r.WaveOf("device-x"); w > 0 {
		t.Errorf("closed wave %d offered", w)
	}
}

func TestMaintenanceWindow(t *testing.T) {
	day := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	w := &schema.MaintenanceWindow{Start: "23:00", Duration: schema.Duration(2 * time.Hour)}
	if err := w.Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		at      time.Duration // after midnight
		open    bool
		opensIn time.Duration
	}{
		{22 * time.Hour, false, time.Hour},
		{23 * time.Hour, true, 0},
		{24*time.Hour + 30*time.Minute, true, 0}, // spans midnight
		{25 * time.Hour, false, 22 * time.Hour},
		{30 * time.Minute, true, 0}, // yesterday's window
	}
	for _, tt := range tests {
		open, in := w.State(day.Add(tt.at))
		if open != tt.open || in != tt.opensIn {
			t.Errorf("at +%s: open=%v in %s, want %v in %s", tt.at, open, in, tt.open, tt.opensIn)
		}
	}
	berlin := &schema.MaintenanceWindow{Start: "02:00", Duration: schema.Duration(time.Hour), Location: "Europe/Berlin"}
	if open, _ := berlin.State(time.Date(2026, 11, 28, 1, 30, 0, 0, time.UTC)); !open {
		t.Error("02:30 in Berlin (01:30 UTC in winter) should be inside the window")
	}
	for _, bad := range []schema.MaintenanceWindow{
		{Start: "24:00", Duration: schema.Duration(time.Hour)},
		{Start: "2:00", Duration: schema.Duration(time.Hour)},
		{Start: "02:00"},
		{Start: "02:00", Duration: schema.Duration(time.Hour), Location: "Mars/Olympus"},
	} {
		if bad.Validate() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	if got := schema.SleepBefore(5*time.Minute, 6*time.Minute); got != 2*time.Minute {
		t.Errorf("SleepBefore = %s, want 2m", got)
	}
	if got := schema.SleepBefore(5*time.Minute, time.Hour); got != 5*time.Minute {
		t.Errorf("SleepBefore far from the window = %s", got)
	}
}

func TestTargetMatches(t *testing.T) {
	d := &schema.Device{ID: "Dev-7", Name: "lab rack", Feed: "", Tags: []string{"a", "b"}, UpdateMode: schema.ModeRollout,
		Status: schema.DeviceInSync, SWVersion: "1.0", Attributes: map[string]string{"hw_boardname": "rpi", "hw_revision": "2", "serial": "x1"}}
	for _, tt := range []struct {
		t    schema.Target
		want bool
	}{
		{schema.Target{}, true},
		{schema.Target{IDs: []string{"x", "Dev-7"}}, true},
		{schema.Target{Tags: []string{"a", "b"}}, true},
		{schema.Target{Tags: []string{"a", "c"}}, false},
		{schema.Target{Feed: "default"}, true},
		{schema.Target{HWModel: "rpi", HWRevision: "2"}, true},
		{schema.Target{SWVersion: "1.1"}, false},
		{schema.Target{Attributes: map[string]string{"serial": "x1"}}, true},
		{schema.Target{Attributes: map[string]string{"serial": ""}}, false},
		{schema.Target{Query: "RACK"}, true},
		{schema.Target{Status: schema.DeviceFailed}, false},
		{schema.Target{UpdateMode: schema.ModePinned}, false},
	} {
		if got := tt.t.Matches(d); got != tt.want {
			t.Errorf("%+v.Matches = %v, want %v", tt.t, got, tt.want)
		}
	}
}
