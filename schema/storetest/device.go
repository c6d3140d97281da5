package storetest

import (
	"fmt"
	"maps"
	"reflect"
	"testing"
	"time"

	"github.com/gosling-ota/gosling/schema"
)

func testCreateDevice(t *testing.T, s schema.Store) {
	ctx := t.Context()
	before := time.Now()
	d := &schema.Device{Tenant: tenant, ID: "dev-1", Name: "Kitchen", TokenHash: schema.HashToken("secret"), Provisioned: true}
	if err := s.CreateDevice(ctx, d); err != nil {
		t.Fatal(err)
	}
	if d.UpdateMode != schema.ModeRollout || d.Feed != schema.DefaultFeed || d.Status != schema.DeviceRegistered ||
		!d.ConfigRequested || d.Attributes == nil || d.ActionID != 0 || d.LastActionID != 0 {
		t.Fatalf("defaults not filled: %+v", d)
	}
	wantTime(t, "CreatedAt", d.CreatedAt, before)
	got := mustDevice(t, s, tenant, "dev-1")
	if !reflect.DeepEqual(got, d) {
		t.Fatalf("read back\n got %+v\nwant %+v", got, d)
	}

	t.Run("SWVersionFromAttributes", func(t *testing.T) {
		d := &schema.Device{Tenant: tenant, ID: "dev-attrs", UpdateMode: schema.ModeLatest, Feed: "beta",
			Attributes: map[string]string{schema.AttrSWVersion: "1.0", schema.AttrHWModel: "pi4"}}
		if err := s.CreateDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
		got := mustDevice(t, s, tenant, "dev-attrs")
		if got.SWVersion != "1.0" || got.UpdateMode != schema.ModeLatest || got.Feed != "beta" || got.HWModel() != "pi4" {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("SameIDOtherTenant", func(t *testing.T) {
		MustCreateDevice(t, s, other, "dev-1")
		if got := mustDevice(t, s, other, "dev-1"); got.Name != "" {
			t.Fatalf("other tenant's device has name %q", got.Name)
		}
	})
	for _, tc := range []struct {
		name string
		d    schema.Device
		code string
	}{
		{"Exists", schema.Device{Tenant: tenant, ID: "dev-1"}, schema.ECONFLICT},
		{"NoID", schema.Device{Tenant: tenant}, schema.EINVALID},
		{"BadMode", schema.Device{Tenant: tenant, ID: "dev-x", UpdateMode: "sometimes"}, schema.EINVALID},
		{"MissingSoftware", schema.Device{Tenant: tenant, ID: "dev-y", UpdateMode: schema.ModeAssigned, SoftwareID: 999}, schema.ENOTFOUND},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantCode(t, s.CreateDevice(ctx, &tc.d), tc.code)
		})
	}
	t.Run("NotFound", func(t *testing.T) {
		_, err := s.Device(ctx, tenant, "nope")
		wantCode(t, err, schema.ENOTFOUND)
		_, err = s.Device(ctx, "nobody", "dev-1")
		wantCode(t, err, schema.ENOTFOUND)
	})
}

func testUpdateDevice(t *testing.T, s schema.Store) {
	ctx := t.Context()
	sw := MustCreateSoftware(t, s, tenant, "2.0")
	otherSW := MustCreateSoftware(t, s, other, "2.0")

	// failDevice gives a device a SkipSoftwareID through a failed action.
	failDevice := func(t *testing.T, id string) {
		t.Helper()
		MustCreateDevice(t, s, tenant, id)
		a := MustCreateAction(t, s, tenant, id, sw.ID)
		MustRecordOK(t, s, NewFeedback(a, schema.FeedbackDeployment, schema.ExecClosed, schema.FinishedFailure))
		if d := mustDevice(t, s, tenant, id); d.SkipSoftwareID != sw.ID {
			t.Fatalf("SkipSoftwareID = %d after failure, want %d", d.SkipSoftwareID, sw.ID)
		}
	}
	rollout, feed := schema.ModeRollout, schema.DefaultFeed
	for i, tc := range []struct {
		name      string
		u         schema.DeviceUpdate
		wantSkip  bool // SkipSoftwareID survives
		check     func(d *schema.Device) bool
		wantError string
	}{
		{"Name", schema.DeviceUpdate{Name: ptr("Hall")}, true, func(d *schema.Device) bool { return d.Name == "Hall" }, ""},
		{"Token", schema.DeviceUpdate{TokenHash: ptr("abc")}, true, func(d *schema.Device) bool { return d.TokenHash == "abc" }, ""},
		{"ModeSame", schema.DeviceUpdate{UpdateMode: &rollout}, false, func(d *schema.Device) bool { return d.UpdateMode == schema.ModeRollout }, ""},
		{"ModeAssigned", schema.DeviceUpdate{UpdateMode: ptr(schema.ModeAssigned), SoftwareID: &sw.ID}, false,
			func(d *schema.Device) bool { return d.UpdateMode == schema.ModeAssigned && d.SoftwareID == sw.ID }, ""},
		{"SoftwareZero", schema.DeviceUpdate{SoftwareID: ptr(int64(0))}, false, func(d *schema.Device) bool { return d.SoftwareID == 0 }, ""},
		{"FeedSame", schema.DeviceUpdate{Feed: &feed}, false, func(d *schema.Device) bool { return d.Feed == feed }, ""},
		{"FeedNew", schema.DeviceUpdate{Feed: ptr("beta")}, false, func(d *schema.Device) bool { return d.Feed == "beta" }, ""},
		{"BadMode", schema.DeviceUpdate{UpdateMode: ptr(schema.UpdateMode("never"))}, true, nil, schema.EINVALID},
		{"OtherTenantSoftware", schema.DeviceUpdate{SoftwareID: &otherSW.ID}, true, nil, schema.ENOTFOUND},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("upd-%d", i)
			failDevice(t, id)
			d, err := s.UpdateDevice(ctx, tenant, id, tc.u)
			wantCode(t, err, tc.wantError)
			if err == nil {
				if !tc.check(d) {
					t.Fatalf("update not applied: %+v", d)
				}
				if got := mustDevice(t, s, tenant, id); !reflect.DeepEqual(got, d) {
					t.Fatalf("read back\n got %+v\nwant %+v", got, d)
				}
			}
			if got := mustDevice(t, s, tenant, id); (got.SkipSoftwareID != 0) != tc.wantSkip {
				t.Fatalf("SkipSoftwareID = %d, want kept = %v", got.SkipSoftwareID, tc.wantSkip)
			}
		})
	}
	t.Run("NotFound", func(t *testing.T) {
		_, err := s.UpdateDevice(ctx, tenant, "nope", schema.DeviceUpdate{Name: ptr("x")})
		wantCode(t, err, schema.ENOTFOUND)
	})
}

