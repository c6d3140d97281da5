package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/gosling-ota/gosling/schema"
)

// Awkward attribute keys and tags: JSON-path syntax, quotes, non-ASCII.
const (
	keyDot   = "a.b"
	keyQuote = `q"k`
	keyPath  = "$.x[0]"
	tagQuote = `x"y`
)

// mustTargetFleet creates a varied population in tenant (and a few look-alikes
// in other) and returns the tenant's devices as the store reads them.
// Devices differ in tags, feed, update mode, status (open, succeeded and
// failed actions), board (hw_model, hw_boardname, both, neither), revision,
// version, names (case, non-ASCII) and attributes with awkward keys.
func mustTargetFleet(t *testing.T, s schema.Store, n int) []*schema.Device {
	t.Helper()
	ctx := t.Context()
	sw := MustCreateSoftware(t, s, tenant, "2.0")
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(vs ...string) string { return vs[rng.IntN(len(vs))] }
	tagPool := []string{"eu", "us", "canary", "lab", "prod", keyDot, tagQuote, "Émile"}
	modes := []schema.UpdateMode{schema.ModeRollout, schema.ModeLatest, schema.ModeAssigned, schema.ModePinned}
	for i := range n {
		d := &schema.Device{
			Tenant:     tenant,
			ID:         fmt.Sprintf("dev-%02d", i),
			Name:       pick("", "", "Kiosk "+fmt.Sprint(i), "LOBBY screen", "Ünïcode Hall", "100% sure", "under_score"),
			Feed:       pick("", schema.DefaultFeed, "beta", "stable"),
			UpdateMode: modes[rng.IntN(len(modes))],
			Attributes: map[string]string{},
		}
		if d.UpdateMode == schema.ModeAssigned {
			d.SoftwareID = sw.ID
		}
		for _, tag := range tagPool {
			if rng.IntN(3) == 0 {
				d.Tags = append(d.Tags, tag)
			}
		}
		set := func(k, v string) {
			if v != "-" { // "-" leaves the key out
				d.Attributes[k] = v
			}
		}
		set(schema.AttrHWModel, pick("-", "-", "", "pi4", "cm4"))
		set(schema.AttrHWBoardName, pick("-", "", "pi4", "rock"))
		set(schema.AttrHWRevision, pick("-", "", "1.0", "2.0"))
		set(schema.AttrSWVersion, pick("-", "1.0", "1.1"))
		set("site", pick("-", "", "hq", "lab", "HQ"))
		set(keyDot, pick("-", "1", "2"))
		set(keyQuote, pick("-", "v", `"v"`))
		set(keyPath, pick("-", "y"))
		set("hw_model.x", pick("-", "pi4"))
		if err := s.CreateDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 { // a look-alike in another tenant
			o := *d
			o.Tenant, o.SoftwareID, o.UpdateMode = other, 0, schema.ModeRollout
			if err := s.CreateDevice(ctx, &o); err != nil {
				t.Fatal(err)
			}
		}
		switch i % 5 {
		case 1: // updating
			MustCreateAction(t, s, tenant, d.ID, sw.ID)
		case 2: // in_sync, running 2.0
			a := MustCreateAction(t, s, tenant, d.ID, sw.ID)
			MustRecordOK(t, s, NewFeedback(a, schema.FeedbackDeployment, schema.ExecClosed, schema.FinishedSuccess))
		case 3: // failed
			a := MustCreateAction(t, s, tenant, d.ID, sw.ID)
			MustRecordOK(t, s, NewFeedback(a, schema.FeedbackDeployment, schema.ExecClosed, schema.FinishedFailure))
		}
	}
	all, total, err := s.Devices(ctx, schema.DeviceFilter{Tenant: tenant, Limit: 1000})
	if err != nil || total != n || len(all) != n {
		t.Fatalf("fleet: %d of %d devices, %v; want %d", len(all), total, err, n)
	}
	return all
}

