package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/gosling-ota/gosling/schema"
)

func testCreateAction(t *testing.T, s schema.Store) {
	ctx := t.Context()
	sw := MustCreateSoftware(t, s, tenant, "1.0")
	otherSW := MustCreateSoftware(t, s, other, "1.0")
	MustCreateDevice(t, s, tenant, "dev-1")
	before := time.Now()

	a := &schema.Action{Tenant: tenant, DeviceID: "dev-1", SoftwareID: sw.ID}
	if err := s.CreateAction(ctx, a); err != nil {
		t.Fatal(err)
	}
	if a.ID == 0 || a.Status != schema.ActionPending || a.Download != "forced" || a.Update != "forced" || !a.ClosedAt.IsZero() {
		t.Fatalf("defaults not filled: %+v", a)
	}
	wantTime(t, "CreatedAt", a.CreatedAt, before)
	wantTime(t, "UpdatedAt", a.UpdatedAt, a.CreatedAt)
	if got := mustAction(t, s, a); !reflect.DeepEqual(got, a) {
		t.Fatalf("read back\n got %+v\nwant %+v", got, a)
	}
	d := mustDevice(t, s, tenant, "dev-1")
	if d.ActionID != a.ID || d.Status != schema.DeviceUpdating {
		t.Fatalf("device ActionID %d status %q, want %d updating", d.ActionID, d.Status, a.ID)
	}

	t.Run("Attempt", func(t *testing.T) {
		MustCreateDevice(t, s, tenant, "dev-attempt")
		a := &schema.Action{Tenant: tenant, DeviceID: "dev-attempt", SoftwareID: sw.ID, Download: "attempt", Update: "skip"}
		if err := s.CreateAction(ctx, a); err != nil {
			t.Fatal(err)
		}
		if got := mustAction(t, s, a); got.Download != "attempt" || got.Update != "skip" {
			t.Fatalf("handling %q/%q", got.Download, got.Update)
		}
	})
	MustCreateDevice(t, s, tenant, "dev-2")
	for _, tc := range []struct {
		name string
		a    schema.Action
		code string
	}{
		{"OpenAction", schema.Action{Tenant: tenant, DeviceID: "dev-1", SoftwareID: sw.ID}, schema.ECONFLICT},
		{"NoDevice", schema.Action{Tenant: tenant, DeviceID: "nope", SoftwareID: sw.ID}, schema.ENOTFOUND},
		{"NoSoftware", schema.Action{Tenant: tenant, DeviceID: "dev-2", SoftwareID: sw.ID + 1000}, schema.ENOTFOUND},
		{"OtherTenantSoftware", schema.Action{Tenant: tenant, DeviceID: "dev-2", SoftwareID: otherSW.ID}, schema.ENOTFOUND},
		{"NoRollout", schema.Action{Tenant: tenant, DeviceID: "dev-2", SoftwareID: sw.ID, RolloutID: 777}, schema.ENOTFOUND},
		{"BadHandling", schema.Action{Tenant: tenant, DeviceID: "dev-2", SoftwareID: sw.ID, Download: "now"}, schema.EINVALID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantCode(t, s.CreateAction(ctx, &tc.a), tc.code)
		})
	}
	if d := mustDevice(t, s, tenant, "dev-2"); d.ActionID != 0 || d.Status != schema.DeviceRegistered {
		t.Fatalf("failed creates changed the device: %+v", d)
	}
	t.Run("AfterClose", func(t *testing.T) {
		MustRecordOK(t, s, NewFeedback(a, schema.FeedbackDeployment, schema.ExecClosed, schema.FinishedSuccess))
		b := MustCreateAction(t, s, tenant, "dev-1", sw.ID)
		if b.ID <= a.ID {
			t.Fatalf("new action id %d not after %d", b.ID, a.ID)
		}
		d := mustDevice(t, s, tenant, "dev-1")
		if d.ActionID != b.ID || d.LastActionID != a.ID {
			t.Fatalf("ActionID %d LastActionID %d, want %d %d", d.ActionID, d.LastActionID, b.ID, a.ID)
		}
	})
}