func testDeleteDevice(t *testing.T, s schema.Store) {
	ctx := t.Context()
	sw := MustCreateSoftware(t, s, tenant, "1.0")
	MustCreateDevice(t, s, tenant, "dev-1")
	MustCreateDevice(t, s, other, "dev-1")
	a := MustCreateAction(t, s, tenant, "dev-1", sw.ID)
	MustRecordOK(t, s, NewFeedback(a, schema.FeedbackDeployment, schema.ExecProceeding, schema.FinishedNone))

	if err := s.DeleteDevice(ctx, tenant, "dev-1"); err != nil {
		t.Fatal(err)
	}
	_, err := s.Device(ctx, tenant, "dev-1")
	wantCode(t, err, schema.ENOTFOUND)
	_, err = s.Action(ctx, tenant, "dev-1", a.ID)
	wantCode(t, err, schema.ENOTFOUND)
	if _, n, err := s.Actions(ctx, schema.ActionFilter{Tenant: tenant}); err != nil || n != 0 {
		t.Fatalf("actions after delete: %d, %v", n, err)
	}
	mustDevice(t, s, other, "dev-1") // the other tenant's device stays
	wantCode(t, s.DeleteDevice(ctx, tenant, "dev-1"), schema.ENOTFOUND)
	// Its software is free again.
	if _, err := s.DeleteSoftware(ctx, tenant, sw.ID); err != nil {
		t.Fatalf("delete software after its device: %v", err)
	}
}

