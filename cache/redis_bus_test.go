package cache_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gosling-ota/gosling/cache"
	"github.com/gosling-ota/gosling/cache/redistest"
)

var channelSeq atomic.Int64

// uniqueChannel keeps tests apart when they share an external Redis.
func uniqueChannel(t *testing.T) string {
	return fmt.Sprintf("gosling-test:%d:%d:invalidations", os.Getpid(), channelSeq.Add(1))
}

// recorder collects what a bus delivers. Its callback never blocks.
type recorder chan cache.Invalidation

func newRecorder(b cache.Bus) recorder {
	r := make(recorder, 1000)
	b.Subscribe(func(inv cache.Invalidation) {
		select {
		case r <- inv:
		default:
			panic("recorder full")
		}
	})
	return r
}

// next waits for the next invalidation; within 0 means it must be there
// already.
func (r recorder) next(t *testing.T, within time.Duration) cache.Invalidation {
	t.Helper()
	if within == 0 {
		select {
		case inv := <-r:
			return inv
		default:
			t.Fatal("no invalidation delivered synchronously")
		}
	}
	select {
	case inv := <-r:
		return inv
	case <-time.After(within):
		t.Fatalf("no invalidation within %v", within)
		return cache.Invalidation{}
	}
}

// want waits for inv, failing on anything else.
func (r recorder) want(t *testing.T, inv cache.Invalidation, within time.Duration) {
	t.Helper()
	if got := r.next(t, within); got != inv {
		t.Fatalf("got %+v, want %+v", got, inv)
	}
}

// quiet fails if anything arrives within d.
func (r recorder) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case inv := <-r:
		t.Fatalf("unexpected invalidation %+v", inv)
	case <-time.After(d):
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// runBus starts b.Run until the test ends.
func runBus(t *testing.T, b *cache.RedisBus) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
}

func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var resync = cache.Invalidation{Kind: cache.KindAll}

func TestRedisBus(t *testing.T) {
	srv := redistest.Start(t)
	ch := uniqueChannel(t)
	b1 := cache.NewRedisBus(srv.Client(0), ch, testLogger(t).With("bus", 1))
	b2 := cache.NewRedisBus(srv.Client(0), ch, testLogger(t).With("bus", 2))
	r1, r2 := newRecorder(b1), newRecorder(b2)
	runBus(t, b1)
	runBus(t, b2)
	// The first subscription is a resync too: nothing guarantees that the
	// process saw what was published before it.
	r1.want(t, resync, 5*time.Second)
	r2.want(t, resync, 5*time.Second)
	if !b1.Connected() || !b2.Connected() {
		t.Fatal("not connected after subscribing")
	}

	ctx := t.Context()
	dev := cache.Invalidation{Kind: cache.KindDevice, Tenant: "acme", Key: "dev:1/ü\x00x"}
	if err := b1.Publish(ctx, dev); err != nil {
		t.Fatal(err)
	}
	// Local delivery is synchronous: it is there before Publish returns.
	r1.want(t, dev, 0)
	r2.want(t, dev, 5*time.Second)

	cat := cache.Invalidation{Kind: cache.KindCatalog, Tenant: "globex"}
	ten := cache.Invalidation{Kind: cache.KindTenant, Tenant: "acme"}
	if err := b2.Publish(ctx, cat); err != nil {
		t.Fatal(err)
	}
	if err := b2.Publish(ctx, ten); err != nil {
		t.Fatal(err)
	}
	r2.want(t, cat, time.Second)
	r2.want(t, ten, time.Second)
	r1.want(t, cat, 5*time.Second)
	r1.want(t, ten, 5*time.Second)
	// Nobody gets their own echo a second time.
	r1.quiet(t, 100*time.Millisecond)
	r2.quiet(t, time.Millisecond)

	st1, st2 := b1.Stats(), b2.Stats()
	if st1.Published != 1 || st1.Received != 2 || st1.Resyncs != 1 || st1.PublishErrors != 0 || !st1.Connected {
		t.Errorf("bus 1 stats %+v", st1)
	}
	if st2.Published != 2 || st2.Received != 1 || st2.Resyncs != 1 {
		t.Errorf("bus 2 stats %+v", st2)
	}
}

// TestRedisBusReconnect kills Redis under two running buses and brings it
// back on the same port: the buses must notice, resubscribe by themselves,
// tell their subscribers to resync, and carry messages again.
func TestRedisBusReconnect(t *testing.T) {
	srv := redistest.StartProcess(t)
	ch := uniqueChannel(t)
	b1 := cache.NewRedisBus(srv.Client(0), ch, testLogger(t).With("bus", 1))
	b2 := cache.NewRedisBus(srv.Client(0), ch, testLogger(t).With("bus", 2))
	r1, r2 := newRecorder(b1), newRecorder(b2)
	runBus(t, b1)
	runBus(t, b2)
	r1.want(t, resync, 5*time.Second)
	r2.want(t, resync, 5*time.Second)

	ctx := t.Context()
	srv.Kill()
	waitFor(t, "buses to notice the outage", 5*time.Second, func() bool { return !b1.Connected() && !b2.Connected() })

	// While Redis is down, Publish still reaches local subscribers and
	// reports the failed PUBLISH.
	down := cache.Invalidation{Kind: cache.KindDevice, Tenant: "acme", Key: "during-outage"}
	if err := b1.Publish(ctx, down); err == nil {
		t.Fatal("Publish with Redis down returned nil")
	}
	r1.want(t, down, 0)
	if st := b1.Stats(); st.PublishErrors != 1 {
		t.Fatalf("stats after failed publish: %+v", st)
	}
	// Let a few reconnect attempts fail.
	time.Sleep(300 * time.Millisecond)

	srv.Restart()
	// b2 missed "during-outage"; the resync covers it.
	r1.want(t, resync, 10*time.Second)
	r2.want(t, resync, 10*time.Second)
	if !b1.Connected() || !b2.Connected() {
		t.Fatal("not connected after resync")
	}
	after := cache.Invalidation{Kind: cache.KindDevice, Tenant: "acme", Key: "after-restart"}
	if err := b1.Publish(ctx, after); err != nil {
		t.Fatal(err)
	}
	r1.want(t, after, 0)
	r2.want(t, after, 5*time.Second)
	if st := b2.Stats(); st.Resyncs != 2 || st.Received != 1 {
		t.Fatalf("bus 2 stats %+v", st)
	}
}

// TestRedisBusStartsWithoutRedis: a frontline may start while Redis is
// down; the bus keeps trying and connects when Redis appears.
func TestRedisBusStartsWithoutRedis(t *testing.T) {
	srv := redistest.StartProcess(t)
	srv.Kill()
	b := cache.NewRedisBus(srv.Client(0), uniqueChannel(t), testLogger(t))
	r := newRecorder(b)
	runBus(t, b)
	time.Sleep(200 * time.Millisecond)
	if b.Connected() {
		t.Fatal("connected without Redis")
	}
	srv.Restart()
	r.want(t, resync, 10*time.Second)
}

func TestRedisBusRunTwice(t *testing.T) {
	srv := redistest.Start(t)
	b := cache.NewRedisBus(srv.Client(0), uniqueChannel(t), nil)
	runBus(t, b)
	waitFor(t, "connected", 5*time.Second, b.Connected)
	r := newRecorder(b)
	if err := b.Run(t.Context()); err == nil {
		t.Fatal("second Run returned nil")
	}
	r.quiet(t, 50*time.Millisecond)
}