func testAction(t *testing.T, s schema.Store) {
	ctx := t.Context()
	sw := MustCreateSoftware(t, s, tenant, "1.0")
	MustCreateDevice(t, s, tenant, "dev-1")
	MustCreateDevice(t, s, tenant, "dev-2")
	MustCreateDevice(t, s, other, "dev-1")
	a := MustCreateAction(t, s, tenant, "dev-1", sw.ID)
	for _, tc := range []struct {
		name, tenant, device string
		id                   int64
	}{
		{"OtherDevice", tenant, "dev-2", a.ID},
		{"OtherTenant", other, "dev-1", a.ID},
		{"Missing", tenant, "dev-1", a.ID + 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Action(ctx, tc.tenant, tc.device, tc.id)
			wantCode(t, err, schema.ENOTFOUND)
		})
	}
}

func testActions(t *testing.T, s schema.Store) {
	ctx := t.Context()
	sw := MustCreateSoftware(t, s, tenant, "1.0")
	r := &schema.Rollout{Tenant: tenant, Name: "r1", SoftwareID: sw.ID}
	if err := s.CreateRollout(ctx, r); err != nil {
		t.Fatal(err)
	}
	MustCreateDevice(t, s, tenant, "dev-1")
	MustCreateDevice(t, s, tenant, "dev-2")
	MustCreateDevice(t, s, other, "dev-1")
	otherSW := MustCreateSoftware(t, s, other, "1.0")
	MustCreateAction(t, s, other, "dev-1", otherSW.ID)

	var dev1 []int64 // newest first
	for i := range 5 {
		a := &schema.Action{Tenant: tenant, DeviceID: "dev-1", SoftwareID: sw.ID}
		if i%2 == 0 {
			a.RolloutID = r.ID
		}
		if err := s.CreateAction(ctx, a); err != nil {
			t.Fatal(err)
		}
		MustRecordOK(t, s, NewFeedback(a, schema.FeedbackDeployment, schema.ExecClosed, schema.FinishedFailure))
		dev1 = append([]int64{a.ID}, dev1...)
	}
	a2 := MustCreateAction(t, s, tenant, "dev-2", sw.ID)

	for _, tc := range []struct {
		name      string
		f         schema.ActionFilter
		want      []int64
		wantTotal int
	}{
		{"Device", schema.ActionFilter{Tenant: tenant, DeviceID: "dev-1"}, dev1, 5},
		{"Page", schema.ActionFilter{Tenant: tenant, DeviceID: "dev-1", Offset: 1, Limit: 2}, dev1[1:3], 5},
		{"PastEnd", schema.ActionFilter{Tenant: tenant, DeviceID: "dev-1", Offset: 9}, nil, 5},
		{"Tenant", schema.ActionFilter{Tenant: tenant, Limit: 2}, []int64{a2.ID, dev1[0]}, 6},
		{"Rollout", schema.ActionFilter{Tenant: tenant, RolloutID: r.ID}, []int64{dev1[0], dev1[2], dev1[4]}, 3},
		{"Status", schema.ActionFilter{Tenant: tenant, Status: schema.ActionFailed, Limit: 2}, dev1[:2], 5},
		{"OpenStatus", schema.ActionFilter{Tenant: tenant, Status: schema.ActionPending}, []int64{a2.ID}, 1},
		{"NoneInStatus", schema.ActionFilter{Tenant: tenant, Status: schema.ActionCanceled}, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			list, total, err := s.Actions(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, a := range list {
				got = append(got, a.ID)
			}
			if total != tc.wantTotal || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ids %v total %d, want %v total %d", got, total, tc.want, tc.wantTotal)
			}
		})
	}
	t.Run("NegativeLimit", func(t *testing.T) {
		_, _, err := s.Actions(ctx, schema.ActionFilter{Tenant: tenant, Limit: -1})
		wantCode(t, err, schema.EINVALID)
	})
}

