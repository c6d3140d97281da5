// Package schema is Gosling's domain: the types that describe devices,
// software, actions and rollouts, the error codes shared by every API, the
// rules that decide what a device should run, and the store interfaces that
// persistence packages (schema/sqlite, schema/postgres) implement.
//
// The domain rules the stores apply live here too, so every store applies
// the same ones and keeps only its SQL and transactions: defaults and
// validation of new and changed entities (Device.PrepareCreate,
// DeviceUpdate.Normalize, Rollout.PrepareCreate, Rollout.Normalize,
// Action.PrepareCreate, Software.PrepareCreate, Feedback.Validate), the
// action state machine (Action.ApplyFeedback, NextActionStatus,
// DeviceStatusAfter), the rollout lifecycle (Rollout.CanSetStatus,
// Rollout.CanUpdateStatus) and paging (PageLimit).
//
// Like the root package of WTF Dial, schema imports no storage or transport
// package; everything above the store talks in these types.
package schema
