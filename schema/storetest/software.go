package storetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/gosling-ota/gosling/schema"
)

func testCreateSoftware(t *testing.T, s schema.Store) {
	ctx := t.Context()
	before := time.Now()
	sw := &schema.Software{
		Tenant: tenant, Name: "rootfs", Version: "1.0", Description: "first",
		Hardware: []schema.Hardware{{Board: "pi4", Revisions: []string{"1.0", "1.1"}}},
		Filename: "rootfs.swu", Size: 42, SHA1: "s1", MD5: "m5", SHA256: sha("x"),
	}
	if err := s.CreateSoftware(ctx, sw); err != nil {
		t.Fatal(err)
	}
	if sw.ID == 0 {
		t.Fatal("ID not set")
	}
	wantTime(t, "CreatedAt", sw.CreatedAt, before)
	got, err := s.Software(ctx, tenant, sw.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, sw) {
		t.Fatalf("read back\n got %+v\nwant %+v", got, sw)
	}

	t.Run("URL", func(t *testing.T) {
		sw := &schema.Software{Tenant: tenant, Version: "url-1", URL: "https://cdn.example.com/a.swu"}
		if err := s.CreateSoftware(ctx, sw); err != nil {
			t.Fatal(err)
		}
		got, err := s.Software(ctx, tenant, sw.ID)
		if err != nil || got.URL != sw.URL || got.Hardware == nil {
			t.Fatalf("got %+v, %v", got, err)
		}
	})
	t.Run("NotFound", func(t *testing.T) {
		_, err := s.Software(ctx, tenant, sw.ID+1000)
		wantCode(t, err, schema.ENOTFOUND)
		_, err = s.Software(ctx, other, sw.ID)
		wantCode(t, err, schema.ENOTFOUND)
	})

	pi := func(revs ...string) schema.Hardware { return schema.Hardware{Board: "pi4", Revisions: revs} }
	for _, tc := range []struct {
		name     string
		existing []schema.Hardware
		tenant   string
		version  string
		hw       []schema.Hardware
		code     string
	}{
		{"AnyAndAny", nil, tenant, "2.0", nil, schema.ECONFLICT},
		{"AnyAndBoard", nil, tenant, "2.0", []schema.Hardware{pi("1.0")}, schema.ECONFLICT},
		{"SameRevision", []schema.Hardware{pi("1.0", "1.1")}, tenant, "2.0", []schema.Hardware{pi("1.1")}, schema.ECONFLICT},
		{"Regexp", []schema.Hardware{pi("#RE:1\\..*")}, tenant, "2.0", []schema.Hardware{pi("2.0")}, schema.ECONFLICT},
		{"OtherRevision", []schema.Hardware{pi("1.0")}, tenant, "2.0", []schema.Hardware{pi("2.0")}, ""},
		{"OtherBoard", []schema.Hardware{pi("1.0")}, tenant, "2.0", []schema.Hardware{{Board: "bbb", Revisions: []string{"1.0"}}}, ""},
		{"OtherVersion", nil, tenant, "2.1", nil, ""},
		{"OtherTenant", nil, other, "2.0", nil, ""},
	} {
		t.Run("Conflict/"+tc.name, func(t *testing.T) {
			// Each case in its own version space: suffix the version.
			suffix := "-" + tc.name
			if err := s.CreateSoftware(ctx, &schema.Software{Tenant: tenant, Version: "2.0" + suffix, Hardware: tc.existing}); err != nil {
				t.Fatal(err)
			}
			err := s.CreateSoftware(ctx, &schema.Software{Tenant: tc.tenant, Version: tc.version + suffix, Hardware: tc.hw})
			wantCode(t, err, tc.code)
		})
	}
	t.Run("Invalid", func(t *testing.T) {
		wantCode(t, s.CreateSoftware(ctx, &schema.Software{Tenant: tenant}), schema.EINVALID)
	})
}

func testSoftwareList(t *testing.T, s schema.Store) {
	ctx := t.Context()
	var want []int64
	for _, v := range []string{"1.0", "1.1", "1.2", "1.3", "1.4"} {
		sw := MustCreateSoftware(t, s, tenant, v)
		want = append([]int64{sw.ID}, want...) // newest first
	}
	MustCreateSoftware(t, s, other, "9.9")
	for _, tc := range []struct {
		name string
		f    schema.SoftwareFilter
		want []int64
	}{
		{"All", schema.SoftwareFilter{Tenant: tenant}, want},
		{"Page", schema.SoftwareFilter{Tenant: tenant, Offset: 1, Limit: 2}, want[1:3]},
		{"Tail", schema.SoftwareFilter{Tenant: tenant, Offset: 3}, want[3:]},
		{"PastEnd", schema.SoftwareFilter{Tenant: tenant, Offset: 10}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			list, err := s.SoftwareList(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, sw := range list {
				if sw.Tenant != tenant {
					t.Fatalf("software of tenant %q listed", sw.Tenant)
				}
				got = append(got, sw.ID)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ids %v, want %v", got, tc.want)
			}
		})
	}
}

