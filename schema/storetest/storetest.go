// Package storetest is the contract test suite of schema.Store: one body of
// tests that every implementation (schema/sqlite, schema/postgres, cache
// decorators) runs through Run, so they all keep the same behaviour and the
// same error codes.
//
// Besides the contracts written on the schema interfaces, the suite pins the
// choices the interfaces leave open (see the sqlite package's doc comments):
//   - timestamps are stored at millisecond precision or better, returned in UTC;
//   - invalid input (unknown update mode, handling type, rollout status,
//     feedback kind, execution or finished value, negative paging) is
//     EINVALID;
//   - feedback on a closed action is EGONE, even when it repeats the last one;
//   - deployment feedback on a canceling action follows the deployment rules;
//   - a canceled action gives the device back the status it had before the
//     action opened;
//   - DeleteSoftware is refused while a device has the software as
//     SoftwareID in any update mode;
//   - Devices, DeviceIDs and UpdateDevices select exactly what
//     schema.Target.Matches selects (Query folds case as strings.ToLower
//     does, non-ASCII included);
//   - device tags are stored normalised and read back as a non-nil slice;
//     a device PollInterval is 0 or 1s..schema.MaxPollInterval;
//   - a rollout is created draft, running or paused, with CurrentWave -1;
//     a zero Target is stored as nil; CurrentWave stays within -1..len(Waves)-1;
//   - UpdateRollout gives every write a later UpdatedAt, even within one
//     millisecond, copies Feed, SoftwareID and CreatedAt back from the
//     store, and refuses (ENOTALLOWED) to change the status of a finished
//     or aborted rollout;
//   - SetRolloutStatus sets running, paused or aborted only (EINVALID
//     otherwise), accepts the current status as a no-op, and bumps
//     UpdatedAt on a change;
//   - RolloutActionCounts is ENOTFOUND for an unknown rollout;
//     AddRolloutEvent too; RolloutEvents of an unknown rollout is empty,
//     and a rollout's events are deleted with it;
//   - CreateAction's Wave must be a wave of its rollout (0 without one);
//   - CancelRolloutActions returns every open action of the rollout
//     (already canceling ones included), and nothing, without error, for
//     an unknown rollout.
package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/gosling-ota/gosling/schema"
)

