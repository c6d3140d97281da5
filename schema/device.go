package schema

import (
	"context"
	"maps"
	"slices"
	"time"
)

// UpdateMode says how Gosling chooses the software a device should run.
type UpdateMode string

// Update modes.
const (
	// ModeRollout follows the newest running rollout of the device's feed.
	ModeRollout UpdateMode = "rollout"
	// ModeLatest offers the newest compatible software of the tenant.
	ModeLatest UpdateMode = "latest"
	// ModeAssigned offers the one software chosen by an operator (Device.SoftwareID).
	ModeAssigned UpdateMode = "assigned"
	// ModePinned never offers anything.
	ModePinned UpdateMode = "pinned"
)

// Valid reports whether m is one of the known modes.
func (m UpdateMode) Valid() bool {
	switch m {
	case ModeRollout, ModeLatest, ModeAssigned, ModePinned:
		return true
	}
	return false
}

// DefaultFeed is the feed of devices that were never given one.
const DefaultFeed = "default"

// Well-known configData attributes. Devices send any attributes they like;
// these are the ones Gosling understands.
const (
	AttrHWModel     = "hw_model"
	AttrHWBoardName = "hw_boardname" // sent by many SWUpdate and gooseBit set-ups instead of hw_model
	AttrHWRevision  = "hw_revision"
	AttrSWVersion   = "sw_version"
)

// Device status, derived from the device's actions.
const (
	DeviceRegistered = "registered" // known, nothing installed through Gosling yet
	DeviceUpdating   = "updating"   // has an open action
	DeviceInSync     = "in_sync"    // last action succeeded
	DeviceFailed     = "failed"     // last action failed
)

// Device is a controller polling the DDI API, identified by tenant and
// controller id.
type Device struct {
	Tenant string `json:"tenant"`
	ID     string `json:"id"`
	Name   string `json:"name,omitempty"`
	// Tags group devices for targeting (sorted, unique).
	Tags []string `json:"tags"`

	// TokenHash is the SHA-256 (hex) of the device's TargetToken, or "".
	TokenHash string `json:"-"`

	UpdateMode UpdateMode `json:"update_mode"`
	SoftwareID int64      `json:"software_id,omitempty"` // chosen software in ModeAssigned
	Feed       string     `json:"feed"`

	// Attributes are the configData the device reported (merged per mode).
	Attributes map[string]string `json:"attributes"`

	// SWVersion is the version Gosling believes the device runs: the version
	// of the software it last installed through Gosling, else the sw_version
	// attribute it reported. Devices often report a static sw_version from
	// their config file, so a successful install outranks the report.
	SWVersion string `json:"sw_version,omitempty"`
	// InstalledSoftwareID is the software of the last successful action, or 0.
	InstalledSoftwareID int64 `json:"installed_software_id,omitempty"`
	// SkipSoftwareID is software that failed or was canceled on this device;
	// it is not offered again until an operator changes the device's update
	// settings (which also clears it).
	SkipSoftwareID int64 `json:"skip_software_id,omitempty"`

	// ActionID is the device's open action (pending, running or canceling), or 0.
	ActionID int64 `json:"action_id,omitempty"`
	// LastActionID is the device's most recent closed action, or 0 (installedBase).
	LastActionID int64 `json:"last_action_id,omitempty"`

	// PollInterval overrides the tenant's poll settings for this device; 0
	// means no override.
	PollInterval time.Duration `json:"poll_interval,omitempty"`

	Status          string `json:"status"`
	ConfigRequested bool   `json:"config_requested"` // configData is asked for on the next poll
	Provisioned     bool   `json:"provisioned"`      // created by an operator, not by a first poll

	CreatedAt time.Time `json:"created_at"`
	LastSeen  time.Time `json:"last_seen,omitzero"`
	LastAddr  string    `json:"last_addr,omitempty"`
}

// HWModel returns the board the device reported: hw_model, else hw_boardname.
func (d *Device) HWModel() string {
	if v := d.Attributes[AttrHWModel]; v != "" {
		return v
	}
	return d.Attributes[AttrHWBoardName]
}

// HWRevision returns the hardware revision the device reported.
func (d *Device) HWRevision() string { return d.Attributes[AttrHWRevision] }

// Seen is one poll's trace, coalesced by the frontline and written in batches.
type Seen struct {
	Tenant   string
	DeviceID string
	At       time.Time
	Addr     string
}

// ConfigMode says how configData attributes combine with the stored ones.
type ConfigMode string

// configData modes (hawkBit's; missing means merge).
const (
	ConfigMerge   ConfigMode = "merge"
	ConfigReplace ConfigMode = "replace"
	ConfigRemove  ConfigMode = "remove"
)

