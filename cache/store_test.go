package cache_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gosling-ota/gosling/cache"
	"github.com/gosling-ota/gosling/cache/redistest"
	"github.com/gosling-ota/gosling/schema"
	"github.com/gosling-ota/gosling/schema/sqlite"
	"github.com/gosling-ota/gosling/schema/storetest"
)

var prefixSeq atomic.Int64

// uniquePrefix gives each store its own key space in a shared Redis.
func uniquePrefix() string {
	return fmt.Sprintf("gosling-test:%d:%d:", os.Getpid(), prefixSeq.Add(1))
}

// mustOpenSQLite opens an empty SQLite store in the test's temp dir. The
// caller (or the cache.Store wrapping it) closes it.
func mustOpenSQLite(tb testing.TB) *sqlite.DB {
	tb.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "gosling.db"))
	if err != nil {
		tb.Fatal(err)
	}
	return db
}

// TestStoreContract runs the shared store contract against the Redis
// decorator on SQLite. ExactLastSeen and ExactProgress are on because the
// contract reads LastSeen back after TouchDevices and an action's progress
// after feedback; TestStoreTouchKeepsEntry and
// TestStoreFeedbackInvalidation cover the defaults.
func TestStoreContract(t *testing.T) {
	rdb := redistest.Start(t).Client(0)
	storetest.Run(t, func(t *testing.T) schema.Store {
		return cache.NewStore(mustOpenSQLite(t), rdb, cache.StoreOptions{
			Prefix: uniquePrefix(), ExactLastSeen: true, ExactProgress: true, Logger: testLogger(t),
		})
	})
}

// TestStoreContractRedisDown runs the contract with Redis gone for good:
// every call must fall through to the store and behave exactly like it.
func TestStoreContractRedisDown(t *testing.T) {
	srv := redistest.StartProcess(t)
	rdb := srv.Client(0)
	srv.Kill()
	storetest.Run(t, func(t *testing.T) schema.Store {
		return cache.NewStore(mustOpenSQLite(t), rdb, cache.StoreOptions{Prefix: uniquePrefix(), ExactLastSeen: true, ExactProgress: true})
	})
}

// countingStore delegates to a real store and counts the reads that
// cache.Store caches. before, if set, runs inside Device after the next
// store answered and before the answer is returned: it lets a test hold a
// fill that has read its value.
type countingStore struct {
	schema.Store
	device, action, software, softwareList, rollouts, gateway, poll atomic.Int64
	afterDevice                                                     func(*schema.Device)
}

func (c *countingStore) Device(ctx context.Context, tenant, id string) (*schema.Device, error) {
	c.device.Add(1)
	d, err := c.Store.Device(ctx, tenant, id)
	if c.afterDevice != nil {
		c.afterDevice(d)
	}
	return d, err
}

func (c *countingStore) Action(ctx context.Context, tenant, deviceID string, id int64) (*schema.Action, error) {
	c.action.Add(1)
	return c.Store.Action(ctx, tenant, deviceID, id)
}

func (c *countingStore) Software(ctx context.Context, tenant string, id int64) (*schema.Software, error) {
	c.software.Add(1)
	return c.Store.Software(ctx, tenant, id)
}

func (c *countingStore) SoftwareList(ctx context.Context, f schema.SoftwareFilter) ([]*schema.Software, error) {
	c.softwareList.Add(1)
	return c.Store.SoftwareList(ctx, f)
}

func (c *countingStore) Rollouts(ctx context.Context, tenant string) ([]*schema.Rollout, error) {
	c.rollouts.Add(1)
	return c.Store.Rollouts(ctx, tenant)
}

func (c *countingStore) GatewayTokenHash(ctx context.Context, tenant string) (string, error) {
	c.gateway.Add(1)
	return c.Store.GatewayTokenHash(ctx, tenant)
}

func (c *countingStore) PollSettings(ctx context.Context, tenant string) (*schema.PollSettings, error) {
	c.poll.Add(1)
	return c.Store.PollSettings(ctx, tenant)
}

type fixture struct {
	srv    *redistest.Server
	rdb    *redis.Client
	next   *countingStore
	store  *cache.Store
	prefix string
}