func testSetAttributes(t *testing.T, s schema.Store) {
	ctx := t.Context()
	base := map[string]string{"a": "1", "b": "2"}
	for i, tc := range []struct {
		name string
		mode schema.ConfigMode
		data map[string]string
		want map[string]string
	}{
		{"MergeDefault", "", map[string]string{"b": "3", "c": "4"}, map[string]string{"a": "1", "b": "3", "c": "4"}},
		{"Merge", schema.ConfigMerge, map[string]string{"c": "4"}, map[string]string{"a": "1", "b": "2", "c": "4"}},
		{"Replace", schema.ConfigReplace, map[string]string{"c": "4"}, map[string]string{"c": "4"}},
		{"ReplaceEmpty", schema.ConfigReplace, nil, map[string]string{}},
		{"Remove", schema.ConfigRemove, map[string]string{"a": "", "zz": ""}, map[string]string{"b": "2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("attr-%d", i)
			d := &schema.Device{Tenant: tenant, ID: id, Attributes: maps.Clone(base)}
			if err := s.CreateDevice(ctx, d); err != nil {
				t.Fatal(err)
			}
			got, err := s.SetAttributes(ctx, tenant, id, tc.mode, tc.data)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got.Attributes, tc.want) || got.Attributes == nil {
				t.Fatalf("attributes = %v, want %v", got.Attributes, tc.want)
			}
			if got.ConfigRequested {
				t.Fatal("ConfigRequested still set")
			}
			if read := mustDevice(t, s, tenant, id); !reflect.DeepEqual(read, got) {
				t.Fatalf("read back\n got %+v\nwant %+v", read, got)
			}
		})
	}
	t.Run("SWVersion", func(t *testing.T) {
		MustCreateDevice(t, s, tenant, "swv")
		d, err := s.SetAttributes(ctx, tenant, "swv", schema.ConfigMerge, map[string]string{schema.AttrSWVersion: "1.1"})
		if err != nil || d.SWVersion != "1.1" {
			t.Fatalf("SWVersion = %q, %v; want 1.1", d.SWVersion, err)
		}
		// Removing the attribute does not forget the version.
		d, err = s.SetAttributes(ctx, tenant, "swv", schema.ConfigRemove, map[string]string{schema.AttrSWVersion: ""})
		if err != nil || d.SWVersion != "1.1" {
			t.Fatalf("SWVersion = %q, %v after remove; want 1.1", d.SWVersion, err)
		}
	})
	t.Run("NotFound", func(t *testing.T) {
		_, err := s.SetAttributes(ctx, tenant, "nope", schema.ConfigMerge, map[string]string{"a": "b"})
		wantCode(t, err, schema.ENOTFOUND)
	})
	t.Run("BadMode", func(t *testing.T) {
		MustCreateDevice(t, s, tenant, "badmode")
		_, err := s.SetAttributes(ctx, tenant, "badmode", "append", map[string]string{"a": "b"})
		wantCode(t, err, schema.EINVALID)
	})
}

func testTouchDevices(t *testing.T, s schema.Store) {
	ctx := t.Context()
	MustCreateDevice(t, s, tenant, "a")
	MustCreateDevice(t, s, tenant, "b")
	MustCreateDevice(t, s, other, "a")
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)

	if err := s.TouchDevices(ctx, nil); err != nil {
		t.Fatalf("empty batch: %v", err)
	}
	err := s.TouchDevices(ctx, []schema.Seen{
		{Tenant: tenant, DeviceID: "a", At: t0, Addr: "10.0.0.1:4000"},
		{Tenant: tenant, DeviceID: "b", At: t0.Add(time.Second), Addr: "10.0.0.2:4000"},
		{Tenant: tenant, DeviceID: "unknown", At: t0, Addr: "10.0.0.3:4000"},
	})
	if err != nil {
		t.Fatal(err)
	}
	a, b := mustDevice(t, s, tenant, "a"), mustDevice(t, s, tenant, "b")
	wantTime(t, "a.LastSeen", a.LastSeen, t0)
	wantTime(t, "b.LastSeen", b.LastSeen, t0.Add(time.Second))
	if a.LastAddr != "10.0.0.1:4000" || b.LastAddr != "10.0.0.2:4000" {
		t.Fatalf("addresses %q %q", a.LastAddr, b.LastAddr)
	}
	if o := mustDevice(t, s, other, "a"); !o.LastSeen.IsZero() {
		t.Fatalf("other tenant's device touched: %v", o.LastSeen)
	}

	// An older trace (a frontline flushing late) and an empty address change
	// nothing that is newer.
	err = s.TouchDevices(ctx, []schema.Seen{
		{Tenant: tenant, DeviceID: "a", At: t0.Add(-time.Minute), Addr: "10.9.9.9:1"},
		{Tenant: tenant, DeviceID: "b", At: t0.Add(time.Hour)},
	})
	if err != nil {
		t.Fatal(err)
	}
	a, b = mustDevice(t, s, tenant, "a"), mustDevice(t, s, tenant, "b")
	wantTime(t, "a.LastSeen", a.LastSeen, t0)
	wantTime(t, "b.LastSeen", b.LastSeen, t0.Add(time.Hour))
	if a.LastAddr != "10.0.0.1:4000" || b.LastAddr != "10.0.0.2:4000" {
		t.Fatalf("addresses %q %q", a.LastAddr, b.LastAddr)
	}
}

