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

	"golang.org/x/sync/errgroup"

	"github.com/gosling-ota/gosling/artifacts"
	"github.com/gosling-ota/gosling/cache"
	"github.com/gosling-ota/gosling/control"
	"github.com/gosling-ota/gosling/ddi"
	"github.com/gosling-ota/gosling/schema/sqlite"
)

// shutdownGrace bounds how long draining takes on SIGTERM.
const shutdownGrace = 15 * time.Second

// serve runs the embedded default: SQLite, in-process bus, artifacts on disk,
// the DDI frontline and the admin API, until ctx ends.
func serve(ctx context.Context, cfg Config, stdout, stderr io.Writer) error {
	logger := newLogger(stderr, cfg.LogLevel)
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	token, created, err := adminToken(cfg)
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(stdout, "Generated admin token (kept in %s, shown only now): %s\n", tokenPath(cfg), token)
	}

	store, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, "gosling.db"))
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer store.Close()
	blobs, err := artifacts.OpenStore(filepath.Join(cfg.DataDir, "artifacts"))
	if err != nil {
		return fmt.Errorf("open artifact store: %w", err)
	}
	bus := cache.NewLocalBus()

	front, err := ddi.New(ddi.Config{
		Tenants:      cfg.Tenants,
		PollInterval: cfg.PollInterval,
		ExternalURL:  cfg.ExternalURL,
		DeviceAuth:   cfg.DeviceAuth,
	}, store, bus, blobs, logger)
	if err != nil {
		return fmt.Errorf("configure DDI API: %w", err)
	}
	admin, err := control.New(control.Config{
		Tenants:    cfg.Tenants,
		AdminToken: token,
	}, store, bus, blobs, logger)
	if err != nil {
		return fmt.Errorf("configure admin API: %w", err)
	}

	ddiLn, err := net.Listen("tcp", cfg.DDIAddr)
	if err != nil {
		return fmt.Errorf("listen on --ddi-addr: %w", err)
	}
	adminLn, err := net.Listen("tcp", cfg.AdminAddr)
	if err != nil {
		ddiLn.Close()
		return fmt.Errorf("listen on --admin-addr: %w", err)
	}
	adminSrv := &http.Server{
		Handler:           admin.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}

	if cfg.DeviceAuth == "open" {
		logger.Warn("device authentication is open: any client can register as any device; use --device-auth tofu or strict in production")
	}
	logger.Info("gosling serving",
		"ddi", ddiLn.Addr().String(), "admin", adminLn.Addr().String(),
		"data_dir", cfg.DataDir, "tenants", strings.Join(cfg.Tenants, ","),
		"poll_interval", cfg.PollInterval.String(), "device_auth", cfg.DeviceAuth)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return front.Serve(ddiLn) })
	g.Go(func() error {
		if err := adminSrv.Serve(adminLn); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("admin API: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		// Drain devices first so their last feedback and last-seen records
		// reach the store, then the operators, then the store (deferred).
		sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		logger.Info("shutting down")
		err := front.Shutdown(sctx)
		return errors.Join(err, adminSrv.Shutdown(sctx))
	})
	return g.Wait()
}

// migrate applies the embedded migrations (opening the store applies them).
func migrate(ctx context.Context, cfg Config) error {
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	store, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, "gosling.db"))
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return store.Close()
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
