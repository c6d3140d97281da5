package schema_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/gosling-ota/gosling/artifacts"
	"github.com/gosling-ota/gosling/schema"
)

func device(mode schema.UpdateMode, attrs map[string]string, mut ...func(*schema.Device)) *schema.Device {
	d := &schema.Device{Tenant: "DEFAULT", ID: "dev", UpdateMode: mode, Feed: schema.DefaultFeed, Attributes: attrs}
	d.SWVersion = attrs[schema.AttrSWVersion]
	for _, m := range mut {
		m(d)
	}
	return d
}

func TestCatalogDesired(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	board := []schema.Hardware{{Board: "devboard", Revisions: []string{"1.0"}}}
	sw := []*schema.Software{
		{ID: 1, Version: "1.0.0", Hardware: board, CreatedAt: t0},
		{ID: 2, Version: "1.10.0", Hardware: board, CreatedAt: t0.Add(time.Hour)},
		{ID: 3, Version: "1.9.0", Hardware: board, CreatedAt: t0.Add(2 * time.Hour)},
		{ID: 4, Version: "9.0.0", Hardware: []schema.Hardware{{Board: "other", Revisions: []string{"1.0"}}}, CreatedAt: t0},
	}
	all := []schema.Wave{{Percent: 100, Threshold: schema.PercentThreshold(100)}}
	rollouts := []*schema.Rollout{
		{ID: 10, Feed: "default", SoftwareID: 1, Status: schema.RolloutRunning, CreatedAt: t0, Waves: all},
		{ID: 11, Feed: "default", SoftwareID: 3, Status: schema.RolloutFinished, CreatedAt: t0.Add(time.Minute), Waves: all},
		{ID: 12, Feed: "default", SoftwareID: 2, Status: schema.RolloutPaused, CreatedAt: t0.Add(time.Hour), Waves: all},
		{ID: 13, Feed: "beta", SoftwareID: 2, Status: schema.RolloutRunning, CreatedAt: t0, Waves: all},
		{ID: 14, Feed: "default", SoftwareID: 2, Status: schema.RolloutDraft, CreatedAt: t0.Add(2 * time.Hour), Waves: all, CurrentWave: -1},
		{ID: 15, Feed: "default", Target: &schema.Target{Tags: []string{"lab"}}, SoftwareID: 1, Status: schema.RolloutRunning, CreatedAt: t0.Add(3 * time.Hour), Waves: all},
		{ID: 16, Feed: "default", Target: &schema.Target{Tags: []string{"canary"}}, SoftwareID: 1, Status: schema.RolloutRunning, CreatedAt: t0.Add(3 * time.Hour),
			Waves: []schema.Wave{{Percent: 0.0001, Threshold: 1}, {Percent: 100}}},
	}
	cat := schema.NewCatalog(sw, rollouts, artifacts.CompareVersions)
	fits := map[string]string{"hw_model": "devboard", "hw_revision": "1.0", "sw_version": "0.9"}

	tests := []struct {
		name        string
		d           *schema.Device
		wantID      int64
		wantRollout int64
	}{
		{"rollout: newest offering rollout of the feed wins", device(schema.ModeRollout, fits), 3, 11},
		{"rollout: newer rollout targets the device's tag", device(schema.ModeRollout, fits, func(d *schema.Device) { d.Tags = []string{"lab"} }), 1, 15},
		{"rollout: device waits for its wave", device(schema.ModeRollout, fits, func(d *schema.Device) { d.Tags = []string{"canary"} }), 0, 0},
		{"rollout: other feed", device(schema.ModeRollout, fits, func(d *schema.Device) { d.Feed = "beta" }), 2, 13},
		{"rollout: feed without rollout", device(schema.ModeRollout, fits, func(d *schema.Device) { d.Feed = "none" }), 0, 0},
		{"latest: numeric order, not lexical", device(schema.ModeLatest, fits), 2, 0},
		{"latest: skips incompatible newer", device(schema.ModeLatest, map[string]string{"hw_model": "other", "hw_revision": "1.0"}), 4, 0},
		{"assigned", device(schema.ModeAssigned, fits, func(d *schema.Device) { d.SoftwareID = 1 }), 1, 0},
		{"assigned may downgrade", device(schema.ModeAssigned, fits, func(d *schema.Device) { d.SoftwareID = 1; d.SWVersion = "1.9.0" }), 1, 0},
		{"rollout never downgrades", device(schema.ModeRollout, fits, func(d *schema.Device) { d.SWVersion = "1.10.0" }), 0, 0},
		{"latest never downgrades", device(schema.ModeLatest, fits, func(d *schema.Device) { d.SWVersion = "2.0" }), 0, 0},
		{"assigned: unknown software", device(schema.ModeAssigned, fits, func(d *schema.Device) { d.SoftwareID = 99 }), 0, 0},
		{"pinned", device(schema.ModePinned, fits), 0, 0},
		{"already on version", device(schema.ModeAssigned, fits, func(d *schema.Device) { d.SoftwareID = 1; d.SWVersion = "1.0.0" }), 0, 0},
		{"skipped after failure", device(schema.ModeAssigned, fits, func(d *schema.Device) { d.SoftwareID = 1; d.SkipSoftwareID = 1 }), 0, 0},
		{"wrong revision", device(schema.ModeAssigned, map[string]string{"hw_model": "devboard", "hw_revision": "2.0"}, func(d *schema.Device) { d.SoftwareID = 1 }), 0, 0},
		{"board from hw_boardname", device(schema.ModeAssigned, map[string]string{"hw_boardname": "devboard", "hw_revision": "1.0"}, func(d *schema.Device) { d.SoftwareID = 1 }), 1, 0},
		{"no revision reported", device(schema.ModeAssigned, map[string]string{"hw_model": "devboard"}, func(d *schema.Device) { d.SoftwareID = 1 }), 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := cat.Desired(tt.d)
			var id, rollout int64
			if o.Software != nil {
				id = o.Software.ID
			}
			if o.Rollout != nil {
				rollout = o.Rollout.ID
			}
			if id != tt.wantID || rollout != tt.wantRollout {
				t.Errorf("Desired = software %d rollout %d, want %d %d", id, rollout, tt.wantID, tt.wantRollout)
			}
		})
	}
}