// targetCases are the targets the property test compares; together they
// touch every field of schema.Target and its edge cases.
func targetCases() []schema.Target {
	return []schema.Target{
		{},
		{IDs: []string{"dev-01", "dev-05", "dev-33", "nope"}},
		{IDs: []string{"DEV-01"}},
		{Tags: []string{"eu"}},
		{Tags: []string{"eu", "canary"}},
		{Tags: []string{"eu", "eu"}},
		{Tags: []string{keyDot}},
		{Tags: []string{tagQuote, "Émile"}},
		{Tags: []string{""}},
		{Tags: []string{"missing"}},
		{Feed: schema.DefaultFeed},
		{Feed: "beta"},
		{Feed: "nope"},
		{UpdateMode: schema.ModePinned},
		{UpdateMode: schema.ModeRollout, Feed: "stable"},
		{Status: schema.DeviceRegistered},
		{Status: schema.DeviceUpdating},
		{Status: schema.DeviceInSync, Tags: []string{"us"}},
		{Status: schema.DeviceFailed},
		{HWModel: "pi4"},
		{HWModel: "rock"},
		{HWModel: "cm4", HWRevision: "1.0"},
		{HWRevision: "2.0"},
		{SWVersion: "2.0"},
		{SWVersion: "1.0"},
		{Attributes: map[string]string{"site": "hq"}},
		{Attributes: map[string]string{"site": ""}},
		{Attributes: map[string]string{keyDot: "1"}},
		{Attributes: map[string]string{keyQuote: "v"}},
		{Attributes: map[string]string{keyQuote: `"v"`}},
		{Attributes: map[string]string{keyPath: "y", "site": "lab"}},
		{Attributes: map[string]string{"hw_model.x": "pi4"}},
		{Attributes: map[string]string{schema.AttrHWModel: ""}},
		{Attributes: map[string]string{"missing": ""}},
		{Query: "kiosk"},
		{Query: "ÜNÏ"},
		{Query: "dev-1"},
		{Query: "%"},
		{Query: "_"},
		{Feed: "beta", Tags: []string{"eu"}, HWModel: "pi4"},
		{Tags: []string{"lab"}, Attributes: map[string]string{"site": "lab"}, Query: "dev"},
		{IDs: []string{"dev-02", "dev-07", "dev-12"}, Status: schema.DeviceInSync},
	}
}

