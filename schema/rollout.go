package schema

import (
	"context"
	"time"
)

// Rollout states.
const (
	RolloutRunning = "running"
	RolloutPaused  = "paused"
)

// Rollout offers one software to the devices of a feed that are in
// ModeRollout. The newest running rollout of a feed wins.
type Rollout struct {
	ID         int64     `json:"id"`
	Tenant     string    `json:"tenant"`
	Name       string    `json:"name"`
	Feed       string    `json:"feed"`
	SoftwareID int64     `json:"software_id"`
	Status     string    `json:"status"`
	CreatedAt  time.Time `json:"created_at"`
}

// RolloutStore keeps rollouts.
type RolloutStore interface {
	// Rollout returns one rollout. Returns ENOTFOUND.
	Rollout(ctx context.Context, tenant string, id int64) (*Rollout, error)
	// Rollouts returns the tenant's rollouts, newest first.
	Rollouts(ctx context.Context, tenant string) ([]*Rollout, error)
	// CreateRollout inserts r (status running unless set) and sets ID and
	// CreatedAt. Returns ENOTFOUND if its software does not exist.
	CreateRollout(ctx context.Context, r *Rollout) error
	// SetRolloutStatus pauses or resumes a rollout. Returns ENOTFOUND.
	SetRolloutStatus(ctx context.Context, tenant string, id int64, status string) (*Rollout, error)
	// DeleteRollout removes a rollout; its actions keep their history.
	// Returns ENOTFOUND.
	DeleteRollout(ctx context.Context, tenant string, id int64) error
}
