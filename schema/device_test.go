package schema_test

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/gosling-ota/gosling/schema"
)

func TestNormalizeTags(t *testing.T) {
	tests := []struct {
		in   []string
		want []string
	}{
		{nil, []string{}},
		{[]string{}, []string{}},
		{[]string{""}, []string{}},
		{[]string{"b", "a", "b", "", "c", ""}, []string{"a", "b", "c"}},
		{[]string{"lab"}, []string{"lab"}},
	}
	for _, tt := range tests {
		in := slices.Clone(tt.in)
		got := schema.NormalizeTags(tt.in)
		if got == nil || !slices.Equal(got, tt.want) {
			t.Errorf("NormalizeTags(%q) = %#v, want %q", tt.in, got, tt.want)
		}
		if !slices.Equal(tt.in, in) {
			t.Errorf("NormalizeTags changed its argument to %q", tt.in)
		}
	}
}

func TestCheckPollInterval(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, ""},
		{time.Second, ""},
		{schema.MaxPollInterval, ""},
		{time.Second - time.Millisecond, schema.EINVALID},
		{-time.Second, schema.EINVALID},
		{24 * time.Hour, schema.EINVALID},
	}
	for _, tt := range tests {
		if got := schema.ErrorCode(schema.CheckPollInterval(tt.d)); got != tt.want {
			t.Errorf("CheckPollInterval(%s) code = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestDevicePrepareCreate(t *testing.T) {
	tests := []struct {
		name     string
		d        schema.Device
		wantCode string
		check    func(t *testing.T, d *schema.Device)
	}{
		{"defaults", schema.Device{Tenant: "t", ID: "d"}, "", func(t *testing.T, d *schema.Device) {
			if d.UpdateMode != schema.ModeRollout || d.Feed != schema.DefaultFeed || d.Attributes == nil || d.Tags == nil {
				t.Errorf("defaults not applied: %+v", d)
			}
		}},
		{"server-owned state starts over", schema.Device{Tenant: "t", ID: "d", Status: schema.DeviceFailed, ActionID: 3,
			LastActionID: 2, InstalledSoftwareID: 4, SkipSoftwareID: 5}, "", func(t *testing.T, d *schema.Device) {
			if d.Status != schema.DeviceRegistered || !d.ConfigRequested ||
				d.ActionID|d.LastActionID|d.InstalledSoftwareID|d.SkipSoftwareID != 0 {
				t.Errorf("state not reset: %+v", d)
			}
		}},
		{"sw_version attribute", schema.Device{Tenant: "t", ID: "d", Attributes: map[string]string{schema.AttrSWVersion: "1.2"}}, "",
			func(t *testing.T, d *schema.Device) {
				if d.SWVersion != "1.2" {
					t.Errorf("SWVersion = %q, want the attribute's", d.SWVersion)
				}
			}},
		{"SWVersion wins over the attribute", schema.Device{Tenant: "t", ID: "d", SWVersion: "2.0",
			Attributes: map[string]string{schema.AttrSWVersion: "1.2"}}, "", func(t *testing.T, d *schema.Device) {
			if d.SWVersion != "2.0" {
				t.Errorf("SWVersion = %q, want 2.0", d.SWVersion)
			}
		}},
		{"tags normalised", schema.Device{Tenant: "t", ID: "d", Tags: []string{"b", "a", "a", ""}}, "", func(t *testing.T, d *schema.Device) {
			if !slices.Equal(d.Tags, []string{"a", "b"}) {
				t.Errorf("Tags = %q", d.Tags)
			}
		}},
		{"keeps mode and feed", schema.Device{Tenant: "t", ID: "d", UpdateMode: schema.ModePinned, Feed: "beta"}, "", func(t *testing.T, d *schema.Device) {
			if d.UpdateMode != schema.ModePinned || d.Feed != "beta" {
				t.Errorf("mode, feed = %s, %s", d.UpdateMode, d.Feed)
			}
		}},
		{"no tenant", schema.Device{ID: "d"}, schema.EINVALID, nil},
		{"no id", schema.Device{Tenant: "t"}, schema.EINVALID, nil},
		{"unknown mode", schema.Device{Tenant: "t", ID: "d", UpdateMode: "auto"}, schema.EINVALID, nil},
		{"poll interval too short", schema.Device{Tenant: "t", ID: "d", PollInterval: time.Millisecond}, schema.EINVALID, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.d
			if got := schema.ErrorCode(d.PrepareCreate()); got != tt.wantCode {
				t.Fatalf("PrepareCreate code = %q, want %q", got, tt.wantCode)
			}
			if tt.check != nil {
				tt.check(t, &d)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestDeviceUpdate(t *testing.T) {
	base := func() *schema.Device {
		return &schema.Device{Name: "old", UpdateMode: schema.ModeLatest, Feed: "beta", Tags: []string{"x"},
			SkipSoftwareID: 9, PollInterval: time.Minute}
	}
	tests := []struct {
		name      string
		u         schema.DeviceUpdate
		wantCode  string
		want      func(d *schema.Device)
		clearSkip bool
	}{
		{"nothing", schema.DeviceUpdate{}, "", func(*schema.Device) {}, false},
		{"name and token keep the skip", schema.DeviceUpdate{Name: ptr("new"), TokenHash: ptr("h")}, "",
			func(d *schema.Device) { d.Name, d.TokenHash = "new", "h" }, false},
		{"same mode clears the skip", schema.DeviceUpdate{UpdateMode: ptr(schema.ModeLatest)}, "",
			func(d *schema.Device) { d.SkipSoftwareID = 0 }, true},
		{"software clears the skip", schema.DeviceUpdate{SoftwareID: ptr(int64(3))}, "",
			func(d *schema.Device) { d.SoftwareID, d.SkipSoftwareID = 3, 0 }, true},
		{"empty feed is the default feed", schema.DeviceUpdate{Feed: ptr("")}, "",
			func(d *schema.Device) { d.Feed, d.SkipSoftwareID = schema.DefaultFeed, 0 }, true},
		{"tags normalised", schema.DeviceUpdate{Tags: ptr([]string{"b", "", "a", "b"})}, "",
			func(d *schema.Device) { d.Tags = []string{"a", "b"} }, false},
		{"poll interval removed", schema.DeviceUpdate{PollInterval: ptr(time.Duration(0))}, "",
			func(d *schema.Device) { d.PollInterval = 0 }, false},
		{"unknown mode", schema.DeviceUpdate{UpdateMode: ptr(schema.UpdateMode("auto"))}, schema.EINVALID, nil, false},
		{"poll interval too long", schema.DeviceUpdate{PollInterval: ptr(25 * time.Hour)}, schema.EINVALID, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := tt.u
			if got := schema.ErrorCode(u.Normalize()); got != tt.wantCode {
				t.Fatalf("Normalize code = %q, want %q", got, tt.wantCode)
			}
			if tt.want == nil {
				return
			}
			if u.ClearsSkip() != tt.clearSkip {
				t.Errorf("ClearsSkip = %v, want %v", u.ClearsSkip(), tt.clearSkip)
			}
			got, want := base(), base()
			u.Apply(got)
			tt.want(want)
			if got.Name != want.Name || got.TokenHash != want.TokenHash || got.UpdateMode != want.UpdateMode ||
				got.SoftwareID != want.SoftwareID || got.Feed != want.Feed || !slices.Equal(got.Tags, want.Tags) ||
				got.PollInterval != want.PollInterval || got.SkipSoftwareID != want.SkipSoftwareID {
				t.Errorf("Apply = %+v, want %+v", got, want)
			}
		})
	}

	t.Run("caller's values unchanged", func(t *testing.T) {
		feed, tags := "", []string{"b", "a"}
		u := schema.DeviceUpdate{Feed: &feed, Tags: &tags}
		if err := u.Normalize(); err != nil {
			t.Fatal(err)
		}
		if feed != "" || !slices.Equal(tags, []string{"b", "a"}) {
			t.Errorf("Normalize wrote through its pointers: feed %q, tags %q", feed, tags)
		}
	})
}

func TestDeviceApplyConfig(t *testing.T) {
	stored := map[string]string{"a": "1", "b": "2", schema.AttrSWVersion: "1.0"}
	tests := []struct {
		name      string
		mode      schema.ConfigMode
		data      map[string]string
		installed int64
		wantAttrs map[string]string
		wantSW    string
	}{
		{"merge", schema.ConfigMerge, map[string]string{"b": "3", "c": "4"}, 0,
			map[string]string{"a": "1", "b": "3", "c": "4", schema.AttrSWVersion: "1.0"}, "1.0"},
		{"empty mode merges", "", map[string]string{"c": "4"}, 0,
			map[string]string{"a": "1", "b": "2", "c": "4", schema.AttrSWVersion: "1.0"}, "1.0"},
		{"replace", schema.ConfigReplace, map[string]string{"c": "4"}, 0, map[string]string{"c": "4"}, "1.0"},
		{"replace with nothing", schema.ConfigReplace, nil, 0, map[string]string{}, "1.0"},
		{"remove", schema.ConfigRemove, map[string]string{"a": "", schema.AttrSWVersion: "9"}, 0, map[string]string{"b": "2"}, "1.0"},
		{"reported version", schema.ConfigMerge, map[string]string{schema.AttrSWVersion: "1.1"}, 0,
			map[string]string{"a": "1", "b": "2", schema.AttrSWVersion: "1.1"}, "1.1"},
		{"an install outranks the report", schema.ConfigMerge, map[string]string{schema.AttrSWVersion: "1.1"}, 7,
			map[string]string{"a": "1", "b": "2", schema.AttrSWVersion: "1.1"}, "1.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.mode.Valid() {
				t.Fatalf("mode %q not valid", tt.mode)
			}
			d := &schema.Device{Attributes: maps.Clone(stored), SWVersion: "1.0", InstalledSoftwareID: tt.installed, ConfigRequested: true}
			d.ApplyConfig(tt.mode, tt.data)
			if !maps.Equal(d.Attributes, tt.wantAttrs) || d.Attributes == nil {
				t.Errorf("attributes = %v, want %v", d.Attributes, tt.wantAttrs)
			}
			if d.SWVersion != tt.wantSW {
				t.Errorf("SWVersion = %q, want %q", d.SWVersion, tt.wantSW)
			}
			if d.ConfigRequested {
				t.Error("ConfigRequested still set")
			}
		})
	}
	if schema.ConfigMode("patch").Valid() {
		t.Error(`ConfigMode("patch").Valid() = true`)
	}
}

func TestCheckBulkTarget(t *testing.T) {
	if got := schema.ErrorCode(schema.CheckBulkTarget(&schema.Target{})); got != schema.EINVALID {
		t.Errorf("zero target: code %q, want %q", got, schema.EINVALID)
	}
	if err := schema.CheckBulkTarget(&schema.Target{Tags: []string{"lab"}}); err != nil {
		t.Errorf("tag target: %v", err)
	}
}

func TestSoftwarePrepareCreate(t *testing.T) {
	tests := []struct {
		name string
		s    schema.Software
		want string
	}{
		{"ok", schema.Software{Tenant: "t", Version: "1.0"}, ""},
		{"no version", schema.Software{Tenant: "t"}, schema.EINVALID},
		{"no tenant", schema.Software{Version: "1.0"}, schema.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.s
			if got := schema.ErrorCode(s.PrepareCreate()); got != tt.want {
				t.Fatalf("PrepareCreate code = %q, want %q", got, tt.want)
			}
			if tt.want == "" && s.Hardware == nil {
				t.Error("Hardware still nil")
			}
		})
	}
}