// Run runs the contract suite. open must return a new, empty store for each
// call; Run closes it when the subtest ends.
func Run(t *testing.T, open func(t *testing.T) schema.Store) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s schema.Store)
	}{
		{"Device/Create", testCreateDevice},
		{"Device/Update", testUpdateDevice},
		{"Device/Delete", testDeleteDevice},
		{"Device/SetAttributes", testSetAttributes},
		{"Device/Touch", testTouchDevices},
		{"Device/List", testDevices},
		{"Device/Tags", testDeviceTags},
		{"Device/TargetMatches", testTargetMatches},
		{"Device/UpdateDevices", testUpdateDevices},
		{"Device/IDs", testDeviceIDs},
		{"Software/Create", testCreateSoftware},
		{"Software/List", testSoftwareList},
		{"Software/Delete", testDeleteSoftware},
		{"Action/Create", testCreateAction},
		{"Action/Get", testAction},
		{"Action/List", testActions},
		{"Action/Cancel", testCancelAction},
		{"Feedback/StateMachine", testFeedbackStateMachine},
		{"Feedback/Errors", testFeedbackErrors},
		{"Feedback/Batch", testFeedbackBatch},
		{"Feedback/StatusChanged", testFeedbackStatusChanged},
		{"Feedback/Touch", testFeedbackTouch},
		{"Feedback/List", testFeedbackList},
		{"Feedback/SkipSoftware", testSkipSoftware},
		{"Feedback/SWVersion", testSWVersion},
		{"Rollout", testRollouts},
		{"Rollout/Full", testRolloutFull},
		{"Rollout/Update", testUpdateRollout},
		{"Rollout/ConcurrentUpdates", testRolloutConcurrentUpdates},
		{"Rollout/Lifecycle", testRolloutLifecycle},
		{"Rollout/ActionCounts", testRolloutActionCounts},
		{"Rollout/ActionCountsConcurrent", testRolloutCountsConcurrent},
		{"Rollout/MaxConcurrent", testMaxConcurrent},
		{"Rollout/ActionNeedsOfferingRollout", testActionNeedsOfferingRollout},
		{"Rollout/CancelActions", testCancelRolloutActions},
		{"Rollout/EachDevice", testEachRolloutDevice},
		{"Rollout/Events", testRolloutEvents},
		{"Tenant", testTenant},
		{"Tenant/PollSettings", testPollSettings},
		{"Concurrency", testConcurrency},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

// Tenants used by the suite.
const (
	tenant = "acme"
	other  = "globex"
)

// MustCreateDevice creates a device in ModeRollout.
func MustCreateDevice(tb testing.TB, s schema.DeviceStore, tenant, id string) *schema.Device {
	tb.Helper()
	d := &schema.Device{Tenant: tenant, ID: id}
	if err := s.CreateDevice(context.Background(), d); err != nil {
		tb.Fatalf("create device %s/%s: %v", tenant, id, err)
	}
	return d
}

// MustCreateSoftware creates a software with the given version and hardware
// rules; its SHA256 is derived from tenant and version.
func MustCreateSoftware(tb testing.TB, s schema.SoftwareStore, tenant, version string, hw ...schema.Hardware) *schema.Software {
	tb.Helper()
	sw := &schema.Software{
		Tenant: tenant, Name: "image", Version: version, Hardware: hw,
		Filename: "image-" + version + ".swu", Size: 1234,
		SHA256: sha(tenant + "/" + version),
	}
	if err := s.CreateSoftware(context.Background(), sw); err != nil {
		tb.Fatalf("create software %s/%s: %v", tenant, version, err)
	}
	return sw
}

// MustCreateAction opens an action offering software swID to a device.
func MustCreateAction(tb testing.TB, s schema.ActionStore, tenant, deviceID string, swID int64) *schema.Action {
	tb.Helper()
	a := &schema.Action{Tenant: tenant, DeviceID: deviceID, SoftwareID: swID}
	if err := s.CreateAction(context.Background(), a); err != nil {
		tb.Fatalf("create action for %s/%s: %v", tenant, deviceID, err)
	}
	return a
}

// MustRecord records a batch and fails unless the transaction succeeded.
func MustRecord(tb testing.TB, s schema.ActionStore, batch ...*schema.Feedback) []schema.FeedbackResult {
	tb.Helper()
	res, err := s.RecordFeedback(context.Background(), batch)
	if err != nil {
		tb.Fatalf("record feedback: %v", err)
	}
	if len(res) != len(batch) {
		tb.Fatalf("record feedback: %d results for %d feedback", len(res), len(batch))
	}
	return res
}

// MustRecordOK records one feedback and fails unless it was accepted.
func MustRecordOK(tb testing.TB, s schema.ActionStore, fb *schema.Feedback) *schema.Action {
	tb.Helper()
	res := MustRecord(tb, s, fb)
	if res[0].Err != nil {
		tb.Fatalf("feedback %s %s/%s on action %d: %v", fb.Kind, fb.Execution, fb.Finished, fb.ActionID, res[0].Err)
	}
	return res[0].Action
}

// NewFeedback builds a feedback on an action.
func NewFeedback(a *schema.Action, kind, execution, finished string) *schema.Feedback {
	return &schema.Feedback{
		Tenant: a.Tenant, DeviceID: a.DeviceID, ActionID: a.ID,
		Kind: kind, Execution: execution, Finished: finished,
	}
}

func sha(s string) string {
	const hex = "0123456789abcdef"
	b := make([]byte, 64)
	h := uint64(14695981039346656037)
	for i := range b {
		if i < len(s) {
			h ^= uint64(s[i])
		}
		h *= 1099511628211
		b[i] = hex[h>>60]
	}
	return string(b)
}

// wantCode fails unless err carries the schema error code (or is nil for "").
func wantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if got := schema.ErrorCode(err); got != code {
		tb.Fatalf("error = %v (code %q), want code %q", err, got, code)
	}
	if code != "" && code != schema.EINTERNAL && schema.ErrorMessage(err) == "" {
		tb.Fatalf("error %v has no message", err)
	}
}

func mustDevice(tb testing.TB, s schema.DeviceStore, tenant, id string) *schema.Device {
	tb.Helper()
	d, err := s.Device(context.Background(), tenant, id)
	if err != nil {
		tb.Fatalf("device %s/%s: %v", tenant, id, err)
	}
	return d
}

func mustAction(tb testing.TB, s schema.ActionStore, a *schema.Action) *schema.Action {
	tb.Helper()
	got, err := s.Action(context.Background(), a.Tenant, a.DeviceID, a.ID)
	if err != nil {
		tb.Fatalf("action %d: %v", a.ID, err)
	}
	return got
}

// wantTime fails unless got is in UTC and within the store's precision of want.
func wantTime(tb testing.TB, what string, got, want time.Time) {
	tb.Helper()
	if got.IsZero() != want.IsZero() {
		tb.Fatalf("%s = %v, want %v", what, got, want)
	}
	if got.IsZero() {
		return
	}
	if got.Location() != time.UTC {
		tb.Fatalf("%s = %v, not in UTC", what, got)
	}
	if d := got.Sub(want); d < -time.Millisecond || d > time.Millisecond {
		tb.Fatalf("%s = %v, want %v", what, got, want)
	}
}

// wantNow fails unless got is in UTC and was taken between before and now,
// at the store's precision (milliseconds).
func wantNow(tb testing.TB, what string, got, before time.Time) {
	tb.Helper()
	if got.Location() != time.UTC {
		tb.Fatalf("%s = %v, not in UTC", what, got)
	}
	if after := time.Now(); got.Before(before.Truncate(time.Millisecond)) || got.After(after) {
		tb.Fatalf("%s = %v, want between %v and %v", what, got, before, after)
	}
}

func ptr[T any](v T) *T { return &v }
