// Package ddi is Gosling's device-facing frontline: the hawkBit DDI API
// (poll, configData, deploymentBase, cancelAction, installedBase, feedback,
// artifact downloads) on fasthttp, as SWUpdate and rauc-hawkbit-updater
// speak it (see shared/ddi/PROTOCOL.md).
//
// The poll hit path answers from an in-memory cache and never touches the
// store; last-seen records are coalesced and written in batches, feedback is
// group-committed and acknowledged only once durable.
//
// Rollouts: a device is offered what schema.Catalog.Desired returns (the
// newest rollout selecting it, once a wave covers it); the action records
// the rollout, the wave and the rollout's download/update handling
// ("forced" or "attempt", never "skip"). A rollout at MaxConcurrent open
// actions makes the poll offer nothing, without an error. Outside a
// rollout's maintenance window the offer is withheld rather than sent with
// update:"skip", which SWUpdate would report as a successful install
// (window.go). Every answer's sleep is the tenant's
// schema.PollSettings.Interval for the device (feed, tag, device
// override, open-action cap, per-device jitter), shortened ahead of a
// maintenance window.
package ddi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/router"
	"github.com/valyala/fasthttp"
	"golang.org/x/sync/singleflight"

	"github.com/gosling-ota/gosling/cache"
	"github.com/gosling-ota/gosling/schema"
)

// Store is what the frontline needs from persistence, and nothing more:
// reading and registering devices, storing what devices report, and the
// tenant's catalog for desired-state resolution. schema.Store implements it.
type Store interface {
	// Device returns one device. Returns ENOTFOUND.
	Device(ctx context.Context, tenant, id string) (*schema.Device, error)
	// CreateDevice registers a device. Returns ECONFLICT if it exists.
	CreateDevice(ctx context.Context, d *schema.Device) error
	// UpdateDevice changes a device (the frontline only binds TokenHash).
	UpdateDevice(ctx context.Context, tenant, id string, u schema.DeviceUpdate) (*schema.Device, error)
	// SetAttributes applies configData. Returns ENOTFOUND.
	SetAttributes(ctx context.Context, tenant, id string, mode schema.ConfigMode, data map[string]string) (*schema.Device, error)
	// TouchDevices records last-seen times in one batch.
	TouchDevices(ctx context.Context, seen []schema.Seen) error

	// Software returns one software. Returns ENOTFOUND.
	Software(ctx context.Context, tenant string, id int64) (*schema.Software, error)
	// SoftwareList returns the tenant's software (for the catalog).
	SoftwareList(ctx context.Context, f schema.SoftwareFilter) ([]*schema.Software, error)
	// Rollouts returns the tenant's rollouts (for the catalog).
	Rollouts(ctx context.Context, tenant string) ([]*schema.Rollout, error)

	// Action returns one action of a device. Returns ENOTFOUND.
	Action(ctx context.Context, tenant, deviceID string, id int64) (*schema.Action, error)
	// CreateAction opens an action. Returns ECONFLICT if one is open,
	// EUNAVAILABLE if its rollout is at MaxConcurrent open actions.
	CreateAction(ctx context.Context, a *schema.Action) error
	// RecordFeedback stores a batch of feedback durably.
	RecordFeedback(ctx context.Context, batch []*schema.Feedback) ([]schema.FeedbackResult, error)
	// Feedback returns an action's feedback in arrival order.
	Feedback(ctx context.Context, tenant, deviceID string, actionID int64, offset, limit int) ([]*schema.Feedback, error)

	// GatewayTokenHash returns the tenant's GatewayToken hash, or "".
	GatewayTokenHash(ctx context.Context, tenant string) (string, error)
	// PollSettings returns the tenant's poll settings (zero when never set).
	PollSettings(ctx context.Context, tenant string) (*schema.PollSettings, error)
}

var _ Store = schema.Store(nil)

// Blobs opens stored artifacts by content hash; artifacts.Store implements
// it. Errors wrap fs.ErrNotExist when the blob is missing.
type Blobs interface {
	Open(sha256 string) (*os.File, error)
}

