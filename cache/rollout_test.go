package cache_test

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/gosling-ota/gosling/cache"
	"github.com/gosling-ota/gosling/schema"
	"github.com/gosling-ota/gosling/schema/storetest"
)

// TestStorePollSettings checks that poll settings are cached per tenant,
// the zero settings too, and that SetPollSettings reaches every store.
func TestStorePollSettings(t *testing.T) {
	f := newFixture(t, cache.StoreOptions{})
	ctx := t.Context()
	s := f.store
	other := cache.NewStore(f.next, f.rdb, cache.StoreOptions{Prefix: f.prefix})

	for range 3 {
		p, err := s.PollSettings(ctx, "acme")
		if err != nil || !reflect.DeepEqual(p, &schema.PollSettings{}) {
			t.Fatalf("unset poll settings %+v, %v", p, err)
		}
	}
	wantCount(t, "PollSettings (unset)", &f.next.poll, 1)

	want := &schema.PollSettings{
		Default:       schema.Duration(10 * time.Minute),
		Feeds:         map[string]schema.Duration{"beta": schema.Duration(time.Minute)},
		Tags:          map[string]schema.Duration{"lab": schema.Duration(30 * time.Second)},
		Action:        schema.Duration(20 * time.Second),
		JitterPercent: 10,
	}
	if err := s.SetPollSettings(ctx, "acme", want); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		p, err := other.PollSettings(ctx, "acme")
		if err != nil || !reflect.DeepEqual(p, want) {
			t.Fatalf("poll settings %+v, %v; want %+v", p, err, want)
		}
	}
	wantCount(t, "PollSettings (after set)", &f.next.poll, 2)
	if p, err := other.PollSettings(ctx, "globex"); err != nil || !reflect.DeepEqual(p, &schema.PollSettings{}) {
		t.Fatalf("other tenant: %+v, %v", p, err)
	}

	// A refused write keeps the entry.
	bad := &schema.PollSettings{JitterPercent: 90}
	if err := s.SetPollSettings(ctx, "acme", bad); schema.ErrorCode(err) != schema.EINVALID {
		t.Fatalf("jitter 90%%: %v", err)
	}
	if _, err := other.PollSettings(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	wantCount(t, "PollSettings (after refused set)", &f.next.poll, 3) // globex was the third
}

