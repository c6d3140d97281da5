package storetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/gosling-ota/gosling/schema"
)

func testRollouts(t *testing.T, s schema.Store) {
	ctx := t.Context()
	sw := MustCreateSoftware(t, s, tenant, "1.0")
	otherSW := MustCreateSoftware(t, s, other, "1.0")
	before := time.Now()

	r1 := &schema.Rollout{Tenant: tenant, Name: "wave 1", SoftwareID: sw.ID}
	if err := s.CreateRollout(ctx, r1); err != nil {
		t.Fatal(err)
	}
	if r1.ID == 0 || r1.Status != schema.RolloutRunning || r1.Feed != schema.DefaultFeed ||
		!reflect.DeepEqual(r1.Waves, []schema.Wave{{Percent: 100}}) || r1.CurrentWave != -1 ||
		r1.Download != schema.HandlingForced || r1.Update != schema.HandlingForced || r1.Target != nil {
		t.Fatalf("defaults not filled: %+v", r1)
	}
	wantTime(t, "CreatedAt", r1.CreatedAt, before)
	wantTime(t, "UpdatedAt", r1.UpdatedAt, r1.CreatedAt)
	got, err := s.Rollout(ctx, tenant, r1.ID)
	if err != nil || !reflect.DeepEqual(got, r1) {
		t.Fatalf("read back %+v, %v; want %+v", got, err, r1)
	}
	r2 := &schema.Rollout{Tenant: tenant, Name: "beta", Feed: "beta", SoftwareID: sw.ID, Status: schema.RolloutPaused}
	if err := s.CreateRollout(ctx, r2); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Rollout(ctx, tenant, r2.ID); err != nil || got.Status != schema.RolloutPaused || got.Feed != "beta" {
		t.Fatalf("paused rollout: %+v, %v", got, err)
	}
	ro := &schema.Rollout{Tenant: other, Name: "x", SoftwareID: otherSW.ID}
	if err := s.CreateRollout(ctx, ro); err != nil {
		t.Fatal(err)
	}

	t.Run("List", func(t *testing.T) {
		list, err := s.Rollouts(ctx, tenant)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].ID != r2.ID || list[1].ID != r1.ID {
			t.Fatalf("rollouts %+v, want newest first [%d %d]", list, r2.ID, r1.ID)
		}
		if list, err := s.Rollouts(ctx, "nobody"); err != nil || len(list) != 0 {
			t.Fatalf("empty tenant: %v, %v", list, err)
		}
	})
	t.Run("CreateErrors", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			r    schema.Rollout
			code string
		}{
			{"NoSoftware", schema.Rollout{Tenant: tenant, SoftwareID: sw.ID + 1000}, schema.ENOTFOUND},
			{"OtherTenantSoftware", schema.Rollout{Tenant: tenant, SoftwareID: otherSW.ID}, schema.ENOTFOUND},
			{"BadStatus", schema.Rollout{Tenant: tenant, SoftwareID: sw.ID, Status: "done"}, schema.EINVALID},
			{"CreateFinished", schema.Rollout{Tenant: tenant, SoftwareID: sw.ID, Status: schema.RolloutFinished}, schema.EINVALID},
			{"BadDownload", schema.Rollout{Tenant: tenant, SoftwareID: sw.ID, Download: "skip"}, schema.EINVALID},
			{"BadUpdate", schema.Rollout{Tenant: tenant, SoftwareID: sw.ID, Update: "later"}, schema.EINVALID},
			{"NegativeMaxConcurrent", schema.Rollout{Tenant: tenant, SoftwareID: sw.ID, MaxConcurrent: -1}, schema.EINVALID},
			{"BadWindowStart", schema.Rollout{Tenant: tenant, SoftwareID: sw.ID,
				Window: &schema.MaintenanceWindow{Start: "25:00", Duration: schema.Duration(time.Hour)}}, schema.EINVALID},
			{"BadWindowDuration", schema.Rollout{Tenant: tenant, SoftwareID: sw.ID,
				Window: &schema.MaintenanceWindow{Start: "02:00"}}, schema.EINVALID},
			{"BadWindowZone", schema.Rollout{Tenant: tenant, SoftwareID: sw.ID,
				Window: &schema.MaintenanceWindow{Start: "02:00", Duration: schema.Duration(time.Hour), Location: "Mars/Olympus"}}, schema.EINVALID},
		} {
			t.Run(tc.name, func(t *testing.T) { wantCode(t, s.CreateRollout(ctx, &tc.r), tc.code) })
		}
		for _, tc := range []struct {
			name  string
			waves []schema.Wave
		}{
			{"PercentAndCount", []schema.Wave{{Percent: 10, Count: 5}}},
			{"NeitherPercentNorCount", []schema.Wave{{Percent: 10}, {SuccessPercent: 90}}},
			{"PercentOver100", []schema.Wave{{Percent: 100.5}}},
			{"NegativePercent", []schema.Wave{{Percent: -5}}},
			{"NegativeCount", []schema.Wave{{Count: -5}}},
			{"DecreasingPercent", []schema.Wave{{Percent: 50}, {Percent: 20}}},
			{"DecreasingAcrossCount", []schema.Wave{{Percent: 50}, {Count: 10}, {Percent: 20}}},
			{"BadOnError", []schema.Wave{{Percent: 100, OnError: "explode"}}},
			{"BadSuccessPercent", []schema.Wave{{Percent: 100, SuccessPercent: 101}}},
			{"BadErrorPercent", []schema.Wave{{Percent: 100, ErrorPercent: -1}}},
			{"NegativeErrorCount", []schema.Wave{{Percent: 100, ErrorCount: -1}}},
		} {
			t.Run("Waves/"+tc.name, func(t *testing.T) {
				wantCode(t, s.CreateRollout(ctx, &schema.Rollout{Tenant: tenant, SoftwareID: sw.ID, Waves: tc.waves}), schema.EINVALID)
			})
		}
	})
	t.Run("SetStatus", func(t *testing.T) {
		r, err := s.SetRolloutStatus(ctx, tenant, r1.ID, schema.RolloutPaused)
		if err != nil || r.Status != schema.RolloutPaused {
			t.Fatalf("pause: %+v, %v", r, err)
		}
		if got, _ := s.Rollout(ctx, tenant, r1.ID); !reflect.DeepEqual(got, r) {
			t.Fatalf("read back %+v, want %+v", got, r)
		}
		if !r.UpdatedAt.After(r1.UpdatedAt) {
			t.Fatalf("UpdatedAt %v not after %v", r.UpdatedAt, r1.UpdatedAt)
		}
		if r, err = s.SetRolloutStatus(ctx, tenant, r1.ID, schema.RolloutRunning); err != nil || r.Status != schema.RolloutRunning {
			t.Fatalf("resume: %+v, %v", r, err)
		}
		_, err = s.SetRolloutStatus(ctx, tenant, r1.ID, "finished")
		wantCode(t, err, schema.EINVALID)
		_, err = s.SetRolloutStatus(ctx, other, r1.ID, schema.RolloutPaused)
		wantCode(t, err, schema.ENOTFOUND)
	})
	t.Run("NotFound", func(t *testing.T) {
		_, err := s.Rollout(ctx, other, r1.ID)
		wantCode(t, err, schema.ENOTFOUND)
		wantCode(t, s.DeleteRollout(ctx, other, r1.ID), schema.ENOTFOUND)
	})
	t.Run("DeleteKeepsActions", func(t *testing.T) {
		MustCreateDevice(t, s, tenant, "dev-1")
		a := &schema.Action{Tenant: tenant, DeviceID: "dev-1", SoftwareID: sw.ID, RolloutID: r1.ID}
		if err := s.CreateAction(ctx, a); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteRollout(ctx, tenant, r1.ID); err != nil {
			t.Fatal(err)
		}
		_, err := s.Rollout(ctx, tenant, r1.ID)
		wantCode(t, err, schema.ENOTFOUND)
		if got := mustAction(t, s, a); got.RolloutID != r1.ID {
			t.Fatalf("action lost its rollout: %+v", got)
		}
		wantCode(t, s.DeleteRollout(ctx, tenant, r1.ID), schema.ENOTFOUND)
	})
}
