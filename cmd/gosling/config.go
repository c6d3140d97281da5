package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config is everything `gosling serve` needs, with its defaults in
// defaultConfig. Flags override GOSLING_* environment variables, which
// override the defaults.
type Config struct {
	DataDir      string
	DDIAddr      string
	AdminAddr    string
	AdminToken   string
	Tenants      []string
	PollInterval time.Duration
	ExternalURL  string
	DeviceAuth   string
	LogLevel     string
}

func defaultConfig() Config {
	return Config{
		DataDir:      "./data",
		DDIAddr:      ":8080",
		AdminAddr:    "127.0.0.1:8081",
		Tenants:      []string{"DEFAULT"},
		PollInterval: 5 * time.Minute,
		DeviceAuth:   "open",
		LogLevel:     "info",
	}
}

// maxPollInterval keeps the sleep a device is told below 24 h: SWUpdate
// drops a poll answer whose hours are not 00–23.
const maxPollInterval = 24*time.Hour - time.Second

// Validate reports the first setting that cannot work, naming the limit.
func (c *Config) Validate() error {
	switch {
	case c.DataDir == "":
		return errors.New("--data-dir must not be empty")
	case c.DDIAddr == "":
		return errors.New("--ddi-addr must not be empty")
	case c.AdminAddr == "":
		return errors.New("--admin-addr must not be empty")
	case len(c.Tenants) == 0:
		return errors.New("at least one --tenant is needed")
	case c.PollInterval < time.Second || c.PollInterval > maxPollInterval:
		return fmt.Errorf("--poll-interval %s is outside 1s..23:59:59", c.PollInterval)
	}
	for _, t := range c.Tenants {
		if t == "" || strings.ContainsAny(t, "/?#% ") {
			return fmt.Errorf("--tenant %q: a tenant is a non-empty name without /, ?, #, %% or spaces", t)
		}
	}
	switch c.DeviceAuth {
	case "open", "tofu", "strict":
	default:
		return fmt.Errorf("--device-auth %q: want open, tofu or strict", c.DeviceAuth)
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", c.LogLevel)
	}
	if c.ExternalURL != "" && !strings.HasPrefix(c.ExternalURL, "http://") && !strings.HasPrefix(c.ExternalURL, "https://") {
		return fmt.Errorf("--external-url %q: want an absolute http(s) URL", c.ExternalURL)
	}
	return nil
}

// parseServeFlags fills a Config from defaults, the environment and args.
func parseServeFlags(args []string, getenv func(string) string) (Config, error) {
	cfg := defaultConfig()
	fs := flag.NewFlagSet("gosling serve", flag.ContinueOnError)
	fs.SetOutput(os.Stderr)

	str := func(p *string, name, env, usage string) {
		if v := getenv(env); v != "" {
			*p = v
		}
		fs.StringVar(p, name, *p, usage+" ("+env+")")
	}
	str(&cfg.DataDir, "data-dir", "GOSLING_DATA_DIR", "directory for the database, artifacts and the admin token")
	str(&cfg.DDIAddr, "ddi-addr", "GOSLING_DDI_ADDR", "listen address of the device (DDI) API")
	str(&cfg.AdminAddr, "admin-addr", "GOSLING_ADMIN_ADDR", "listen address of the admin API")
	str(&cfg.AdminToken, "admin-token", "GOSLING_ADMIN_TOKEN", "admin API bearer token; generated and kept in the data dir when unset")
	str(&cfg.ExternalURL, "external-url", "GOSLING_EXTERNAL_URL", "base URL of links sent to devices; default: from the request's Host")
	str(&cfg.DeviceAuth, "device-auth", "GOSLING_DEVICE_AUTH", "device authentication: open, tofu or strict")
	str(&cfg.LogLevel, "log-level", "GOSLING_LOG_LEVEL", "debug, info, warn or error")

	tenants := tenantList{list: cfg.Tenants}
	if v := getenv("GOSLING_TENANT"); v != "" {
		tenants.list = splitList(v)
	}
	fs.Var(&tenants, "tenant", "tenant name; repeat or comma-separate for several (GOSLING_TENANT)")

	poll := pollInterval{d: &cfg.PollInterval}
	if v := getenv("GOSLING_POLL_INTERVAL"); v != "" {
		if err := poll.Set(v); err != nil {
			return cfg, fmt.Errorf("GOSLING_POLL_INTERVAL: %w", err)
		}
	}
	fs.Var(poll, "poll-interval", "how long devices sleep between polls: 5m or 00:05:00 (GOSLING_POLL_INTERVAL)")

	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg.Tenants = tenants.list
	return cfg, cfg.Validate()
}

// tenantList is a repeatable flag whose first use replaces the default.
type tenantList struct {
	list []string
	set  bool
}

func (t *tenantList) String() string { return strings.Join(t.list, ",") }

func (t *tenantList) Set(v string) error {
	if !t.set {
		t.list, t.set = nil, true
	}
	t.list = append(t.list, splitList(v)...)
	return nil
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// pollInterval accepts Go durations (5m) and hawkBit's HH:MM:SS.
type pollInterval struct{ d *time.Duration }

func (p pollInterval) String() string {
	if p.d == nil {
		return ""
	}
	return p.d.String()
}

func (p pollInterval) Set(v string) error {
	d, err := parsePollInterval(v)
	if err != nil {
		return err
	}
	*p.d = d
	return nil
}

// parsePollInterval parses "5m", "90s" or "00:05:00".
func parsePollInterval(v string) (time.Duration, error) {
	if parts := strings.Split(v, ":"); len(parts) == 3 {
		var n [3]int
		for i, s := range parts {
			x, err := strconv.Atoi(s)
			if err != nil || x < 0 || (i > 0 && x > 59) || len(s) == 0 {
				return 0, fmt.Errorf("poll interval %q: want HH:MM:SS", v)
			}
			n[i] = x
		}
		return time.Duration(n[0])*time.Hour + time.Duration(n[1])*time.Minute + time.Duration(n[2])*time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("poll interval %q: want a duration like 5m or HH:MM:SS", v)
	}
	return d, nil
}