// Valid reports whether m is one of the known modes; "" means merge.
func (m ConfigMode) Valid() bool {
	switch m {
	case "", ConfigMerge, ConfigReplace, ConfigRemove:
		return true
	}
	return false
}

// DeviceFilter selects a page of devices.
type DeviceFilter struct {
	Tenant string
	Target
	Offset int
	Limit  int // 0 means the store's default (100)
}

// DeviceUpdate changes a device. Nil fields stay unchanged.
type DeviceUpdate struct {
	Name       *string
	TokenHash  *string
	UpdateMode *UpdateMode
	SoftwareID *int64
	Feed       *string
	// Tags replaces the device's tags (normalised: sorted, unique, no "").
	Tags *[]string
	// PollInterval sets the per-device poll override (0 removes it).
	PollInterval *time.Duration
}

// DeviceStore keeps devices.
type DeviceStore interface {
	// Device returns one device. Returns ENOTFOUND if it does not exist.
	Device(ctx context.Context, tenant, id string) (*Device, error)
	// Devices returns the devices matching f, ordered by id, and the total count.
	Devices(ctx context.Context, f DeviceFilter) ([]*Device, int, error)
	// CreateDevice inserts d (Tenant and ID set; zero UpdateMode means
	// ModeRollout, empty Feed means DefaultFeed: see PrepareCreate) and
	// fills its stored fields. Returns ECONFLICT if it exists, EINVALID as
	// PrepareCreate does.
	CreateDevice(ctx context.Context, d *Device) error
	// UpdateDevice applies u and returns the new device. Changing the update
	// mode, software or feed clears SkipSoftwareID. Returns ENOTFOUND.
	UpdateDevice(ctx context.Context, tenant, id string, u DeviceUpdate) (*Device, error)
	// UpdateDevices applies u to every device of the tenant matching t, in
	// one transaction, and returns their ids (the caller invalidates them).
	// Returns EINVALID if t is zero (a bulk change must say what it targets).
	UpdateDevices(ctx context.Context, tenant string, t Target, u DeviceUpdate) ([]string, error)
	// DeviceIDs returns the ids of the tenant's devices matching t, ordered
	// by id, after the id after (keyset paging), at most limit (0: 1000).
	DeviceIDs(ctx context.Context, tenant string, t Target, after string, limit int) ([]string, error)
	// EachDeviceID calls fn with the id of every device of the tenant
	// matching t, in id order, from one query: for enumerations of a whole
	// population (a rollout's), where paging would cost a statement per
	// page. An error from fn stops the walk and is returned. fn runs while
	// the query holds a connection: it must not call the store.
	EachDeviceID(ctx context.Context, tenant string, t Target, fn func(id string) error) error
	// DeleteDevice removes a device with its actions. Returns ENOTFOUND.
	DeleteDevice(ctx context.Context, tenant, id string) error
	// SetAttributes applies configData and clears ConfigRequested. If the
	// device has no InstalledSoftwareID, a reported sw_version becomes its
	// SWVersion. Returns ENOTFOUND.
	SetAttributes(ctx context.Context, tenant, id string, mode ConfigMode, data map[string]string) (*Device, error)
	// TouchDevices records last-seen times and addresses in one transaction;
	// unknown devices are ignored.
	TouchDevices(ctx context.Context, seen []Seen) error
}

// NormalizeTags returns tags sorted, without duplicates and without "",
// and never nil: the form devices keep their tags in.
func NormalizeTags(tags []string) []string {
	out := slices.Compact(slices.Sorted(slices.Values(tags)))
	if len(out) > 0 && out[0] == "" {
		out = out[1:]
	}
	if out == nil {
		out = []string{}
	}
	return out
}

// CheckPollInterval returns EINVALID unless d is a valid per-device poll
// override: 0 (none) or 1s..MaxPollInterval.
func CheckPollInterval(d time.Duration) error {
	if d != 0 && (d < time.Second || d > MaxPollInterval) {
		return Errorf(EINVALID, "poll interval %s is outside 1s..23:59:59 (0 removes the override)", d)
	}
	return nil
}