// Timeouts and limits that are not worth configuring.
const (
	// storeTimeout bounds every store call made for a request; a device
	// gets 429 and retries rather than holding a connection forever.
	storeTimeout = 5 * time.Second
	// readTimeout covers a request's headers and body; DDI bodies are small.
	readTimeout = 30 * time.Second
	// writeTimeout covers writing a whole response, including artifact
	// downloads: 2 h is a 1 GiB image at ~150 KB/s. Clients resume with
	// Range when it cuts a slower download.
	writeTimeout = 2 * time.Hour
	// idleTimeout closes idle keep-alive connections; SWUpdate opens a new
	// connection per poll anyway.
	idleTimeout = 90 * time.Second
	// maxConcurrency bounds connections served at once. It is a hard
	// ceiling (fasthttp answers 503 beyond it), so it sits well above
	// MaxInFlight, which answers 429.
	maxConcurrency = 256 * 1024
	// headerBufferSize bounds request headers (and thus URL length).
	headerBufferSize = 16 << 10
)

// Server is the DDI frontline. Create it with New; it is safe for
// concurrent use.
type Server struct {
	cfg    Config
	store  Store
	bus    cache.Bus
	blobs  Blobs
	logger *slog.Logger

	// base is the parent of every store context: request contexts are not
	// real contexts in fasthttp, and store work must outlive nothing but
	// the server.
	base       context.Context
	cancelBase context.CancelFunc

	extBase string // ExternalURL without trailing slash, or ""
	// now is Config.Now or time.Now: the clock of maintenance windows
	// and of the poll answers' window expiry. realClock says it is
	// time.Now (Config.Now was nil).
	now       func() time.Time
	realClock bool
	// seenRes is Config.SeenResolution in whole seconds (at least 1).
	seenRes uint32

	tenants map[string]*tenantState
	devices *l1
	inval   invalidator
	loads   singleflight.Group // device loads and action creation, per key
	unsub   func()

	seen     *seenTracker
	feedback *batcher

	router   *router.Router
	inFlight atomic.Int64

	metrics *metrics

	srvMu    sync.Mutex
	srv      *fasthttp.Server
	closed   bool
	shutOnce sync.Once
	shutErr  error
}

