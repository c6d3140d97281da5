package control

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gosling-ota/gosling/artifacts"
	"github.com/gosling-ota/gosling/cache"
	"github.com/gosling-ota/gosling/schema"
)

// Store is the part of schema.Store the admin API uses. It leaves out what
// only devices do (configData, feedback intake, last-seen batches), so a
// decorator or fake for the control plane stays small. Each method has the
// contract, error codes included, of the schema interface method of the
// same name (schema.DeviceStore, schema.ActionStore, schema.TenantStore).
type Store interface {
	// Devices.
	Device(ctx context.Context, tenant, id string) (*schema.Device, error)
	Devices(ctx context.Context, f schema.DeviceFilter) ([]*schema.Device, int, error)
	CreateDevice(ctx context.Context, d *schema.Device) error
	UpdateDevice(ctx context.Context, tenant, id string, u schema.DeviceUpdate) (*schema.Device, error)
	UpdateDevices(ctx context.Context, tenant string, t schema.Target, u schema.DeviceUpdate) ([]string, error)
	DeviceIDs(ctx context.Context, tenant string, t schema.Target, after string, limit int) ([]string, error)
	EachDeviceID(ctx context.Context, tenant string, t schema.Target, fn func(id string) error) error
	DeleteDevice(ctx context.Context, tenant, id string) error

	// Software.
	schema.SoftwareStore

	// Actions, read-only except for cancellation.
	Action(ctx context.Context, tenant, deviceID string, id int64) (*schema.Action, error)
	Actions(ctx context.Context, f schema.ActionFilter) ([]*schema.Action, int, error)
	EachRolloutDevice(ctx context.Context, tenant string, rolloutID int64, fn func(deviceID string) error) error
	CancelAction(ctx context.Context, tenant, deviceID string, id int64) (*schema.Action, error)
	CancelRolloutActions(ctx context.Context, tenant string, rolloutID int64) ([]*schema.Action, error)
	Feedback(ctx context.Context, tenant, deviceID string, actionID int64, offset, limit int) ([]*schema.Feedback, error)

	// Rollouts.
	schema.RolloutStore

	// Tenant settings.
	SetGatewayTokenHash(ctx context.Context, tenant, hash string) error
	PollSettings(ctx context.Context, tenant string) (*schema.PollSettings, error)
	SetPollSettings(ctx context.Context, tenant string, p *schema.PollSettings) error
}

var _ Store = schema.Store(nil)

// Blobs stores uploaded .swu files by content (artifacts.Store).
type Blobs interface {
	// Ingest reads one .swu from r (at most maxSize bytes), stores it under
	// its SHA-256 and parses its sw-description. On error nothing is left
	// behind. Blob.Existed reports that the same content was already stored.
	Ingest(ctx context.Context, r io.Reader, maxSize int64) (*artifacts.Blob, *artifacts.Manifest, error)
	// Remove deletes a stored blob.
	Remove(sha256 string) error
}

var _ Blobs = (*artifacts.Store)(nil)

// publishTimeout bounds an invalidation publish. The write it announces is
// already committed; a slow bus must not hold the answer for long, since
// cached entries also expire on their own.
const publishTimeout = 5 * time.Second

// Server is the admin API. It is safe for concurrent use.
type Server struct {
	cfg            Config
	tenants        map[string]bool
	adminTokenHash [sha256.Size]byte
	store          Store
	bus            cache.Bus
	blobs          Blobs
	logger         *slog.Logger
	mux            *http.ServeMux
	routes         []route

	blobRefs blobRefs // which stored blobs requests still count on
	engine   *engine  // the rollout engine's state (populations, metrics)
	metrics  http.Handler

	httpMetrics  *httpMetrics // RED metrics (http_metrics.go)
	unmatchedObs map[string]*routeObserver
	fleet        *fleetMetrics // device and action counts (fleet_metrics.go)
}