func testDevices(t *testing.T, s schema.Store) {
	ctx := t.Context()
	sw := MustCreateSoftware(t, s, tenant, "1.0")
	// 120 devices: every 3rd in feed beta, every 4th pinned, every 5th named.
	for i := range 120 {
		d := &schema.Device{Tenant: tenant, ID: fmt.Sprintf("dev-%03d", i)}
		if i%3 == 0 {
			d.Feed = "beta"
		}
		if i%4 == 0 {
			d.UpdateMode = schema.ModePinned
		}
		if i%5 == 0 {
			d.Name = fmt.Sprintf("Kiosk %d", i)
		}
		if err := s.CreateDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	MustCreateDevice(t, s, other, "dev-000")
	MustCreateAction(t, s, tenant, "dev-007", sw.ID)

	ids := func(ds []*schema.Device) []string {
		var out []string
		for _, d := range ds {
			out = append(out, d.ID)
		}
		return out
	}
	for _, tc := range []struct {
		name      string
		f         schema.DeviceFilter
		wantTotal int
		wantFirst []string
		wantLen   int
	}{
		{"DefaultLimit", schema.DeviceFilter{Tenant: tenant}, 120, []string{"dev-000", "dev-001"}, 100},
		{"Page", schema.DeviceFilter{Tenant: tenant, Offset: 10, Limit: 5}, 120, []string{"dev-010", "dev-011", "dev-012", "dev-013", "dev-014"}, 5},
		{"LastPage", schema.DeviceFilter{Tenant: tenant, Offset: 118, Limit: 5}, 120, []string{"dev-118", "dev-119"}, 2},
		{"PastEnd", schema.DeviceFilter{Tenant: tenant, Offset: 500}, 120, nil, 0},
		{"QueryID", schema.DeviceFilter{Tenant: tenant, Target: schema.Target{Query: "dev-11"}}, 10, []string{"dev-110"}, 10},
		{"QueryName", schema.DeviceFilter{Tenant: tenant, Target: schema.Target{Query: "Kiosk 1"}}, 6, []string{"dev-010", "dev-015", "dev-100"}, 6},
		{"QueryNameCase", schema.DeviceFilter{Tenant: tenant, Target: schema.Target{Query: "kiosk 10"}}, 3, []string{"dev-010", "dev-100", "dev-105"}, 3},
		{"QueryPercent", schema.DeviceFilter{Tenant: tenant, Target: schema.Target{Query: "%"}}, 0, nil, 0},
		{"Feed", schema.DeviceFilter{Tenant: tenant, Target: schema.Target{Feed: "beta"}}, 40, []string{"dev-000", "dev-003"}, 40},
		{"Mode", schema.DeviceFilter{Tenant: tenant, Target: schema.Target{UpdateMode: schema.ModePinned}}, 30, []string{"dev-000", "dev-004"}, 30},
		{"FeedAndMode", schema.DeviceFilter{Tenant: tenant, Target: schema.Target{Feed: "beta", UpdateMode: schema.ModePinned}}, 10, []string{"dev-000", "dev-012"}, 10},
		{"Status", schema.DeviceFilter{Tenant: tenant, Target: schema.Target{Status: schema.DeviceUpdating}}, 1, []string{"dev-007"}, 1},
		{"OtherTenant", schema.DeviceFilter{Tenant: other}, 1, []string{"dev-000"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds, total, err := s.Devices(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			got := ids(ds)
			if total != tc.wantTotal || len(got) != tc.wantLen {
				t.Fatalf("total %d, %d devices; want %d, %d", total, len(got), tc.wantTotal, tc.wantLen)
			}
			for i, id := range tc.wantFirst {
				if got[i] != id {
					t.Fatalf("devices start %v, want %v", got[:len(tc.wantFirst)], tc.wantFirst)
				}
			}
			for i := 1; i < len(ds); i++ {
				if ds[i-1].ID >= ds[i].ID {
					t.Fatalf("not ordered by id: %s before %s", ds[i-1].ID, ds[i].ID)
				}
			}
		})
	}
	t.Run("NegativeOffset", func(t *testing.T) {
		_, _, err := s.Devices(ctx, schema.DeviceFilter{Tenant: tenant, Offset: -1})
		wantCode(t, err, schema.EINVALID)
	})
}