// PrepareCreate checks a device about to be created and fills in what
// CreateDevice promises: UpdateMode defaults to ModeRollout, Feed to
// DefaultFeed, Attributes to an empty map, SWVersion to the sw_version
// attribute; Tags are normalised (NormalizeTags). The fields the store
// owns start over: Status registered, ConfigRequested true (the first poll
// asks for configData), and no installed, skipped, open or last action.
// Returns EINVALID for an empty tenant or id, an unknown update mode or a
// PollInterval CheckPollInterval refuses. The store still sets CreatedAt
// and keeps times at its precision, and checks SoftwareID.
func (d *Device) PrepareCreate() error {
	if d.Tenant == "" || d.ID == "" {
		return Errorf(EINVALID, "device tenant and id are required")
	}
	if d.UpdateMode == "" {
		d.UpdateMode = ModeRollout
	}
	if !d.UpdateMode.Valid() {
		return Errorf(EINVALID, "unknown update mode %q", d.UpdateMode)
	}
	if err := CheckPollInterval(d.PollInterval); err != nil {
		return err
	}
	if d.Feed == "" {
		d.Feed = DefaultFeed
	}
	if d.Attributes == nil {
		d.Attributes = map[string]string{}
	}
	if d.SWVersion == "" {
		d.SWVersion = d.Attributes[AttrSWVersion]
	}
	d.Tags = NormalizeTags(d.Tags)
	d.InstalledSoftwareID, d.SkipSoftwareID, d.ActionID, d.LastActionID = 0, 0, 0, 0
	d.Status = DeviceRegistered
	d.ConfigRequested = true
	return nil
}

// ApplyConfig applies configData to d as SetAttributes describes: merge
// (also for an empty mode) adds and overwrites keys, replace sets exactly
// data, remove deletes the keys of data. A sw_version in merged or
// replaced data becomes SWVersion while the device has no
// InstalledSoftwareID (a successful install outranks the report).
// ConfigRequested is cleared. mode must be valid (ConfigMode.Valid).
func (d *Device) ApplyConfig(mode ConfigMode, data map[string]string) {
	switch mode {
	case ConfigReplace:
		d.Attributes = maps.Clone(data)
		if d.Attributes == nil {
			d.Attributes = map[string]string{}
		}
	case ConfigRemove:
		for k := range data {
			delete(d.Attributes, k)
		}
	default:
		if d.Attributes == nil {
			d.Attributes = map[string]string{}
		}
		maps.Copy(d.Attributes, data)
	}
	if v := data[AttrSWVersion]; v != "" && mode != ConfigRemove && d.InstalledSoftwareID == 0 {
		d.SWVersion = v
	}
	d.ConfigRequested = false
}

// Normalize checks u and brings it to the form a store applies: Feed ""
// becomes DefaultFeed and Tags are normalised (NormalizeTags). It sets
// u's pointers to new values and never writes through them, so the
// caller's variables keep their values. Returns EINVALID for an unknown
// update mode or a PollInterval CheckPollInterval refuses. Whether a
// non-zero SoftwareID exists is the store's to check.
func (u *DeviceUpdate) Normalize() error {
	if u.UpdateMode != nil && !u.UpdateMode.Valid() {
		return Errorf(EINVALID, "unknown update mode %q", *u.UpdateMode)
	}
	if u.PollInterval != nil {
		if err := CheckPollInterval(*u.PollInterval); err != nil {
			return err
		}
	}
	if u.Feed != nil && *u.Feed == "" {
		feed := DefaultFeed
		u.Feed = &feed
	}
	if u.Tags != nil {
		tags := NormalizeTags(*u.Tags)
		u.Tags = &tags
	}
	return nil
}

// ClearsSkip reports whether u changes a setting whose change clears
// SkipSoftwareID, even to the value it has: the update mode, the software
// or the feed. That is how an operator retries a failed update.
func (u *DeviceUpdate) ClearsSkip() bool {
	return u.UpdateMode != nil || u.SoftwareID != nil || u.Feed != nil
}

// Apply applies u, normalised (Normalize), to d, and clears
// SkipSoftwareID if ClearsSkip says so.
func (u *DeviceUpdate) Apply(d *Device) {
	if u.Name != nil {
		d.Name = *u.Name
	}
	if u.TokenHash != nil {
		d.TokenHash = *u.TokenHash
	}
	if u.UpdateMode != nil {
		d.UpdateMode = *u.UpdateMode
	}
	if u.SoftwareID != nil {
		d.SoftwareID = *u.SoftwareID
	}
	if u.Feed != nil {
		d.Feed = *u.Feed
	}
	if u.Tags != nil {
		d.Tags = *u.Tags
	}
	if u.PollInterval != nil {
		d.PollInterval = *u.PollInterval
	}
	if u.ClearsSkip() {
		d.SkipSoftwareID = 0
	}
}

// CheckBulkTarget returns EINVALID for a zero target: a bulk change
// (UpdateDevices) must say what it targets.
func CheckBulkTarget(t *Target) error {
	if t.IsZero() {
		return Errorf(EINVALID, "a bulk device update needs a non-empty target")
	}
	return nil
}
