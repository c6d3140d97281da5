package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/gosling-ota/gosling/control"
	"github.com/gosling-ota/gosling/ddi"
)

// shutdownGrace bounds how long draining takes on SIGTERM.
const shutdownGrace = 15 * time.Second

// serveRole runs the parts of role r (frontline, admin API or both) until
// ctx ends, then drains them in order: devices first, so their last
// feedback and last-seen records reach the store, then operators, then the
// connections.
func serveRole(ctx context.Context, r role, cfg Config, stdout, stderr io.Writer) error {
	logger := newLogger(stderr, cfg.LogLevel).With("role", r.name)
	// One registry per process: every component registers its own metrics
	// on it (no globals), and the admin listener (or, for a frontline,
	// --metrics-addr) serves it on /metrics.
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	// Only roles that own the schema migrate (see openBackend): a frontline
	// starting before the control plane must not race it with a
	// half-known schema version.
	b, err := openBackend(ctx, cfg, r, logger, reg)
	if err != nil {
		return err
	}
	defer b.Close()

	g, gctx := errgroup.WithContext(ctx)
	var stops []func(context.Context) error
	for _, loop := range b.loops {
		g.Go(func() error { return loop(gctx) })
	}

	if r.ddi {
		front, err := ddi.New(ddi.Config{
			Tenants:        cfg.Tenants,
			PollInterval:   cfg.PollInterval,
			ExternalURL:    cfg.ExternalURL,
			DeviceAuth:     cfg.DeviceAuth,
			CacheBytes:     cfg.CacheBytes,
			CacheTTL:       cfg.CacheTTL,
			SeenResolution: cfg.SeenResolution,
			Registerer:     reg,
		}, b.store, b.bus, b.blobs, logger)
		if err != nil {
			return fmt.Errorf("configure DDI API: %w", err)
		}
		ln, err := net.Listen("tcp", cfg.DDIAddr)
		if err != nil {
			return fmt.Errorf("listen on --ddi-addr: %w", err)
		}
		if cfg.DeviceAuth == "open" {
			logger.Warn("device authentication is open: any client can register as any device; use --device-auth tofu or strict in production")
		}
		logger.Info("DDI API listening", "addr", ln.Addr().String(), "poll_interval", cfg.PollInterval.String(), "device_auth", cfg.DeviceAuth)
		g.Go(func() error { return front.Serve(ln) })
		stops = append(stops, front.Shutdown)
	}

	if r.ddi && !r.admin && cfg.MetricsAddr != "" {
		// Stopped after the frontline, so a scrape can watch it drain.
		stop, err := serveMetrics(g, cfg.MetricsAddr, reg, logger)
		switch {
		case err == nil:
			stops = append(stops, stop)
		case cfg.MetricsAddrSet:
			return err
		default:
			logger.Warn("no /metrics: the default --metrics-addr is taken (another frontline on this host?); set --metrics-addr", "err", err)
		}
	}

	if r.admin {
		token, created, err := adminToken(cfg)
		if err != nil {
			return err
		}
		if created {
			fmt.Fprintf(stdout, "Generated admin token (kept in %s, shown only now): %s\n", tokenPath(cfg), token)
		}
		admin, err := control.New(control.Config{Tenants: cfg.Tenants, AdminToken: token, Registerer: reg}, b.store, b.bus, b.blobs, logger)
		if err != nil {
			return fmt.Errorf("configure admin API: %w", err)
		}
		ln, err := net.Listen("tcp", cfg.AdminAddr)
		if err != nil {
			return fmt.Errorf("listen on --admin-addr: %w", err)
		}
		srv := &http.Server{
			Handler:           admin.Handler(),
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		}
		logger.Info("admin API listening", "addr", ln.Addr().String())
		// The rollout engine runs wherever the admin API does: one control
		// plane per installation (see control.Server.Run).
		g.Go(func() error { return admin.Run(gctx) })
		g.Go(func() error { return admin.RunFleetMetrics(gctx) })
		g.Go(func() error {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("admin API: %w", err)
			}
			return nil
		})
		stops = append(stops, srv.Shutdown)
	}

	logger.Info("gosling started", "data_dir", cfg.DataDir, "tenants", strings.Join(cfg.Tenants, ","),
		"database", backendName(cfg.DatabaseURL != "", "postgres", "sqlite"),
		"bus", backendName(cfg.RedisURL != "", "redis", "in-process"))
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		logger.Info("shutting down")
		var errs []error
		for _, stop := range stops {
			errs = append(errs, stop(sctx))
		}
		return errors.Join(errs...)
	})
	err = g.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// serveMetrics serves reg on GET /metrics at addr (the ddi role, which has
// no admin listener) and returns the server's shutdown.
func serveMetrics(g *errgroup.Group, addr string, reg *prometheus.Registry, logger *slog.Logger) (func(context.Context) error, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on --metrics-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	logger.Info("metrics listening", "addr", ln.Addr().String())
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("metrics: %w", err)
		}
		return nil
	})
	return srv.Shutdown, nil
}

func backendName(cond bool, yes, no string) string {
	if cond {
		return yes
	}
	return no
}

// migrate applies the schema migrations of the configured database and exits.
func migrate(ctx context.Context, cfg Config, stderr io.Writer) error {
	logger := newLogger(stderr, cfg.LogLevel)
	b, err := openBackend(ctx, cfg, roleMigrate, logger, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	logger.Info("migrations applied", "database", backendName(cfg.DatabaseURL != "", "postgres", "sqlite"))
	return b.Close()
}

func tokenPath(cfg Config) string { return filepath.Join(cfg.DataDir, "admin-token") }

// adminToken returns the configured token, else the one kept in the data
// dir, else a new one saved there (created reports that case, so the caller
// prints it exactly once).
func adminToken(cfg Config) (token string, created bool, err error) {
	if cfg.AdminToken != "" {
		return cfg.AdminToken, false, nil
	}
	b, err := os.ReadFile(tokenPath(cfg))
	if err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), false, nil
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", false, fmt.Errorf("read admin token: %w", err)
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	token = base64.RawURLEncoding.EncodeToString(raw)
	if err := os.WriteFile(tokenPath(cfg), []byte(token+"\n"), 0o600); err != nil {
		return "", false, fmt.Errorf("save admin token: %w", err)
	}
	return token, true, nil
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}