func testCancelAction(t *testing.T, s schema.Store) {
	ctx := t.Context()
	sw := MustCreateSoftware(t, s, tenant, "1.0")
	for i, tc := range []struct {
		name string
		exec string
		fin  string
		want schema.ActionStatus
		code string
	}{
		{name: "Pending", want: schema.ActionCanceling},
		{name: "Running", exec: schema.ExecProceeding, fin: schema.FinishedNone, want: schema.ActionCanceling},
		{name: "Succeeded", exec: schema.ExecClosed, fin: schema.FinishedSuccess, code: schema.ENOTALLOWED},
		{name: "Failed", exec: schema.ExecClosed, fin: schema.FinishedFailure, code: schema.ENOTALLOWED},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("cancel-%d", i)
			MustCreateDevice(t, s, tenant, id)
			a := MustCreateAction(t, s, tenant, id, sw.ID)
			if tc.exec != "" {
				MustRecordOK(t, s, NewFeedback(a, schema.FeedbackDeployment, tc.exec, tc.fin))
			}
			got, err := s.CancelAction(ctx, tenant, id, a.ID)
			wantCode(t, err, tc.code)
			if err != nil {
				return
			}
			if got.Status != tc.want || !got.Status.Open() {
				t.Fatalf("status %q, want %q", got.Status, tc.want)
			}
			if read := mustAction(t, s, a); !reflect.DeepEqual(read, got) {
				t.Fatalf("read back\n got %+v\nwant %+v", read, got)
			}
			if d := mustDevice(t, s, tenant, id); d.ActionID != a.ID || d.Status != schema.DeviceUpdating {
				t.Fatalf("device %+v", d)
			}
			// Canceling again returns the action as it is.
			again, err := s.CancelAction(ctx, tenant, id, a.ID)
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Fatalf("cancel again: %+v, %v", again, err)
			}
		})
	}
	t.Run("NotFound", func(t *testing.T) {
		MustCreateDevice(t, s, tenant, "cancel-nf")
		MustCreateDevice(t, s, tenant, "cancel-nf2")
		a := MustCreateAction(t, s, tenant, "cancel-nf", sw.ID)
		_, err := s.CancelAction(ctx, tenant, "cancel-nf2", a.ID)
		wantCode(t, err, schema.ENOTFOUND)
		_, err = s.CancelAction(ctx, tenant, "cancel-nf", a.ID+1000)
		wantCode(t, err, schema.ENOTFOUND)
		if got := mustAction(t, s, a); got.Status != schema.ActionPending {
			t.Fatalf("status %q after a failed cancel", got.Status)
		}
	})
}

// testEachRolloutDevice: every device with an action of the rollout, once
// (however many actions it has), and no other device.
func testEachRolloutDevice(t *testing.T, s schema.Store) {
	ctx := t.Context()
	sw := MustCreateSoftware(t, s, tenant, "1.0")
	r1 := &schema.Rollout{Tenant: tenant, Name: "r1", SoftwareID: sw.ID}
	r2 := &schema.Rollout{Tenant: tenant, Name: "r2", SoftwareID: sw.ID}
	for _, r := range []*schema.Rollout{r1, r2} {
		if err := s.CreateRollout(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"a", "b", "c", "d"} {
		MustCreateDevice(t, s, tenant, id)
	}
	act := func(id string, rollout int64) {
		t.Helper()
		a := &schema.Action{Tenant: tenant, DeviceID: id, SoftwareID: sw.ID, RolloutID: rollout}
		if err := s.CreateAction(ctx, a); err != nil {
			t.Fatal(err)
		}
		MustRecordOK(t, s, NewFeedback(a, schema.FeedbackDeployment, schema.ExecClosed, schema.FinishedFailure))
	}
	act("a", r1.ID)
	act("a", r1.ID) // twice: listed once
	act("b", r1.ID)
	act("c", r2.ID) // another rollout
	act("d", 0)     // no rollout
	var got []string
	if err := s.EachRolloutDevice(ctx, tenant, r1.ID, func(id string) error { got = append(got, id); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("devices of rollout %d: %v, want [a b]", r1.ID, got)
	}
	stop := errors.New("enough")
	if err := s.EachRolloutDevice(ctx, tenant, r1.ID, func(string) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("fn's error: got %v", err)
	}
}