// testTargetMatches is the property that keeps the SQL and the in-memory
// poll path in agreement: for every target, Devices, DeviceIDs and
// UpdateDevices select exactly the devices schema.Target.Matches accepts.
func testTargetMatches(t *testing.T, s schema.Store) {
	ctx := t.Context()
	all := mustTargetFleet(t, s, 60)
	proper := 0 // targets selecting some but not all devices
	for i, tg := range targetCases() {
		want := []string{}
		for _, d := range all {
			if tg.Matches(d) {
				want = append(want, d.ID)
			}
		}
		if len(want) > 0 && len(want) < len(all) {
			proper++
		}
		t.Run(fmt.Sprintf("%02d", i), func(t *testing.T) {
			ds, total, err := s.Devices(ctx, schema.DeviceFilter{Tenant: tenant, Target: tg, Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			got := []string{}
			for _, d := range ds {
				got = append(got, d.ID)
			}
			if !slices.Equal(got, want) || total != len(want) {
				t.Fatalf("target %+v:\nDevices  %v (total %d)\nMatches  %v", tg, got, total, want)
			}
			// DeviceIDs, in pages of 7.
			var paged []string
			for after := ""; ; {
				ids, err := s.DeviceIDs(ctx, tenant, tg, after, 7)
				if err != nil {
					t.Fatal(err)
				}
				if len(ids) > 7 {
					t.Fatalf("page of %d ids, limit 7", len(ids))
				}
				paged = append(paged, ids...)
				if len(ids) < 7 {
					break
				}
				after = ids[len(ids)-1]
			}
			if !slices.Equal(paged, want) {
				t.Fatalf("target %+v:\nDeviceIDs %v\nMatches   %v", tg, paged, want)
			}
			// EachDeviceID, in one walk.
			var walked []string
			if err := s.EachDeviceID(ctx, tenant, tg, func(id string) error { walked = append(walked, id); return nil }); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(walked, want) {
				t.Fatalf("target %+v:\nEachDeviceID %v\nMatches      %v", tg, walked, want)
			}
			if tg.IsZero() {
				return
			}
			// UpdateDevices selects the same devices (the change is one no
			// target depends on).
			ids, err := s.UpdateDevices(ctx, tenant, tg, schema.DeviceUpdate{TokenHash: ptr(fmt.Sprintf("h%d", i))})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids, want) {
				t.Fatalf("target %+v:\nUpdateDevices %v\nMatches       %v", tg, ids, want)
			}
		})
	}
	if proper < len(targetCases())*2/3 {
		t.Fatalf("only %d targets select a proper subset of the fleet: the property test lost its power", proper)
	}
	t.Run("NoTenant", func(t *testing.T) {
		ids, err := s.DeviceIDs(ctx, "nobody", schema.Target{}, "", 0)
		if err != nil || len(ids) != 0 {
			t.Fatalf("ids %v, %v", ids, err)
		}
	})
}

func testDeviceTags(t *testing.T, s schema.Store) {
	ctx := t.Context()
	d := &schema.Device{Tenant: tenant, ID: "tagged", Tags: []string{"b", "a", "b", "", "c"}, PollInterval: 90*time.Second + 123456}
	if err := s.CreateDevice(ctx, d); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Tags, []string{"a", "b", "c"}) {
		t.Fatalf("tags %q, want normalised [a b c]", d.Tags)
	}
	if d.PollInterval < 90*time.Second || d.PollInterval > 90*time.Second+time.Millisecond {
		t.Fatalf("poll interval %s", d.PollInterval)
	}
	if got := mustDevice(t, s, tenant, "tagged"); !reflect.DeepEqual(got, d) {
		t.Fatalf("read back\n got %+v\nwant %+v", got, d)
	}
	if plain := MustCreateDevice(t, s, tenant, "plain"); plain.Tags == nil || len(plain.Tags) != 0 || plain.PollInterval != 0 {
		t.Fatalf("untagged device: tags %#v, poll %s", plain.Tags, plain.PollInterval)
	}
	if got := mustDevice(t, s, tenant, "plain"); got.Tags == nil || len(got.Tags) != 0 {
		t.Fatalf("untagged device reads back tags %#v, want []", got.Tags)
	}
	for _, p := range []time.Duration{-time.Second, 500 * time.Millisecond, 24 * time.Hour} {
		err := s.CreateDevice(ctx, &schema.Device{Tenant: tenant, ID: "bad-poll", PollInterval: p})
		wantCode(t, err, schema.EINVALID)
		_, err = s.UpdateDevice(ctx, tenant, "tagged", schema.DeviceUpdate{PollInterval: &p})
		wantCode(t, err, schema.EINVALID)
	}

	t.Run("Update", func(t *testing.T) {
		sw := MustCreateSoftware(t, s, tenant, "1.0")
		MustCreateDevice(t, s, tenant, "skip")
		a := MustCreateAction(t, s, tenant, "skip", sw.ID)
		MustRecordOK(t, s, NewFeedback(a, schema.FeedbackDeployment, schema.ExecClosed, schema.FinishedFailure))
		d, err := s.UpdateDevice(ctx, tenant, "skip", schema.DeviceUpdate{
			Tags: &[]string{"z", "y", "z"}, PollInterval: ptr(5 * time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(d.Tags, []string{"y", "z"}) || d.PollInterval != 5*time.Minute {
			t.Fatalf("tags %q poll %s", d.Tags, d.PollInterval)
		}
		if d.SkipSoftwareID != sw.ID {
			t.Fatal("changing tags or poll interval cleared SkipSoftwareID")
		}
		if got := mustDevice(t, s, tenant, "skip"); !reflect.DeepEqual(got, d) {
			t.Fatalf("read back\n got %+v\nwant %+v", got, d)
		}
		d, err = s.UpdateDevice(ctx, tenant, "skip", schema.DeviceUpdate{Tags: &[]string{}, PollInterval: ptr(time.Duration(0))})
		if err != nil || len(d.Tags) != 0 || d.Tags == nil || d.PollInterval != 0 {
			t.Fatalf("clear: %+v, %v", d, err)
		}
	})
}

func testUpdateDevices(t *testing.T, s schema.Store) {
	ctx := t.Context()
	sw := MustCreateSoftware(t, s, tenant, "1.0")
	otherSW := MustCreateSoftware(t, s, other, "1.0")
	for i := range 10 {
		d := &schema.Device{Tenant: tenant, ID: fmt.Sprintf("bulk-%d", i), Name: fmt.Sprintf("n%d", i)}
		if i%2 == 0 {
			d.Tags = []string{"even"}
		}
		if err := s.CreateDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	o := &schema.Device{Tenant: other, ID: "bulk-0", Tags: []string{"even"}}
	if err := s.CreateDevice(ctx, o); err != nil {
		t.Fatal(err)
	}
	// bulk-0 and bulk-1 skip sw after a failure.
	for _, id := range []string{"bulk-0", "bulk-1"} {
		a := MustCreateAction(t, s, tenant, id, sw.ID)
		MustRecordOK(t, s, NewFeedback(a, schema.FeedbackDeployment, schema.ExecClosed, schema.FinishedFailure))
	}
	even := schema.Target{Tags: []string{"even"}}
	wantEven := []string{"bulk-0", "bulk-2", "bulk-4", "bulk-6", "bulk-8"}

	t.Run("ZeroTarget", func(t *testing.T) {
		_, err := s.UpdateDevices(ctx, tenant, schema.Target{}, schema.DeviceUpdate{Name: ptr("x")})
		wantCode(t, err, schema.EINVALID)
		if d := mustDevice(t, s, tenant, "bulk-3"); d.Name != "n3" {
			t.Fatalf("zero target changed a device: %+v", d)
		}
	})
	t.Run("Apply", func(t *testing.T) {
		ids, err := s.UpdateDevices(ctx, tenant, even, schema.DeviceUpdate{
			Feed: ptr("beta"), Tags: &[]string{"even", "moved", "even"}, PollInterval: ptr(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids, wantEven) {
			t.Fatalf("ids %v, want %v", ids, wantEven)
		}
		for i := range 10 {
			d := mustDevice(t, s, tenant, fmt.Sprintf("bulk-%d", i))
			changed := i%2 == 0
			if (d.Feed == "beta") != changed || (d.PollInterval == time.Minute) != changed ||
				slices.Equal(d.Tags, []string{"even", "moved"}) != changed {
				t.Fatalf("bulk-%d: feed %q tags %q poll %s, changed %v", i, d.Feed, d.Tags, d.PollInterval, changed)
			}
			if d.Name != fmt.Sprintf("n%d", i) {
				t.Fatalf("bulk-%d: name changed to %q", i, d.Name)
			}
		}
		// A feed change clears SkipSoftwareID, as UpdateDevice does.
		if d := mustDevice(t, s, tenant, "bulk-0"); d.SkipSoftwareID != 0 {
			t.Fatalf("bulk-0 still skips %d", d.SkipSoftwareID)
		}
		if d := mustDevice(t, s, tenant, "bulk-1"); d.SkipSoftwareID != sw.ID {
			t.Fatalf("bulk-1 (not targeted) lost its skip")
		}
		if d := mustDevice(t, s, other, "bulk-0"); d.Feed != schema.DefaultFeed || d.PollInterval != 0 {
			t.Fatalf("other tenant's device changed: %+v", d)
		}
	})
	t.Run("NameKeepsSkip", func(t *testing.T) {
		ids, err := s.UpdateDevices(ctx, tenant, schema.Target{IDs: []string{"bulk-1"}}, schema.DeviceUpdate{Name: ptr("one")})
		if err != nil || !slices.Equal(ids, []string{"bulk-1"}) {
			t.Fatalf("ids %v, %v", ids, err)
		}
		if d := mustDevice(t, s, tenant, "bulk-1"); d.Name != "one" || d.SkipSoftwareID != sw.ID {
			t.Fatalf("bulk-1: %+v", d)
		}
	})
	t.Run("Assign", func(t *testing.T) {
		ids, err := s.UpdateDevices(ctx, tenant, schema.Target{Feed: "beta"},
			schema.DeviceUpdate{UpdateMode: ptr(schema.ModeAssigned), SoftwareID: &sw.ID})
		if err != nil || !slices.Equal(ids, wantEven) {
			t.Fatalf("ids %v, %v", ids, err)
		}
		if d := mustDevice(t, s, tenant, "bulk-4"); d.UpdateMode != schema.ModeAssigned || d.SoftwareID != sw.ID {
			t.Fatalf("bulk-4: %+v", d)
		}
	})
	t.Run("NoMatch", func(t *testing.T) {
		ids, err := s.UpdateDevices(ctx, tenant, schema.Target{Tags: []string{"nope"}}, schema.DeviceUpdate{Name: ptr("x")})
		if err != nil || ids == nil || len(ids) != 0 {
			t.Fatalf("ids %#v, %v; want []", ids, err)
		}
	})
	t.Run("Errors", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			u    schema.DeviceUpdate
			code string
		}{
			{"BadMode", schema.DeviceUpdate{Name: ptr("x"), UpdateMode: ptr(schema.UpdateMode("never"))}, schema.EINVALID},
			{"BadPoll", schema.DeviceUpdate{Name: ptr("x"), PollInterval: ptr(time.Millisecond)}, schema.EINVALID},
			{"OtherTenantSoftware", schema.DeviceUpdate{Name: ptr("x"), SoftwareID: &otherSW.ID}, schema.ENOTFOUND},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := s.UpdateDevices(ctx, tenant, even, tc.u)
				wantCode(t, err, tc.code)
				if d := mustDevice(t, s, tenant, "bulk-2"); d.Name != "n2" {
					t.Fatalf("failed bulk update changed bulk-2: %+v", d)
				}
			})
		}
	})
}

func testDeviceIDs(t *testing.T, s schema.Store) {
	ctx := t.Context()
	for i := range 25 {
		MustCreateDevice(t, s, tenant, fmt.Sprintf("id-%02d", i))
	}
	MustCreateDevice(t, s, other, "id-00")
	ids, err := s.DeviceIDs(ctx, tenant, schema.Target{}, "", 0)
	if err != nil || len(ids) != 25 || ids[0] != "id-00" || ids[24] != "id-24" {
		t.Fatalf("ids %v, %v", ids, err)
	}
	ids, err = s.DeviceIDs(ctx, tenant, schema.Target{}, "id-09", 3)
	if err != nil || !slices.Equal(ids, []string{"id-10", "id-11", "id-12"}) {
		t.Fatalf("page after id-09: %v, %v", ids, err)
	}
	ids, err = s.DeviceIDs(ctx, tenant, schema.Target{}, "id-24", 3)
	if err != nil || ids == nil || len(ids) != 0 {
		t.Fatalf("page after the last: %#v, %v; want []", ids, err)
	}
	_, err = s.DeviceIDs(ctx, tenant, schema.Target{}, "", -1)
	wantCode(t, err, schema.EINVALID)

	// EachDeviceID walks the tenant's devices in order and stops at fn's
	// first error, which it returns.
	var walked []string
	stop := errors.New("enough")
	err = s.EachDeviceID(ctx, tenant, schema.Target{}, func(id string) error {
		walked = append(walked, id)
		if len(walked) == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || !slices.Equal(walked, []string{"id-00", "id-01", "id-02"}) {
		t.Fatalf("walk stopped at the third: %v, %v", walked, err)
	}
}