// TestStoreBulkInvalidates checks the writes that change many entries:
// UpdateDevices (in invalidation chunks), CancelRolloutActions and
// UpdateRollout.
func TestStoreBulkInvalidates(t *testing.T) {
	f := newFixture(t, cache.StoreOptions{})
	ctx := t.Context()
	s := f.store
	other := cache.NewStore(f.next, f.rdb, cache.StoreOptions{Prefix: f.prefix})

	// More devices than one invalidation script takes.
	const n = 1100
	for i := range n {
		d := &schema.Device{Tenant: "acme", ID: fmt.Sprintf("dev-%04d", i)}
		if i%2 == 0 {
			d.Tags = []string{"even"}
		}
		if err := s.CreateDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
		mustDevice(t, other, "acme", d.ID)
	}
	ids, err := s.UpdateDevices(ctx, "acme", schema.Target{Tags: []string{"even"}}, schema.DeviceUpdate{Feed: new("beta")})
	if err != nil || len(ids) != n/2 {
		t.Fatalf("UpdateDevices: %d ids, %v", len(ids), err)
	}
	for i := range n {
		d := mustDevice(t, other, "acme", fmt.Sprintf("dev-%04d", i))
		if want := map[bool]string{true: "beta", false: schema.DefaultFeed}[i%2 == 0]; d.Feed != want {
			t.Fatalf("%s: feed %q after UpdateDevices, want %q", d.ID, d.Feed, want)
		}
	}

	// A rollout with open actions on three devices.
	sw := storetest.MustCreateSoftware(t, s, "acme", "1.0")
	r := &schema.Rollout{Tenant: "acme", SoftwareID: sw.ID, Feed: "beta"}
	if err := s.CreateRollout(ctx, r); err != nil {
		t.Fatal(err)
	}
	var actions []*schema.Action
	for _, id := range []string{"dev-0000", "dev-0002", "dev-0004"} {
		a := &schema.Action{Tenant: "acme", DeviceID: id, SoftwareID: sw.ID, RolloutID: r.ID}
		if err := s.CreateAction(ctx, a); err != nil {
			t.Fatal(err)
		}
		actions = append(actions, a)
		if got, err := other.Action(ctx, "acme", id, a.ID); err != nil || got.Status != schema.ActionPending {
			t.Fatalf("action %+v, %v", got, err)
		}
		mustDevice(t, other, "acme", id)
	}
	list, err := s.CancelRolloutActions(ctx, "acme", r.ID)
	if err != nil || len(list) != 3 {
		t.Fatalf("CancelRolloutActions: %+v, %v", list, err)
	}
	for _, a := range actions {
		if got, err := other.Action(ctx, "acme", a.DeviceID, a.ID); err != nil || got.Status != schema.ActionCanceling {
			t.Fatalf("after CancelRolloutActions: %+v, %v", got, err)
		}
	}

	// UpdateRollout reaches the cached list; a stale write changes nothing.
	if l, err := other.Rollouts(ctx, "acme"); err != nil || len(l) != 1 || l[0].CurrentWave != -1 {
		t.Fatalf("rollouts %+v, %v", l, err)
	}
	stale := *r
	r.CurrentWave, r.Waves[0].Threshold = 0, schema.PercentThreshold(100)
	if err := s.UpdateRollout(ctx, r); err != nil {
		t.Fatal(err)
	}
	if l, _ := other.Rollouts(ctx, "acme"); l[0].CurrentWave != 0 || !l[0].Offers() {
		t.Fatalf("after UpdateRollout: %+v", l[0])
	}
	before := f.next.rollouts.Load()
	if err := s.UpdateRollout(ctx, &stale); schema.ErrorCode(err) != schema.ECONFLICT {
		t.Fatalf("stale UpdateRollout: %v", err)
	}
	if _, err := other.Rollouts(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	wantCount(t, "Rollouts after a conflict", &f.next.rollouts, before)

	// Events and counts pass through.
	e := &schema.RolloutEvent{RolloutID: r.ID, Type: "started"}
	if err := s.AddRolloutEvent(ctx, "acme", e); err != nil {
		t.Fatal(err)
	}
	if ev, err := s.RolloutEvents(ctx, "acme", r.ID, 0, 0); err != nil || len(ev) != 1 || ev[0].ID != e.ID {
		t.Fatalf("events %+v, %v", ev, err)
	}
	if c, err := s.RolloutActionCounts(ctx, "acme", r.ID); err != nil || len(c) != 1 || c[0].Running != 3 {
		t.Fatalf("counts %+v, %v", c, err)
	}
	if ids, err := s.DeviceIDs(ctx, "acme", schema.Target{Feed: "beta"}, "", 3); err != nil ||
		!slices.Equal(ids, []string{"dev-0000", "dev-0002", "dev-0004"}) {
		t.Fatalf("DeviceIDs %v, %v", ids, err)
	}
	if st := s.Stats(); st.InvalidateErrors != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestStoreMaxConcurrentKeepsEntry checks that CreateAction refused by
// MaxConcurrent (EUNAVAILABLE, nothing written) leaves the device cached:
// frontlines meet it on every poll of a waiting device.
func TestStoreMaxConcurrentKeepsEntry(t *testing.T) {
	f := newFixture(t, cache.StoreOptions{})
	ctx := t.Context()
	s := f.store
	storetest.MustCreateDevice(t, s, "acme", "dev-1")
	storetest.MustCreateDevice(t, s, "acme", "dev-2")
	sw := storetest.MustCreateSoftware(t, s, "acme", "1.0")
	r := &schema.Rollout{Tenant: "acme", SoftwareID: sw.ID, MaxConcurrent: 1}
	if err := s.CreateRollout(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAction(ctx, &schema.Action{Tenant: "acme", DeviceID: "dev-1", SoftwareID: sw.ID, RolloutID: r.ID}); err != nil {
		t.Fatal(err)
	}
	mustDevice(t, s, "acme", "dev-2")
	before := f.next.device.Load()
	err := s.CreateAction(ctx, &schema.Action{Tenant: "acme", DeviceID: "dev-2", SoftwareID: sw.ID, RolloutID: r.ID})
	if schema.ErrorCode(err) != schema.EUNAVAILABLE {
		t.Fatalf("second action: %v, want EUNAVAILABLE", err)
	}
	mustDevice(t, s, "acme", "dev-2")
	wantCount(t, "Device after a refused CreateAction", &f.next.device, before)
}