func TestHardwareOverlaps(t *testing.T) {
	hw := func(board string, revs ...string) schema.Hardware {
		return schema.Hardware{Board: board, Revisions: revs}
	}
	tests := []struct {
		name string
		a, b []schema.Hardware
		want bool
	}{
		{"no rules overlap everything", nil, []schema.Hardware{hw("x", "1")}, true},
		{"same board same revision", []schema.Hardware{hw("x", "1")}, []schema.Hardware{hw("x", "2", "1")}, true},
		{"same board other revision", []schema.Hardware{hw("x", "1")}, []schema.Hardware{hw("x", "2")}, false},
		{"other board", []schema.Hardware{hw("x", "1")}, []schema.Hardware{hw("y", "1")}, false},
		{"any board vs board", []schema.Hardware{hw("", "1")}, []schema.Hardware{hw("y", "1")}, true},
		{"regex may match anything", []schema.Hardware{hw("x", "#RE:1.*")}, []schema.Hardware{hw("x", "2")}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := schema.HardwareOverlaps(tt.a, tt.b); got != tt.want {
				t.Errorf("HardwareOverlaps = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTokenMatches(t *testing.T) {
	h := schema.HashToken("s3cret")
	for _, tt := range []struct {
		token, hash string
		want        bool
	}{
		{"s3cret", h, true},
		{"s3cret ", h, false},
		{"", h, false},
		{"s3cret", "", false},
		{"s3cret", "zz", false},
	} {
		if got := schema.TokenMatches(tt.token, tt.hash); got != tt.want {
			t.Errorf("TokenMatches(%q, %q) = %v", tt.token, tt.hash, got)
		}
	}
}

func TestErrorCode(t *testing.T) {
	err := schema.Errorf(schema.ENOTFOUND, "device %q not found", "x")
	wrapped := fmt.Errorf("load: %w", err)
	if schema.ErrorCode(wrapped) != schema.ENOTFOUND || schema.ErrorMessage(wrapped) != `device "x" not found` {
		t.Errorf("code/message = %q/%q", schema.ErrorCode(wrapped), schema.ErrorMessage(wrapped))
	}
	if schema.ErrorCode(errPlain{}) != schema.EINTERNAL || schema.ErrorMessage(errPlain{}) != "internal error" {
		t.Error("plain errors must be internal and hidden")
	}
}

type errPlain struct{}

func (errPlain) Error() string { return "secret detail" }