func newFixture(t *testing.T, opts cache.StoreOptions) *fixture {
	t.Helper()
	srv := redistest.StartProcess(t)
	f := &fixture{srv: srv, rdb: srv.Client(0), next: &countingStore{Store: mustOpenSQLite(t)}}
	if opts.Prefix == "" {
		opts.Prefix = uniquePrefix()
	}
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	f.prefix = opts.Prefix
	f.store = cache.NewStore(f.next, f.rdb, opts)
	t.Cleanup(func() { f.store.Close() })
	return f
}

func mustDevice(t *testing.T, s schema.DeviceStore, tenant, id string) *schema.Device {
	t.Helper()
	d, err := s.Device(t.Context(), tenant, id)
	if err != nil {
		t.Fatalf("device %s/%s: %v", tenant, id, err)
	}
	return d
}

func wantCount(t *testing.T, what string, c *atomic.Int64, want int64) {
	t.Helper()
	if got := c.Load(); got != want {
		t.Fatalf("%s: next store called %d times, want %d", what, got, want)
	}
}

func TestStoreReadsFromRedis(t *testing.T) {
	f := newFixture(t, cache.StoreOptions{})
	ctx := t.Context()
	s := f.store
	d := &schema.Device{Tenant: "acme", ID: "dev-1", Name: "Kitchen", TokenHash: schema.HashToken("secret"),
		Attributes: map[string]string{"hw_model": "pi4"}}
	if err := s.CreateDevice(ctx, d); err != nil {
		t.Fatal(err)
	}
	first := mustDevice(t, s, "acme", "dev-1")
	second := mustDevice(t, s, "acme", "dev-1")
	wantCount(t, "Device", &f.next.device, 1)
	if second.TokenHash != d.TokenHash || second.Name != "Kitchen" || second.Attributes["hw_model"] != "pi4" ||
		!second.CreatedAt.Equal(first.CreatedAt) {
		t.Fatalf("cached device %+v, want %+v", second, first)
	}
	if first == second {
		t.Fatal("two reads share one *Device")
	}
	// A second store on the same Redis (another frontline) hits too.
	other := cache.NewStore(f.next, f.rdb, cache.StoreOptions{Prefix: f.prefix})
	mustDevice(t, other, "acme", "dev-1")
	wantCount(t, "Device via second store", &f.next.device, 1)

	sw := storetest.MustCreateSoftware(t, s, "acme", "1.0")
	a := storetest.MustCreateAction(t, s, "acme", "dev-1", sw.ID)
	if err := s.CreateRollout(ctx, &schema.Rollout{Tenant: "acme", Name: "r", Feed: "default", SoftwareID: sw.ID}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetGatewayTokenHash(ctx, "acme", schema.HashToken("gw")); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := s.Action(ctx, "acme", "dev-1", a.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Software(ctx, "acme", sw.ID); err != nil {
			t.Fatal(err)
		}
		if l, err := s.SoftwareList(ctx, schema.SoftwareFilter{Tenant: "acme"}); err != nil || len(l) != 1 {
			t.Fatalf("software list %v, %v", l, err)
		}
		if l, err := s.Rollouts(ctx, "acme"); err != nil || len(l) != 1 {
			t.Fatalf("rollouts %v, %v", l, err)
		}
		if h, err := s.GatewayTokenHash(ctx, "acme"); err != nil || h != schema.HashToken("gw") {
			t.Fatalf("gateway token %q, %v", h, err)
		}
		if h, err := s.GatewayTokenHash(ctx, "globex"); err != nil || h != "" {
			t.Fatalf("no gateway token %q, %v", h, err)
		}
	}
	wantCount(t, "Action", &f.next.action, 1)
	wantCount(t, "Software", &f.next.software, 1)
	wantCount(t, "SoftwareList", &f.next.softwareList, 1)
	wantCount(t, "Rollouts", &f.next.rollouts, 1)
	wantCount(t, "GatewayTokenHash", &f.next.gateway, 2) // acme and globex ("" is cached too)

	// Only the full list is cached.
	for range 2 {
		if _, err := s.SoftwareList(ctx, schema.SoftwareFilter{Tenant: "acme", Limit: 10}); err != nil {
			t.Fatal(err)
		}
	}
	wantCount(t, "SoftwareList with a limit", &f.next.softwareList, 3)
	// Errors are not cached.
	for range 2 {
		if _, err := s.Device(ctx, "acme", "nope"); schema.ErrorCode(err) != schema.ENOTFOUND {
			t.Fatalf("unknown device: %v", err)
		}
		if _, err := s.Action(ctx, "acme", "someone-else", a.ID); schema.ErrorCode(err) != schema.ENOTFOUND {
			t.Fatalf("another device's action: %v", err)
		}
	}
	wantCount(t, "Device not found", &f.next.device, 3)

	// Keys are where the documentation says.
	mustDevice(t, s, "acme", "dev-1") // CreateAction invalidated it
	if n := f.rdb.Exists(ctx, f.prefix+"acme:device:dev-1").Val(); n != 1 {
		t.Fatalf("key %sacme:device:dev-1 missing", f.prefix)
	}
	if st := s.Stats(); st.Hits == 0 || st.Fills == 0 || st.RedisErrors != 0 || st.Degraded {
		t.Fatalf("stats %+v", st)
	}
}

// TestStoreWritesInvalidate checks that every write reaches the next read,
// also through a second store (another frontline) sharing the Redis.
func TestStoreWritesInvalidate(t *testing.T) {
	f := newFixture(t, cache.StoreOptions{})
	ctx := t.Context()
	s := f.store
	other := cache.NewStore(f.next, f.rdb, cache.StoreOptions{Prefix: f.prefix})

	storetest.MustCreateDevice(t, s, "acme", "dev-1")
	sw := storetest.MustCreateSoftware(t, s, "acme", "1.0")
	warm := func() {
		t.Helper()
		mustDevice(t, other, "acme", "dev-1")
		if _, err := other.SoftwareList(ctx, schema.SoftwareFilter{Tenant: "acme"}); err != nil {
			t.Fatal(err)
		}
		if _, err := other.Rollouts(ctx, "acme"); err != nil {
			t.Fatal(err)
		}
		if _, err := other.GatewayTokenHash(ctx, "acme"); err != nil {
			t.Fatal(err)
		}
	}

	warm()
	if _, err := s.UpdateDevice(ctx, "acme", "dev-1", schema.DeviceUpdate{Name: new("Hall")}); err != nil {
		t.Fatal(err)
	}
	if d := mustDevice(t, other, "acme", "dev-1"); d.Name != "Hall" {
		t.Fatalf("after UpdateDevice: name %q", d.Name)
	}

	warm()
	if _, err := s.SetAttributes(ctx, "acme", "dev-1", schema.ConfigMerge, map[string]string{"hw_model": "pi5"}); err != nil {
		t.Fatal(err)
	}
	if d := mustDevice(t, other, "acme", "dev-1"); d.HWModel() != "pi5" || d.ConfigRequested {
		t.Fatalf("after SetAttributes: %+v", d)
	}

	warm()
	a := storetest.MustCreateAction(t, s, "acme", "dev-1", sw.ID)
	if d := mustDevice(t, other, "acme", "dev-1"); d.ActionID != a.ID {
		t.Fatalf("after CreateAction: ActionID %d, want %d", d.ActionID, a.ID)
	}
	if got, err := other.Action(ctx, "acme", "dev-1", a.ID); err != nil || got.Status != schema.ActionPending {
		t.Fatalf("action %+v, %v", got, err)
	}
	storetest.MustRecordOK(t, s, storetest.NewFeedback(a, schema.FeedbackDeployment, schema.ExecProceeding, schema.FinishedNone))
	if got, _ := other.Action(ctx, "acme", "dev-1", a.ID); got.Status != schema.ActionRunning {
		t.Fatalf("after feedback: action %s", got.Status)
	}
	if _, err := s.CancelAction(ctx, "acme", "dev-1", a.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := other.Action(ctx, "acme", "dev-1", a.ID); got.Status != schema.ActionCanceling {
		t.Fatalf("after cancel: action %s", got.Status)
	}
	storetest.MustRecordOK(t, s, storetest.NewFeedback(a, schema.FeedbackCancel, schema.ExecClosed, schema.FinishedSuccess))
	if d := mustDevice(t, other, "acme", "dev-1"); d.ActionID != 0 || d.LastActionID != a.ID || d.SkipSoftwareID != sw.ID {
		t.Fatalf("after cancel feedback: %+v", d)
	}

	warm()
	sw2 := storetest.MustCreateSoftware(t, s, "acme", "2.0")
	if l, _ := other.SoftwareList(ctx, schema.SoftwareFilter{Tenant: "acme"}); len(l) != 2 {
		t.Fatalf("after CreateSoftware: %d software", len(l))
	}
	r := &schema.Rollout{Tenant: "acme", Name: "r", Feed: "default", SoftwareID: sw2.ID}
	if err := s.CreateRollout(ctx, r); err != nil {
		t.Fatal(err)
	}
	if l, _ := other.Rollouts(ctx, "acme"); len(l) != 1 || l[0].Status != schema.RolloutRunning {
		t.Fatalf("after CreateRollout: %+v", l)
	}
	if _, err := s.SetRolloutStatus(ctx, "acme", r.ID, schema.RolloutPaused); err != nil {
		t.Fatal(err)
	}
	if l, _ := other.Rollouts(ctx, "acme"); l[0].Status != schema.RolloutPaused {
		t.Fatalf("after SetRolloutStatus: %+v", l[0])
	}
	if err := s.DeleteRollout(ctx, "acme", r.ID); err != nil {
		t.Fatal(err)
	}
	if l, _ := other.Rollouts(ctx, "acme"); len(l) != 0 {
		t.Fatalf("after DeleteRollout: %+v", l)
	}
	if _, err := other.Software(ctx, "acme", sw2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteSoftware(ctx, "acme", sw2.ID); err != nil {
		t.Fatal(err)
	}
	if l, _ := other.SoftwareList(ctx, schema.SoftwareFilter{Tenant: "acme"}); len(l) != 1 {
		t.Fatalf("after DeleteSoftware: %d software", len(l))
	}
	if _, err := other.Software(ctx, "acme", sw2.ID); schema.ErrorCode(err) != schema.ENOTFOUND {
		t.Fatalf("deleted software: %v", err)
	}

	if err := s.SetGatewayTokenHash(ctx, "acme", "abc"); err != nil {
		t.Fatal(err)
	}
	if h, _ := other.GatewayTokenHash(ctx, "acme"); h != "abc" {
		t.Fatalf("after SetGatewayTokenHash: %q", h)
	}

	warm()
	if _, err := other.Action(ctx, "acme", "dev-1", a.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteDevice(ctx, "acme", "dev-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Device(ctx, "acme", "dev-1"); schema.ErrorCode(err) != schema.ENOTFOUND {
		t.Fatalf("deleted device: %v", err)
	}
	if _, err := other.Action(ctx, "acme", "dev-1", a.ID); schema.ErrorCode(err) != schema.ENOTFOUND {
		t.Fatalf("deleted device's action: %v", err)
	}
	if st := s.Stats(); st.InvalidateErrors != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestStoreTouchKeepsEntry pins the documented trade-off: TouchDevices
// does not invalidate, so Device may report an old LastSeen.
func TestStoreTouchKeepsEntry(t *testing.T) {
	f := newFixture(t, cache.StoreOptions{})
	ctx := t.Context()
	storetest.MustCreateDevice(t, f.store, "acme", "dev-1")
	mustDevice(t, f.store, "acme", "dev-1")
	at := time.Now().UTC()
	if err := f.store.TouchDevices(ctx, []schema.Seen{{Tenant: "acme", DeviceID: "dev-1", At: at, Addr: "10.0.0.1:1"}}); err != nil {
		t.Fatal(err)
	}
	if d := mustDevice(t, f.store, "acme", "dev-1"); !d.LastSeen.IsZero() {
		t.Fatalf("LastSeen %v: TouchDevices invalidated the entry", d.LastSeen)
	}
	wantCount(t, "Device", &f.next.device, 1)
	if d, _ := f.next.Store.Device(ctx, "acme", "dev-1"); d.LastSeen.IsZero() {
		t.Fatal("touch not stored")
	}
}

// TestStoreVersionGuard holds a fill that has read the old device while a
// write commits and invalidates; the fill must not put the old value back.
func TestStoreVersionGuard(t *testing.T) {
	f := newFixture(t, cache.StoreOptions{})
	ctx := t.Context()
	storetest.MustCreateDevice(t, f.store, "acme", "dev-1")

	read := make(chan struct{})    // the slow fill has read the store
	release := make(chan struct{}) // let it go on
	var once sync.Once
	f.next.afterDevice = func(*schema.Device) {
		once.Do(func() {
			close(read)
			<-release
		})
	}
	stale := make(chan *schema.Device)
	go func() {
		d, err := f.store.Device(ctx, "acme", "dev-1")
		if err != nil {
			t.Error(err)
		}
		stale <- d
	}()
	<-read
	if _, err := f.store.UpdateDevice(ctx, "acme", "dev-1", schema.DeviceUpdate{Name: new("new")}); err != nil {
		t.Fatal(err)
	}
	close(release)
	if d := <-stale; d.Name != "" {
		t.Fatalf("slow reader got %q: it read before the write", d.Name)
	}
	if n := f.rdb.Exists(ctx, f.prefix+"acme:device:dev-1").Val(); n != 0 {
		t.Fatal("the slow fill put its old value back")
	}
	if st := f.store.Stats(); st.FillsDropped != 1 {
		t.Fatalf("stats %+v, want one dropped fill", st)
	}
	if d := mustDevice(t, f.store, "acme", "dev-1"); d.Name != "new" {
		t.Fatalf("name %q after the write", d.Name)
	}
	// And that read filled the cache with the new value.
	if d := mustDevice(t, f.store, "acme", "dev-1"); d.Name != "new" {
		t.Fatalf("cached name %q", d.Name)
	}
	wantCount(t, "Device", &f.next.device, 2)
}

// TestStoreRedisDown kills Redis under a store: reads keep working from
// the next store, writes still succeed, and when Redis is back caching
// resumes without anyone restarting anything.
func TestStoreRedisDown(t *testing.T) {
	f := newFixture(t, cache.StoreOptions{RetryInterval: 50 * time.Millisecond})
	ctx := t.Context()
	s := f.store
	storetest.MustCreateDevice(t, s, "acme", "dev-1")
	mustDevice(t, s, "acme", "dev-1")
	mustDevice(t, s, "acme", "dev-1")
	wantCount(t, "Device before the outage", &f.next.device, 1)

	f.srv.Kill()
	for i := range 5 {
		if d := mustDevice(t, s, "acme", "dev-1"); d.ID != "dev-1" {
			t.Fatalf("read %d: %+v", i, d)
		}
	}
	wantCount(t, "Device while Redis is down", &f.next.device, 6)
	if _, err := s.UpdateDevice(ctx, "acme", "dev-1", schema.DeviceUpdate{Name: new("during")}); err != nil {
		t.Fatalf("write with Redis down: %v", err)
	}
	if d := mustDevice(t, s, "acme", "dev-1"); d.Name != "during" {
		t.Fatalf("name %q", d.Name)
	}
	st := s.Stats()
	if !st.Degraded || st.RedisErrors == 0 || st.InvalidateErrors != 1 {
		t.Fatalf("stats while down %+v", st)
	}

	f.srv.Restart()
	waitFor(t, "caching to resume", 5*time.Second, func() bool {
		mustDevice(t, s, "acme", "dev-1")
		return s.Stats().Hits > st.Hits
	})
	before := f.next.device.Load()
	for range 3 {
		if d := mustDevice(t, s, "acme", "dev-1"); d.Name != "during" {
			t.Fatalf("name %q after restart", d.Name)
		}
	}
	wantCount(t, "Device after the restart", &f.next.device, before)
	if s.Stats().Degraded {
		t.Fatal("still degraded")
	}
}

// TestStoreSingleflight: 100 concurrent misses of one key make one call
// to the next store, and every caller gets its own copy.
func TestStoreSingleflight(t *testing.T) {
	const n = 100
	f := newFixture(t, cache.StoreOptions{})
	storetest.MustCreateDevice(t, f.store, "acme", "dev-1")
	release := make(chan struct{})
	f.next.afterDevice = func(*schema.Device) { <-release }

	var wg sync.WaitGroup
	got := make([]*schema.Device, n)
	for i := range n {
		wg.Go(func() {
			d, err := f.store.Device(context.Background(), "acme", "dev-1")
			if err != nil {
				t.Error(err)
			}
			got[i] = d
		})
	}
	// Every reader counts its miss just before it joins the flight.
	waitFor(t, "all readers to miss", 10*time.Second, func() bool { return f.store.Stats().Misses == n })
	time.Sleep(20 * time.Millisecond)
	close(release)
	wg.Wait()
	wantCount(t, "Device", &f.next.device, 1)
	seen := make(map[*schema.Device]bool)
	for _, d := range got {
		if d == nil || d.ID != "dev-1" {
			t.Fatalf("got %+v", d)
		}
		if seen[d] {
			t.Fatal("two callers share one *Device")
		}
		seen[d] = true
	}
}

// TestStoreKeysEscapeTenant: a ':' in a tenant name cannot make two
// tenants' keys meet.
func TestStoreKeysEscapeTenant(t *testing.T) {
	f := newFixture(t, cache.StoreOptions{})
	ctx := t.Context()
	storetest.MustCreateDevice(t, f.store, "a:device:b", "c")
	storetest.MustCreateDevice(t, f.store, "a", "b:device:c")
	if d := mustDevice(t, f.store, "a:device:b", "c"); d.Tenant != "a:device:b" {
		t.Fatalf("got %+v", d)
	}
	if d := mustDevice(t, f.store, "a", "b:device:c"); d.Tenant != "a" {
		t.Fatalf("got %+v", d)
	}
	if n := f.rdb.Exists(ctx, f.prefix+"a%3Adevice%3Ab:device:c", f.prefix+"a:device:b:device:c").Val(); n != 2 {
		t.Fatalf("%d of 2 keys exist", n)
	}
}

// TestStoreFeedbackInvalidation: feedback that moves an action's status
// invalidates its entry; progress-only feedback does so only with
// ExactProgress; with ReadThrough no read is served from Redis.
func TestStoreFeedbackInvalidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts cache.StoreOptions
		// the next store's Action reads after each of the three reads below
		wantReads [3]int64
		// the progress the read after the progress-only report shows
		wantCnt int
	}{
		{"default", cache.StoreOptions{}, [3]int64{1, 1, 2}, 1},
		{"exact progress", cache.StoreOptions{ExactProgress: true}, [3]int64{1, 2, 3}, 2},
		{"read through", cache.StoreOptions{ReadThrough: true}, [3]int64{1, 2, 3}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.opts)
			ctx := t.Context()
			storetest.MustCreateDevice(t, f.store, "acme", "dev-1")
			sw := storetest.MustCreateSoftware(t, f.store, "acme", "1.0")
			a := storetest.MustCreateAction(t, f.store, "acme", "dev-1", sw.ID)
			report := func(exec, finished string, cnt int) {
				t.Helper()
				fb := storetest.NewFeedback(a, schema.FeedbackDeployment, exec, finished)
				fb.Progress = &schema.Progress{Cnt: cnt, Of: 3}
				res, err := f.store.RecordFeedback(ctx, []*schema.Feedback{fb})
				if err != nil || res[0].Err != nil {
					t.Fatalf("record %s/%s: %v %v", exec, finished, err, res[0].Err)
				}
			}
			read := func(i int) *schema.Action {
				t.Helper()
				got, err := f.store.Action(ctx, "acme", "dev-1", a.ID)
				if err != nil {
					t.Fatal(err)
				}
				wantCount(t, "Action", &f.next.action, tc.wantReads[i])
				return got
			}
			report(schema.ExecProceeding, schema.FinishedNone, 1) // pending → running
			if got := read(0); got.Status != schema.ActionRunning || got.Progress.Cnt != 1 {
				t.Fatalf("after the first report: %s %d/%d", got.Status, got.Progress.Cnt, got.Progress.Of)
			}
			report(schema.ExecProceeding, schema.FinishedNone, 2) // progress only
			if got := read(1); got.Progress.Cnt != tc.wantCnt {
				t.Fatalf("after a progress-only report: progress %d, want %d", got.Progress.Cnt, tc.wantCnt)
			}
			report(schema.ExecClosed, schema.FinishedSuccess, 3) // running → succeeded
			if got := read(2); got.Status != schema.ActionSucceeded {
				t.Fatalf("after closing: %s, want succeeded", got.Status)
			}
		})
	}
}
