package postgres_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/gosling-ota/gosling/schema"
	"github.com/gosling-ota/gosling/schema/postgres"
	"github.com/gosling-ota/gosling/schema/postgres/pgtest"
	"github.com/gosling-ota/gosling/schema/storetest"
)

// TestMigrateRollouts checks that 002 turns a rollout of 001 into one open
// 100% wave, so it goes on offering what it offered, and that the other
// new columns read back as their zero values.
func TestMigrateRollouts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := mustOpenURL(t, pgtest.Start(t))
	init, err := os.ReadFile("migrations/001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.MigrateFS(ctx, fstest.MapFS{"migrations/001_init.sql": {Data: init}}); err != nil {
		t.Fatal(err)
	}
	created := time.Date(2026, 3, 1, 12, 0, 0, 123_000_000, time.UTC)
	var swID, rID int64
	if err := db.Pool().QueryRow(ctx, `INSERT INTO software (tenant, version, created_at) VALUES ('acme', '1.0', $1)
		RETURNING id`, created).Scan(&swID); err != nil {
		t.Fatal(err)
	}
	if err := db.Pool().QueryRow(ctx, `INSERT INTO rollouts (tenant, name, feed, software_id, status, created_at)
		VALUES ('acme', 'old', 'default', $1, 'running', $2) RETURNING id`, swID, created).Scan(&rID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool().Exec(ctx, `INSERT INTO devices (tenant, id, update_mode, feed, status, config_requested,
		provisioned, created_at) VALUES ('acme', 'dev-1', 'rollout', 'default', 'registered', false, false, $1)`, created); err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	r, err := db.Rollout(ctx, "acme", rID)
	if err != nil {
		t.Fatal(err)
	}
	want := []schema.Wave{{Percent: 100, Threshold: ^uint32(0), OpenedAt: created}}
	if fmt.Sprint(r.Waves) != fmt.Sprint(want) || r.CurrentWave != 0 || !r.Offers() ||
		!r.UpdatedAt.Equal(created) || r.Target != nil || r.Window != nil ||
		r.Download != schema.HandlingForced || r.Update != schema.HandlingForced {
		t.Fatalf("migrated rollout %+v", r)
	}
	if r.Waves[0].OpenedAt.Location() != time.UTC {
		t.Fatalf("OpenedAt %v not in UTC", r.Waves[0].OpenedAt)
	}
	d := storetest.MustCreateDevice(t, db, "acme", "dev-2")
	old, err := db.Device(ctx, "acme", "dev-1")
	if err != nil || old.Tags == nil || len(old.Tags) != 0 || old.PollInterval != 0 || len(d.Tags) != 0 {
		t.Fatalf("migrated device %+v, %v", old, err)
	}
	if p, err := db.PollSettings(ctx, "acme"); err != nil || p.Default != 0 || p.Feeds != nil {
		t.Fatalf("poll settings %+v, %v", p, err)
	}
}

// TestMaxConcurrentAcrossPools races CreateAction from several pools (as
// several frontline processes would) on a rollout with MaxConcurrent: the
// bound must hold exactly.
func TestMaxConcurrentAcrossPools(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.Start(t)
	first := mustOpenURL(t, url)
	if err := first.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	const devices, limit, pools = 40, 7, 4
	sw := storetest.MustCreateSoftware(t, first, "acme", "1.0")
	r := &schema.Rollout{Tenant: "acme", SoftwareID: sw.ID, MaxConcurrent: limit}
	if err := first.CreateRollout(ctx, r); err != nil {
		t.Fatal(err)
	}
	for i := range devices {
		storetest.MustCreateDevice(t, first, "acme", fmt.Sprintf("dev-%02d", i))
	}
	var (
		wg              sync.WaitGroup
		created, busy   atomic.Int64
		start           = make(chan struct{})
		stores          = []*postgres.DB{first}
		unexpectedError atomic.Value
	)
	for range pools - 1 {
		stores = append(stores, mustOpenURL(t, url))
	}
	for i := range devices {
		db := stores[i%pools]
		wg.Go(func() {
			<-start
			err := db.CreateAction(ctx, &schema.Action{Tenant: "acme", DeviceID: fmt.Sprintf("dev-%02d", i),
				SoftwareID: sw.ID, RolloutID: r.ID})
			switch schema.ErrorCode(err) {
			case "":
				created.Add(1)
			case schema.EUNAVAILABLE:
				busy.Add(1)
			default:
				unexpectedError.Store(err)
			}
		})
	}
	close(start)
	wg.Wait()
	if err := unexpectedError.Load(); err != nil {
		t.Fatal(err)
	}
	if created.Load() != limit || busy.Load() != devices-limit {
		t.Fatalf("%d created, %d refused; want %d and %d", created.Load(), busy.Load(), limit, devices-limit)
	}
	counts, err := first.RolloutActionCounts(ctx, "acme", r.ID)
	if err != nil || counts[0].Pending != limit {
		t.Fatalf("counts %+v, %v", counts, err)
	}
	// Canceling frees nothing (canceling is open); closing does.
	list, err := first.CancelRolloutActions(ctx, "acme", r.ID)
	if err != nil || len(list) != limit {
		t.Fatalf("cancel: %d actions, %v", len(list), err)
	}
	ids, err := first.DeviceIDs(ctx, "acme", schema.Target{Status: schema.DeviceRegistered}, "", 1)
	if err != nil || len(ids) != 1 {
		t.Fatalf("a device without action: %v, %v", ids, err)
	}
	err = first.CreateAction(ctx, &schema.Action{Tenant: "acme", DeviceID: ids[0], SoftwareID: sw.ID, RolloutID: r.ID})
	if schema.ErrorCode(err) != schema.EUNAVAILABLE {
		t.Fatalf("create while all canceling: %v, want EUNAVAILABLE", err)
	}
}