// New validates cfg, applies defaults and returns a Server reading and
// writing through store, listening for invalidations on bus (and publishing
// its own writes there), and serving artifacts from blobs.
func New(cfg Config, store Store, bus cache.Bus, blobs Blobs, logger *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if store == nil || bus == nil || blobs == nil {
		return nil, errors.New("ddi: store, bus and blobs are required")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	realClock := cfg.Now == nil
	cfg = cfg.withDefaults()
	s := &Server{
		realClock: realClock,
		seenRes:   uint32(max(cfg.SeenResolution/time.Second, 1)),
		cfg:       cfg,
		store:     store,
		bus:       bus,
		blobs:     blobs,
		logger:    logger.With("component", "ddi"),
		extBase:   cfg.ExternalURL,
		now:       cfg.Now,
		tenants:   make(map[string]*tenantState, len(cfg.Tenants)),
	}
	s.base, s.cancelBase = context.WithCancel(context.Background())
	for _, t := range cfg.Tenants {
		s.tenants[t] = &tenantState{name: t}
	}
	var err error
	if s.devices, err = newL1(cfg.CacheBytes); err != nil {
		s.cancelBase()
		return nil, fmt.Errorf("ddi: device cache: %w", err)
	}
	s.seen = newSeenTracker(s)
	s.feedback = newBatcher(s)
	if s.metrics, err = newMetrics(cfg.Registerer, s); err != nil {
		s.cancelBase()
		return nil, fmt.Errorf("ddi: metrics: %w", err)
	}
	s.unsub = bus.Subscribe(s.invalidate)
	s.router = s.routes()
	go s.seen.run()
	s.feedback.start()
	return s, nil
}

// Handler returns the request handler, for use with a fasthttp.Server of
// the caller's own or in tests. Serve uses the same handler.
func (s *Server) Handler() fasthttp.RequestHandler { return s.handle }

// Serve accepts connections on ln until Shutdown. Like net/http, it
// returns nil after a Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	s.srvMu.Lock()
	if s.srv != nil || s.closed {
		s.srvMu.Unlock()
		return errors.New("ddi: Serve called twice or after Shutdown")
	}
	s.srv = &fasthttp.Server{
		Handler:                            s.handle,
		ErrorHandler:                       s.handleParseError,
		Name:                               "",
		NoDefaultServerHeader:              true,
		NoDefaultContentType:               true,
		Concurrency:                        maxConcurrency,
		ReadBufferSize:                     headerBufferSize,
		WriteBufferSize:                    16 << 10,
		ReadTimeout:                        readTimeout,
		WriteTimeout:                       writeTimeout,
		IdleTimeout:                        idleTimeout,
		MaxConnsPerIP:                      0, // NAT'd fleets share one address; see MaxInFlight
		MaxRequestsPerConn:                 0,
		MaxIdleWorkerDuration:              10 * time.Second,
		TCPKeepalivePeriod:                 0, // OS default
		MaxRequestBodySize:                 s.cfg.MaxBodyBytes,
		DisableKeepalive:                   false,
		TCPKeepalive:                       true,
		ReduceMemoryUsage:                  false,
		GetOnly:                            false,
		DisablePreParseMultipartForm:       true,
		LogAllErrors:                       false,
		SecureErrorLogMessage:              true,
		DisableHeaderNamesNormalizing:      false,
		SleepWhenConcurrencyLimitsExceeded: 0,
		NoDefaultDate:                      false,
		StreamRequestBody:                  false,
		CloseOnShutdown:                    true,
		KeepHijackedConns:                  false,
		Logger:                             fasthttpLogger{s.logger},
	}
	srv := s.srv
	s.srvMu.Unlock()
	return srv.Serve(ln)
}

// Shutdown stops accepting connections, waits for running requests (until
// ctx is done), commits queued feedback and flushes pending last-seen
// records. It is safe to call more than once; later calls return the first
// result.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutOnce.Do(func() {
		var errs []error
		s.srvMu.Lock()
		srv := s.srv
		s.closed = true
		s.srvMu.Unlock()
		if srv != nil {
			if err := srv.ShutdownWithContext(ctx); err != nil {
				errs = append(errs, fmt.Errorf("ddi: shutdown: %w", err))
			}
		}
		s.unsub()
		s.feedback.stop()
		if err := s.seen.stop(ctx); err != nil {
			errs = append(errs, err)
		}
		s.cancelBase()
		s.devices.close()
		s.shutErr = errors.Join(errs...)
	})
	return s.shutErr
}

// storeCtx returns a context for one store call, bounded by storeTimeout
// and cancelled at the end of Shutdown.
func (s *Server) storeCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.base, storeTimeout)
}

// publishDevice announces that the frontline itself changed a device, so
// every frontline (this one included, through its subscription) drops its
// cached answer.
func (s *Server) publishDevice(tenant, id string) {
	ctx, cancel := s.storeCtx()
	defer cancel()
	if err := s.bus.Publish(ctx, cache.Invalidation{Kind: cache.KindDevice, Tenant: tenant, Key: id}); err != nil {
		// The local entry must go even if the bus is down; remote
		// frontlines are bounded by CacheTTL.
		s.invalidate(cache.Invalidation{Kind: cache.KindDevice, Tenant: tenant, Key: id})
		s.logger.Warn("publish invalidation", "tenant", tenant, "device", id, "err", err)
	}
}

// fasthttpLogger routes fasthttp's own messages to slog.
type fasthttpLogger struct{ l *slog.Logger }

func (f fasthttpLogger) Printf(format string, args ...any) {
	f.l.Warn(fmt.Sprintf(format, args...))
}
