package ddi

import (
	"sync"
	"time"

	"github.com/gosling-ota/gosling/cache"
	"github.com/gosling-ota/gosling/schema"
)

// Feedback group commit. Devices post feedback in bursts (a rollout wave,
// SWUpdate's log flushes); committing each on its own would cost one
// transaction (one fsync on SQLite) per request. The batcher collects what
// arrives within batchWindow, up to batchMax items, stores it with one
// RecordFeedback call and only then answers every waiting request: a 200
// always means "stored".
//
// committers batches are collected and committed at once. With one, a
// batch's round trips to the database are dead time for every device that
// reports meanwhile, and throughput is batchMax per commit latency however
// idle the machine is; with two, one batch fills while the other commits.
// A device reports one feedback at a time (it waits for the answer), so
// its reports are never in two batches at once; two frontlines' batches
// already meet in the store, which locks actions in id order.
const (
	batchWindow = 2 * time.Millisecond
	batchMax    = 256
	committers  = 2
	// queueCap bounds feedback waiting for a batch. Beyond it requests
	// wait up to enqueueWait for room, then get 429.
	queueCap    = 4096
	enqueueWait = time.Second
	// resultWait bounds how long a request waits for its batch; a
	// timed-out request gets 429 and the device retries (a duplicate is
	// harmless).
	resultWait = storeTimeout + 2*time.Second
)

type fbRequest struct {
	fb  *schema.Feedback
	res chan schema.FeedbackResult // buffered (1): the batcher never blocks
}

type batcher struct {
	s     *Server
	queue chan *fbRequest
	quit  chan struct{}
	done  sync.WaitGroup
}

func newBatcher(s *Server) *batcher {
	return &batcher{
		s:     s,
		queue: make(chan *fbRequest, queueCap),
		quit:  make(chan struct{}),
	}
}

// start runs the committers.
func (b *batcher) start() {
	for range committers {
		b.done.Go(b.run)
	}
}

// The ways a feedback can fail to be stored now; all are answered with 429
// (the device retries), and told apart only by the metrics.
var (
	errQueueFull   = schema.Errorf(schema.EUNAVAILABLE, "feedback could not be stored now, retry later")
	errStoreFailed = schema.Errorf(schema.EUNAVAILABLE, "feedback could not be stored now, retry later")
	errTimeout     = schema.Errorf(schema.EUNAVAILABLE, "feedback could not be stored now, retry later")
)

// submit queues fb and waits until its batch is committed. The error is
// the feedback's own result (ENOTFOUND, EGONE, ENOTALLOWED) or
// EUNAVAILABLE when the queue is full, the store fails or the wait is too
// long; never is feedback acknowledged before it is stored.
func (b *batcher) submit(fb *schema.Feedback) (*schema.Action, error) {
	r := &fbRequest{fb: fb, res: make(chan schema.FeedbackResult, 1)}
	select {
	case b.queue <- r:
	default:
		t := time.NewTimer(enqueueWait)
		defer t.Stop()
		select {
		case b.queue <- r:
		case <-t.C:
			return nil, errQueueFull
		case <-b.quit:
			return nil, errQueueFull
		}
	}
	t := time.NewTimer(resultWait)
	defer t.Stop()
	select {
	case res := <-r.res:
		return res.Action, res.Err
	case <-t.C:
		return nil, errTimeout
	}
}

// run is one committer: it collects a batch, commits it, answers, and
// starts over until stop.
func (b *batcher) run() {
	batch := make([]*fbRequest, 0, batchMax)
	window := time.NewTimer(time.Hour)
	window.Stop()
	for {
		batch = batch[:0]
		select {
		case r := <-b.queue:
			batch = append(batch, r)
		case <-b.quit:
			b.drain(batch)
			return
		}
		window.Reset(batchWindow)
	collect:
		for len(batch) < batchMax {
			select {
			case r := <-b.queue:
				batch = append(batch, r)
			case <-window.C:
				break collect
			}
		}
		window.Stop()
		b.commit(batch)
	}
}

// drain commits what is still queued at shutdown.
func (b *batcher) drain(batch []*fbRequest) {
	for {
		select {
		case r := <-b.queue:
			batch = append(batch, r)
			if len(batch) == batchMax {
				b.commit(batch)
				batch = batch[:0]
			}
		default:
			if len(batch) > 0 {
				b.commit(batch)
			}
			return
		}
	}
}

// stop commits queued feedback and ends the batcher. Requests still
// trying to enqueue get 429.
func (b *batcher) stop() {
	close(b.quit)
	b.done.Wait()
}

// commit stores one batch, announces the changed devices, then answers.
// Invalidations go out before the answers so a device's next poll never
// sees its state from before its own feedback.
func (b *batcher) commit(batch []*fbRequest) {
	fbs := make([]*schema.Feedback, len(batch))
	for i, r := range batch {
		fbs[i] = r.fb
	}
	ctx, cancel := b.s.storeCtx()
	start := time.Now()
	results, err := b.s.store.RecordFeedback(ctx, fbs)
	cancel()
	b.s.metrics.fbFlush.Observe(time.Since(start).Seconds())
	if err == nil && len(results) != len(batch) {
		b.s.logger.Error("record feedback: result count mismatch", "want", len(batch), "got", len(results))
		err = errStoreFailed
	}
	if err != nil {
		b.s.logger.Warn("record feedback batch", "size", len(batch), "err", err)
		for _, r := range batch {
			r.res <- schema.FeedbackResult{Err: errStoreFailed}
		}
		return
	}
	b.s.metrics.fbBatch.Observe(float64(len(batch)))
	b.s.logger.Debug("feedback batch stored", "size", len(batch), "elapsed", time.Since(start))
	// Only feedback that moved an action's status changes a poll answer;
	// those devices are invalidated everywhere. Progress reports, most of
	// the traffic, change nothing cached: one KindFeedback per tenant and
	// batch wakes live-log followers instead of one invalidation (and one
	// reload from the store) per device.
	type dev struct{ tenant, id string }
	published := make(map[dev]bool, len(batch))
	logged := make(map[string]bool, 1)
	for i, r := range batch {
		if results[i].Err != nil {
			continue
		}
		if !results[i].StatusChanged {
			logged[r.fb.Tenant] = true
			continue
		}
		d := dev{r.fb.Tenant, r.fb.DeviceID}
		if !published[d] {
			published[d] = true
			b.s.publishDevice(d.tenant, d.id)
		}
	}
	for tenant := range logged {
		b.s.publishFeedback(tenant)
	}
	for i, r := range batch {
		r.res <- results[i]
	}
}

// publishFeedback wakes live-log followers of the tenant's devices after
// feedback that changed no cached answer. Losing it costs a follower a
// few seconds (it re-reads periodically), so errors are only logged.
func (s *Server) publishFeedback(tenant string) {
	ctx, cancel := s.storeCtx()
	defer cancel()
	if err := s.bus.Publish(ctx, cache.Invalidation{Kind: cache.KindFeedback, Tenant: tenant}); err != nil {
		s.logger.Debug("publish feedback notice", "tenant", tenant, "err", err)
	}
}
