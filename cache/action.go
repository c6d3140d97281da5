package cache

import (
	"context"

	"github.com/gosling-ota/gosling/schema"
)

// Action implements schema.ActionStore, from Redis when cached.
// ENOTFOUND is not cached.
func (s *Store) Action(ctx context.Context, tenant, deviceID string, id int64) (*schema.Action, error) {
	return read(ctx, s, actionCodec, s.actionKey(tenant, deviceID, id), func(ctx context.Context) (*schema.Action, error) {
		return s.next.Action(ctx, tenant, deviceID, id)
	})
}

// Actions implements schema.ActionStore; it is not cached.
func (s *Store) Actions(ctx context.Context, f schema.ActionFilter) ([]*schema.Action, int, error) {
	return s.next.Actions(ctx, f)
}

// CreateAction implements schema.ActionStore. The device's entry goes too:
// its ActionID changed.
func (s *Store) CreateAction(ctx context.Context, a *schema.Action) error {
	err := s.next.CreateAction(ctx, a)
	if mayHaveChanged(err) {
		keys := []key{s.deviceKey(a.Tenant, a.DeviceID)}
		if a.ID != 0 {
			keys = append(keys, s.actionKey(a.Tenant, a.DeviceID, a.ID))
		}
		s.invalidate(ctx, keys...)
	}
	return err
}

// CancelAction implements schema.ActionStore.
func (s *Store) CancelAction(ctx context.Context, tenant, deviceID string, id int64) (*schema.Action, error) {
	a, err := s.next.CancelAction(ctx, tenant, deviceID, id)
	if mayHaveChanged(err) {
		s.invalidate(ctx, s.actionKey(tenant, deviceID, id), s.deviceKey(tenant, deviceID))
	}
	return a, err
}

// RecordFeedback implements schema.ActionStore. Each stored feedback
// invalidates its action and its device (state transitions change both),
// in one Redis round trip for the batch. If the whole batch failed with an
// error that may hide a commit, every action and device of the batch goes.
func (s *Store) RecordFeedback(ctx context.Context, batch []*schema.Feedback) ([]schema.FeedbackResult, error) {
	res, err := s.next.RecordFeedback(ctx, batch)
	if err != nil && !mayHaveChanged(err) {
		return res, err
	}
	seen := make(map[key]struct{}, 2*len(batch))
	keys := make([]key, 0, 2*len(batch))
	add := func(k key) {
		if _, ok := seen[k]; !ok {
			seen[k] = struct{}{}
			keys = append(keys, k)
		}
	}
	for i, fb := range batch {
		if err == nil && (i >= len(res) || res[i].Err != nil) {
			continue
		}
		add(s.actionKey(fb.Tenant, fb.DeviceID, fb.ActionID))
		add(s.deviceKey(fb.Tenant, fb.DeviceID))
	}
	s.invalidate(ctx, keys...)
	return res, err
}

// Feedback implements schema.ActionStore; it is not cached.
func (s *Store) Feedback(ctx context.Context, tenant, deviceID string, actionID int64, offset, limit int) ([]*schema.Feedback, error) {
	return s.next.Feedback(ctx, tenant, deviceID, actionID, offset, limit)
}