// New returns an admin API server. cfg is validated (see Config.Validate);
// a nil logger discards logs.
func New(cfg Config, store Store, bus cache.Bus, blobs Blobs, logger *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if store == nil || bus == nil || blobs == nil {
		return nil, errors.New("control: store, bus and blobs are required")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	s := &Server{
		cfg:            cfg,
		tenants:        make(map[string]bool, len(cfg.Tenants)),
		adminTokenHash: sha256.Sum256([]byte(cfg.AdminToken)),
		store:          store,
		bus:            bus,
		blobs:          blobs,
		logger:         logger.With("component", "control"),
		mux:            http.NewServeMux(),
	}
	for _, t := range cfg.Tenants {
		s.tenants[t] = true
	}
	eng, err := newEngine(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	s.engine = eng
	if s.httpMetrics, err = newHTTPMetrics(cfg.Registerer); err != nil {
		return nil, err
	}
	if s.fleet, err = newFleetMetrics(cfg.Registerer); err != nil {
		return nil, err
	}
	s.newUnmatchedObservers()
	s.metrics = promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{})
	s.routes = s.routeTable()
	for _, rt := range s.routes {
		s.mux.Handle(rt.method+" "+rt.path, s.httpMetrics.route(rt.path, rt.method).instrument(s.wrap(rt)))
	}
	return s, nil
}

// apiHandler serves one endpoint for a resolved tenant ("" for public
// endpoints). A returned error is answered by writeError; a handler that
// returns nil has written its answer.
type apiHandler func(w http.ResponseWriter, r *http.Request, tenant string) error

// route is one endpoint. The table is the single source for the mux and for
// the test that compares it with the OpenAPI document.
type route struct {
	method string
	path   string
	public bool // no admin token, no tenant
	h      apiHandler
}

func (s *Server) routeTable() []route {
	return []route{
		{"GET", "/healthz", true, s.healthz},
		{"GET", "/api/v1/openapi.json", true, s.openAPI},
		{"GET", "/metrics", true, s.serveMetrics},

		{"POST", "/api/v1/software", false, s.createSoftware},
		{"GET", "/api/v1/software", false, s.listSoftware},
		{"GET", "/api/v1/software/{id}", false, s.getSoftware},
		{"DELETE", "/api/v1/software/{id}", false, s.deleteSoftware},

		{"GET", "/api/v1/devices", false, s.listDevices},
		{"POST", "/api/v1/devices", false, s.createDevice},
		{"GET", "/api/v1/devices/{id}", false, s.getDevice},
		{"PATCH", "/api/v1/devices/{id}", false, s.patchDevice},
		{"DELETE", "/api/v1/devices/{id}", false, s.deleteDevice},
		{"POST", "/api/v1/devices/bulk", false, s.bulkDevices},

		{"GET", "/api/v1/devices/{id}/actions", false, s.listActions},
		{"GET", "/api/v1/devices/{id}/actions/{actionId}", false, s.getAction},
		{"POST", "/api/v1/devices/{id}/actions/{actionId}/cancel", false, s.cancelAction},
		{"GET", "/api/v1/devices/{id}/actions/{actionId}/log", false, s.actionLog},

		{"POST", "/api/v1/rollouts", false, s.createRollout},
		{"GET", "/api/v1/rollouts", false, s.listRollouts},
		{"GET", "/api/v1/rollouts/{id}", false, s.getRollout},
		{"POST", "/api/v1/rollouts/{id}/pause", false, s.pauseRollout},
		{"POST", "/api/v1/rollouts/{id}/resume", false, s.resumeRollout},
		{"POST", "/api/v1/rollouts/{id}/start", false, s.startRollout},
		{"POST", "/api/v1/rollouts/{id}/abort", false, s.abortRollout},
		{"POST", "/api/v1/rollouts/{id}/approve", false, s.approveRollout},
		{"POST", "/api/v1/rollouts/{id}/cancel-actions", false, s.cancelRolloutActions},
		{"GET", "/api/v1/rollouts/{id}/events", false, s.rolloutEvents},
		{"GET", "/api/v1/rollouts/{id}/actions", false, s.rolloutActions},
		{"DELETE", "/api/v1/rollouts/{id}", false, s.deleteRollout},

		{"GET", "/api/v1/poll-settings", false, s.getPollSettings},
		{"PUT", "/api/v1/poll-settings", false, s.putPollSettings},

		{"PUT", "/api/v1/gateway-token", false, s.putGatewayToken},
		{"DELETE", "/api/v1/gateway-token", false, s.deleteGatewayToken},
	}
}

// Handler returns the API's HTTP handler. Requests that match no route are
// answered with JSON 404, or 405 (with Allow) when the path exists for
// other methods.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(s.serveHTTP)
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	h, pattern := s.mux.Handler(r)
	if pattern != "" {
		s.mux.ServeHTTP(w, r) // instrumented per route
		return
	}
	sw, obs, start := &statusWriter{ResponseWriter: w}, s.unmatched(r.Method), time.Now()
	defer func() { obs.observe(sw.code(), start) }()
	w = sw
	// The mux's own 404 and 405 answers are plain text. Run its handler
	// against a recorder to learn which one it chose (and the Allow header
	// for 405), then answer in JSON.
	rec := &statusRecorder{header: make(http.Header)}
	h.ServeHTTP(rec, r)
	if rec.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", rec.header.Get("Allow"))
		s.writeErrorCode(w, http.StatusMethodNotAllowed, codeMethodNotAllowed,
			fmt.Sprintf("method %s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, rec.header.Get("Allow")))
		return
	}
	s.writeErrorCode(w, http.StatusNotFound, schema.ENOTFOUND, fmt.Sprintf("no endpoint %s %s", r.Method, r.URL.Path))
}

// statusRecorder keeps the status and headers a handler writes and drops its
// body.
type statusRecorder struct {
	header http.Header
	status int
}

func (r *statusRecorder) Header() http.Header { return r.header }
func (r *statusRecorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}
func (r *statusRecorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return len(b), nil
}

// wrap adds authentication, tenant resolution, error answers and panic
// recovery to a route's handler.
func (s *Server) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.writeError(w, r, fmt.Errorf("panic: %v", v))
			}
		}()
		var tenant string
		if !rt.public {
			if !s.authorized(r) {
				s.writeUnauthorized(w)
				return
			}
			t, err := s.tenant(r)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			tenant = t
		}
		if err := rt.h(w, r, tenant); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// publish announces a committed write on the bus. A failure is logged, not
// answered: the write stands, and cache entries expire on their own, so the
// worst case is bounded staleness rather than a lost write.
func (s *Server) publish(r *http.Request, kind cache.Kind, tenant, key string) {
	s.publishCtx(r.Context(), kind, tenant, key)
}

// publishCtx is publish for callers without a request (the engine). A
// device write may change who a rollout targets, so it also drops the
// tenant's cached rollout populations.
func (s *Server) publishCtx(ctx context.Context, kind cache.Kind, tenant, key string) {
	if kind == cache.KindDevice {
		s.engine.dropPopulations(tenant)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), publishTimeout)
	defer cancel()
	inv := cache.Invalidation{Kind: kind, Tenant: tenant, Key: key}
	if err := s.bus.Publish(ctx, inv); err != nil {
		s.logger.WarnContext(ctx, "publish invalidation failed",
			slog.Int("kind", int(kind)), slog.String("tenant", tenant), slog.String("key", key), slog.Any("err", err))
	}
}

// healthz reports that the process serves HTTP. It checks no dependency: a
// load balancer should not take the admin API away because the bus hiccups.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request, _ string) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}
