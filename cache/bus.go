package cache

import (
	"context"
	"sync"
)

// Kind says which cached part an invalidation concerns.
type Kind uint8

// Kinds of invalidation.
const (
	// KindDevice: one device's record (Key = device id) changed: attributes,
	// mode, feed, token, actions.
	KindDevice Kind = iota + 1
	// KindCatalog: the tenant's software or rollouts changed (Key unused).
	KindCatalog
	// KindTenant: the tenant's settings changed, e.g. its GatewayToken.
	KindTenant
	// KindAll: anything may have changed (Tenant and Key unused). A bus
	// sends it to its own subscribers when it may have missed messages,
	// e.g. after reconnecting to Redis, so caches start over.
	KindAll
	// KindFeedback: devices of the tenant reported feedback that changes no
	// cached answer (progress, log lines). Key is the device id, or "" for
	// several devices. Caches ignore it; live-log followers read on.
	KindFeedback
)

// Invalidation announces that a cached part is stale.
type Invalidation struct {
	Kind   Kind
	Tenant string
	Key    string
}

// Bus carries invalidations from writers to every cache.
type Bus interface {
	// Publish announces inv to every subscriber, including the publisher's own.
	Publish(ctx context.Context, inv Invalidation) error
	// Subscribe calls fn for every invalidation published after it returns,
	// until cancel is called. fn must not block.
	Subscribe(fn func(Invalidation)) (cancel func())
}

// LocalBus is the in-process Bus of the embedded default: Publish calls every
// subscriber synchronously, so a write is invisible to no cache once its
// Publish has returned.
type LocalBus struct {
	mu   sync.RWMutex
	next int
	subs map[int]func(Invalidation)
}

var _ Bus = (*LocalBus)(nil)

// NewLocalBus returns an empty in-process bus.
func NewLocalBus() *LocalBus { return &LocalBus{subs: make(map[int]func(Invalidation))} }

// Publish implements Bus.
func (b *LocalBus) Publish(_ context.Context, inv Invalidation) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, fn := range b.subs {
		fn(inv)
	}
	return nil
}

// Subscribe implements Bus.
func (b *LocalBus) Subscribe(fn func(Invalidation)) (cancel func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	id := b.next
	b.next++
	b.subs[id] = fn
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		delete(b.subs, id)
	}
}
