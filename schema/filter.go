package schema

import (
	"slices"
	"strings"
)

// Target selects devices for the device list, bulk actions and rollouts.
// Every non-zero field must match (AND); zero fields match everything. The
// stores evaluate it in SQL and Matches evaluates it in memory (for polls);
// the contract suite checks that both agree.
type Target struct {
	// IDs matches any of these device ids exactly.
	IDs []string `json:"ids,omitempty"`
	// Tags: the device carries every one of them.
	Tags       []string   `json:"tags,omitempty"`
	Feed       string     `json:"feed,omitempty"`
	UpdateMode UpdateMode `json:"update_mode,omitempty"`
	Status     string     `json:"status,omitempty"`
	// HWModel matches hw_model, else hw_boardname (Device.HWModel).
	HWModel    string `json:"hw_model,omitempty"`
	HWRevision string `json:"hw_revision,omitempty"`
	// SWVersion matches the version Gosling believes the device runs.
	SWVersion string `json:"sw_version,omitempty"`
	// Attributes: each key's configData value equals the given value.
	Attributes map[string]string `json:"attributes,omitempty"`
	// Query matches id or name by case-insensitive substring.
	Query string `json:"q,omitempty"`
}

// IsZero reports whether t matches every device.
func (t *Target) IsZero() bool {
	return t == nil || (len(t.IDs) == 0 && len(t.Tags) == 0 && t.Feed == "" && t.UpdateMode == "" &&
		t.Status == "" && t.HWModel == "" && t.HWRevision == "" && t.SWVersion == "" &&
		len(t.Attributes) == 0 && t.Query == "")
}

// Matches reports whether d is selected by t (a nil t selects everything).
func (t *Target) Matches(d *Device) bool {
	if t == nil {
		return true
	}
	if len(t.IDs) > 0 && !slices.Contains(t.IDs, d.ID) {
		return false
	}
	for _, tag := range t.Tags {
		if !slices.Contains(d.Tags, tag) {
			return false
		}
	}
	feed := d.Feed
	if feed == "" {
		feed = DefaultFeed
	}
	switch {
	case t.Feed != "" && t.Feed != feed,
		t.UpdateMode != "" && t.UpdateMode != d.UpdateMode,
		t.Status != "" && t.Status != d.Status,
		t.HWModel != "" && t.HWModel != d.HWModel(),
		t.HWRevision != "" && t.HWRevision != d.HWRevision(),
		t.SWVersion != "" && t.SWVersion != d.SWVersion:
		return false
	}
	for k, v := range t.Attributes {
		if got, ok := d.Attributes[k]; !ok || got != v {
			return false
		}
	}
	if t.Query != "" {
		q := strings.ToLower(t.Query)
		if !strings.Contains(strings.ToLower(d.ID), q) && !strings.Contains(strings.ToLower(d.Name), q) {
			return false
		}
	}
	return true
}
