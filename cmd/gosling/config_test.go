package main

import (
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseServeFlags(t *testing.T) {
	tests := []struct {
		name    string
		role    role
		args    []string
		env     map[string]string
		check   func(t *testing.T, c Config)
		wantErr string
	}{
		{name: "defaults", check: func(t *testing.T, c Config) {
			if c.DataDir != "./data" || c.DDIAddr != ":8080" || c.AdminAddr != "127.0.0.1:8081" ||
				c.PollInterval != 5*time.Minute || c.DeviceAuth != "open" || !slices.Equal(c.Tenants, []string{"DEFAULT"}) {
				t.Errorf("defaults = %+v", c)
			}
		}},
		{name: "hawkbit interval", args: []string{"--poll-interval", "00:01:30"}, check: func(t *testing.T, c Config) {
			if c.PollInterval != 90*time.Second {
				t.Errorf("poll interval = %s", c.PollInterval)
			}
		}},
		{name: "env then flag wins", args: []string{"--ddi-addr", ":9"}, env: map[string]string{"GOSLING_DDI_ADDR": ":7", "GOSLING_DEVICE_AUTH": "strict"}, check: func(t *testing.T, c Config) {
			if c.DDIAddr != ":9" || c.DeviceAuth != "strict" {
				t.Errorf("got %q %q", c.DDIAddr, c.DeviceAuth)
			}
		}},
		{name: "tenants repeat and split", args: []string{"--tenant", "a,b", "--tenant", "c"}, check: func(t *testing.T, c Config) {
			if !slices.Equal(c.Tenants, []string{"a", "b", "c"}) {
				t.Errorf("tenants = %v", c.Tenants)
			}
		}},
		{name: "tenants from env", env: map[string]string{"GOSLING_TENANT": "x, y"}, check: func(t *testing.T, c Config) {
			if !slices.Equal(c.Tenants, []string{"x", "y"}) {
				t.Errorf("tenants = %v", c.Tenants)
			}
		}},
		{name: "interval too long", args: []string{"--poll-interval", "24h"}, wantErr: "outside 1s..23:59:59"},
		{name: "interval bad clock", args: []string{"--poll-interval", "00:61:00"}, wantErr: "HH:MM:SS"},
		{name: "interval garbage env", env: map[string]string{"GOSLING_POLL_INTERVAL": "soon"}, wantErr: "GOSLING_POLL_INTERVAL"},
		{name: "bad auth", args: []string{"--device-auth", "maybe"}, wantErr: "want open, tofu or strict"},
		{name: "bad tenant", args: []string{"--tenant", "a/b"}, wantErr: "tenant"},
		{name: "bad external url", args: []string{"--external-url", "host:80"}, wantErr: "absolute"},
		{name: "bad log level", args: []string{"--log-level", "loud"}, wantErr: "log-level"},
		{name: "ddi needs database", role: roleDDI, env: map[string]string{"GOSLING_REDIS_URL": "redis://127.0.0.1:1"}, wantErr: "needs --database-url"},
		{name: "control needs redis", role: roleControl, args: []string{"--database-url", "postgres://x@127.0.0.1/db"}, wantErr: "needs --redis-url"},
		{name: "ddi has no admin flags", role: roleDDI, args: []string{"--admin-token", "x"}, wantErr: "not defined"},
		{name: "bad database url", args: []string{"--database-url", "mysql://x"}, wantErr: "postgres://"},
		{name: "cache too small", args: []string{"--cache-bytes", "10"}, wantErr: "1 MiB"},
		{name: "ddi with both urls", role: roleDDI, args: []string{"--database-url", "postgres://x@127.0.0.1/db", "--redis-url", "redis://127.0.0.1:6379/0", "--cache-ttl", "30s"}, check: func(t *testing.T, c Config) {
			if c.CacheTTL != 30*time.Second || c.DatabaseURL == "" || c.RedisURL == "" {
				t.Errorf("got %+v", c)
			}
		}},
		{name: "stray argument", args: []string{"extra"}, wantErr: "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := roleServe
			if tt.role.name != "" {
				r = tt.role
			}
			c, err := parseFlags(r, tt.args, func(k string) string { return tt.env[k] }, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestAdminTokenKeptAndPrintedOnce(t *testing.T) {
	cfg := defaultConfig()
	cfg.DataDir = t.TempDir()
	tok, created, err := adminToken(cfg)
	if err != nil || !created || len(tok) < 40 {
		t.Fatalf("first: %q %v %v", tok, created, err)
	}
	again, created, err := adminToken(cfg)
	if err != nil || created || again != tok {
		t.Fatalf("second: %q %v %v, want %q not created", again, created, err, tok)
	}
	cfg.AdminToken = "explicit"
	if got, created, _ := adminToken(cfg); got != "explicit" || created {
		t.Fatalf("explicit token: %q %v", got, created)
	}
}
