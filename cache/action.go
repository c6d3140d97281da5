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

// EachRolloutDevice implements schema.ActionStore; it is not cached.
func (s *Store) EachRolloutDevice(ctx context.Context, tenant string, rolloutID int64, fn func(deviceID string) error) error {
	return s.next.EachRolloutDevice(ctx, tenant, rolloutID, fn)
}

// Actions implements schema.ActionStore; it is not cached.
func (s *Store) Actions(ctx context.Context, f schema.ActionFilter) ([]*schema.Action, int, error) {
	return s.next.Actions(ctx, f)
}

// CreateAction implements schema.ActionStore. The device's entry goes too:
// its ActionID changed. EUNAVAILABLE invalidates nothing here: the stores
// answer it when the rollout is at MaxConcurrent, before writing, and
// frontlines meet it on polls of every waiting device.
func (s *Store) CreateAction(ctx context.Context, a *schema.Action) error {
	err := s.next.CreateAction(ctx, a)
	if mayHaveChanged(err) && schema.ErrorCode(err) != schema.EUNAVAILABLE {
		keys := []key{s.deviceKey(a.Tenant, a.DeviceID)}
		if a.ID != 0 {
			keys = append(keys, s.actionKey(a.Tenant, a.DeviceID, a.ID))
		}
		s.invalidate(ctx, keys...)
	}
	return err
}

// CancelRolloutActions implements schema.ActionStore: every returned action
// and its device go. On an error that may hide a commit the actions are
// unknown; the rollout's open actions are listed again and invalidated
// (best effort; what the listing misses is bounded by the TTL).
func (s *Store) CancelRolloutActions(ctx context.Context, tenant string, rolloutID int64) ([]*schema.Action, error) {
	list, err := s.next.CancelRolloutActions(ctx, tenant, rolloutID)
	if err != nil && !mayHaveChanged(err) {
		return list, err
	}
	keys := make([]key, 0, 2*len(list))
	add := func(as []*schema.Action) {
		for _, a := range as {
			keys = append(keys, s.actionKey(a.Tenant, a.DeviceID, a.ID), s.deviceKey(a.Tenant, a.DeviceID))
		}
	}
	add(list)
	if err != nil {
		for off := 0; ; {
			page, total, lerr := s.next.Actions(ctx, schema.ActionFilter{Tenant: tenant, RolloutID: rolloutID, Offset: off, Limit: 1000})
			if lerr != nil {
				s.logger.Warn("list actions of canceled rollout", "tenant", tenant, "rollout", rolloutID, "err", lerr)
				break
			}
			var open []*schema.Action
			for _, a := range page {
				if a.Status.Open() {
					open = append(open, a)
				}
			}
			add(open)
			off += len(page)
			if len(page) == 0 || off >= total {
				break
			}
		}
	}
	s.invalidate(ctx, keys...)
	return list, err
}

// CancelAction implements schema.ActionStore.
func (s *Store) CancelAction(ctx context.Context, tenant, deviceID string, id int64) (*schema.Action, error) {
	a, err := s.next.CancelAction(ctx, tenant, deviceID, id)
	if mayHaveChanged(err) {
		s.invalidate(ctx, s.actionKey(tenant, deviceID, id), s.deviceKey(tenant, deviceID))
	}
	return a, err
}

// RecordFeedback implements schema.ActionStore. Feedback that moved its
// action's status invalidates the action and its device, in one Redis
// round trip for the batch; progress-only feedback, most of what a fleet
// sends, invalidates nothing unless StoreOptions.ExactProgress is set (a
// batch of it costs no Redis round trip at all). If the whole batch failed
// with an error that may hide a commit, every action and device of the
// batch goes.
func (s *Store) RecordFeedback(ctx context.Context, batch []*schema.Feedback) ([]schema.FeedbackResult, error) {
	res, err := s.next.RecordFeedback(ctx, batch)
	if err != nil && !mayHaveChanged(err) {
		return res, err
	}
	seen := make(map[key]struct{})
	var keys []key
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
		moved := err != nil || res[i].StatusChanged
		if moved || s.opts.ExactProgress {
			add(s.actionKey(fb.Tenant, fb.DeviceID, fb.ActionID))
		}
		if moved {
			add(s.deviceKey(fb.Tenant, fb.DeviceID))
		}
	}
	s.invalidate(ctx, keys...)
	return res, err
}

// Feedback implements schema.ActionStore; it is not cached.
func (s *Store) Feedback(ctx context.Context, tenant, deviceID string, actionID int64, offset, limit int) ([]*schema.Feedback, error) {
	return s.next.Feedback(ctx, tenant, deviceID, actionID, offset, limit)
}
