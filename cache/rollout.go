package cache

import (
	"context"

	"github.com/gosling-ota/gosling/schema"
)

// Rollout implements schema.RolloutStore; it is not cached (frontlines
// read the tenant's list).
func (s *Store) Rollout(ctx context.Context, tenant string, id int64) (*schema.Rollout, error) {
	return s.next.Rollout(ctx, tenant, id)
}

// Rollouts implements schema.RolloutStore, from Redis when cached.
func (s *Store) Rollouts(ctx context.Context, tenant string) ([]*schema.Rollout, error) {
	return read(ctx, s, rolloutsCodec, s.rolloutsKey(tenant), func(ctx context.Context) ([]*schema.Rollout, error) {
		return s.next.Rollouts(ctx, tenant)
	})
}

// CreateRollout implements schema.RolloutStore.
func (s *Store) CreateRollout(ctx context.Context, r *schema.Rollout) error {
	err := s.next.CreateRollout(ctx, r)
	if mayHaveChanged(err) {
		s.invalidate(ctx, s.rolloutsKey(r.Tenant))
	}
	return err
}

// UpdateRollout implements schema.RolloutStore. ECONFLICT (another writer
// got there first) changed nothing and invalidates nothing.
func (s *Store) UpdateRollout(ctx context.Context, r *schema.Rollout) error {
	err := s.next.UpdateRollout(ctx, r)
	if mayHaveChanged(err) {
		s.invalidate(ctx, s.rolloutsKey(r.Tenant))
	}
	return err
}

// SetRolloutStatus implements schema.RolloutStore.
func (s *Store) SetRolloutStatus(ctx context.Context, tenant string, id int64, status string) (*schema.Rollout, error) {
	r, err := s.next.SetRolloutStatus(ctx, tenant, id, status)
	if mayHaveChanged(err) {
		s.invalidate(ctx, s.rolloutsKey(tenant))
	}
	return r, err
}

// DeleteRollout implements schema.RolloutStore.
func (s *Store) DeleteRollout(ctx context.Context, tenant string, id int64) error {
	err := s.next.DeleteRollout(ctx, tenant, id)
	if mayHaveChanged(err) {
		s.invalidate(ctx, s.rolloutsKey(tenant))
	}
	return err
}

// RolloutActionCounts implements schema.RolloutStore; it is not cached
// (the engine reads it to decide, and must see the store's counts).
func (s *Store) RolloutActionCounts(ctx context.Context, tenant string, id int64) (schema.ActionCounts, error) {
	return s.next.RolloutActionCounts(ctx, tenant, id)
}

// AddRolloutEvent implements schema.RolloutStore. Events are not cached,
// so there is nothing to invalidate.
func (s *Store) AddRolloutEvent(ctx context.Context, tenant string, e *schema.RolloutEvent) error {
	return s.next.AddRolloutEvent(ctx, tenant, e)
}

// RolloutEvents implements schema.RolloutStore; it is not cached.
func (s *Store) RolloutEvents(ctx context.Context, tenant string, rolloutID, after int64, limit int) ([]*schema.RolloutEvent, error) {
	return s.next.RolloutEvents(ctx, tenant, rolloutID, after, limit)
}