func testDeleteSoftware(t *testing.T, s schema.Store) {
	ctx := t.Context()
	t.Run("NotFound", func(t *testing.T) {
		_, err := s.DeleteSoftware(ctx, tenant, 12345)
		wantCode(t, err, schema.ENOTFOUND)
		sw := MustCreateSoftware(t, s, other, "nf")
		_, err = s.DeleteSoftware(ctx, tenant, sw.ID)
		wantCode(t, err, schema.ENOTFOUND)
	})
	t.Run("BlobShared", func(t *testing.T) {
		a := &schema.Software{Tenant: tenant, Version: "a", SHA256: sha("blob")}
		b := &schema.Software{Tenant: other, Version: "b", SHA256: sha("blob")}
		c := &schema.Software{Tenant: tenant, Version: "c", URL: "https://example.com/c"}
		for _, sw := range []*schema.Software{a, b, c} {
			if err := s.CreateSoftware(ctx, sw); err != nil {
				t.Fatal(err)
			}
		}
		if shared, err := s.DeleteSoftware(ctx, tenant, a.ID); err != nil || !shared {
			t.Fatalf("delete a: shared %v, %v; want true", shared, err)
		}
		if _, err := s.Software(ctx, tenant, a.ID); schema.ErrorCode(err) != schema.ENOTFOUND {
			t.Fatalf("deleted software still there: %v", err)
		}
		if shared, err := s.DeleteSoftware(ctx, other, b.ID); err != nil || shared {
			t.Fatalf("delete b: shared %v, %v; want false", shared, err)
		}
		if shared, err := s.DeleteSoftware(ctx, tenant, c.ID); err != nil || shared {
			t.Fatalf("delete c (no blob): shared %v, %v; want false", shared, err)
		}
	})
	t.Run("AssignedToDevice", func(t *testing.T) {
		sw := MustCreateSoftware(t, s, tenant, "assigned")
		d := &schema.Device{Tenant: tenant, ID: "assigned", UpdateMode: schema.ModeAssigned, SoftwareID: sw.ID}
		if err := s.CreateDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
		_, err := s.DeleteSoftware(ctx, tenant, sw.ID)
		wantCode(t, err, schema.ECONFLICT)
		if _, err := s.UpdateDevice(ctx, tenant, "assigned", schema.DeviceUpdate{SoftwareID: ptr(int64(0))}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DeleteSoftware(ctx, tenant, sw.ID); err != nil {
			t.Fatalf("delete after unassigning: %v", err)
		}
	})
	t.Run("OpenAction", func(t *testing.T) {
		sw := MustCreateSoftware(t, s, tenant, "open")
		MustCreateDevice(t, s, tenant, "open")
		a := MustCreateAction(t, s, tenant, "open", sw.ID)
		_, err := s.DeleteSoftware(ctx, tenant, sw.ID)
		wantCode(t, err, schema.ECONFLICT)
		// A closed action is history and does not hold the software.
		MustRecordOK(t, s, NewFeedback(a, schema.FeedbackDeployment, schema.ExecClosed, schema.FinishedSuccess))
		if _, err := s.DeleteSoftware(ctx, tenant, sw.ID); err != nil {
			t.Fatalf("delete after the action closed: %v", err)
		}
		if got := mustAction(t, s, a); got.SoftwareID != sw.ID {
			t.Fatalf("closed action lost its software id: %d", got.SoftwareID)
		}
	})
	t.Run("Rollout", func(t *testing.T) {
		sw := MustCreateSoftware(t, s, tenant, "rolled")
		r := &schema.Rollout{Tenant: tenant, Name: "r", SoftwareID: sw.ID, Status: schema.RolloutPaused}
		if err := s.CreateRollout(ctx, r); err != nil {
			t.Fatal(err)
		}
		_, err := s.DeleteSoftware(ctx, tenant, sw.ID)
		wantCode(t, err, schema.ECONFLICT)
		if err := s.DeleteRollout(ctx, tenant, r.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DeleteSoftware(ctx, tenant, sw.ID); err != nil {
			t.Fatalf("delete after the rollout: %v", err)
		}
	})
}
