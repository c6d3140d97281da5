package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Config is everything a gosling role needs, with its defaults in
// defaultConfig. Flags override GOSLING_* environment variables, which
// override the defaults. Each role registers only the flags it uses.
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

	// DatabaseURL selects Postgres; empty means the SQLite file in DataDir.
	DatabaseURL string
	// RedisURL selects Redis as L2 cache and invalidation bus; empty means
	// the in-process bus (one process only).
	RedisURL string
	// CacheBytes and CacheTTL bound a frontline's in-memory poll cache.
	CacheBytes int64
	CacheTTL   time.Duration
	// SeenResolution is how exact stored last-seen times are for devices
	// that poll more often (see ddi.Config.SeenResolution).
	SeenResolution time.Duration
	// MetricsAddr is where the ddi role serves /metrics (the roles with
	// an admin API serve it there). Never the device listener: metrics
	// are for the operator's network. Empty disables it.
	MetricsAddr string
	// MetricsAddrSet reports that MetricsAddr was given (flag or
	// environment). Only then is failing to listen on it fatal: with the
	// default, the second frontline on one host serves no metrics and
	// says so, rather than refusing to start.
	MetricsAddrSet bool
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
		CacheBytes:   256 << 20, // a million devices; see ddi.DefaultCacheBytes
		CacheTTL:     10 * time.Minute,
		MetricsAddr:  "127.0.0.1:9464",
		// SeenResolution 0: ddi.DefaultSeenResolution.
	}
}

// role says which parts a command runs; it decides flags and validation.
type role struct {
	name  string
	ddi   bool // serves devices
	admin bool // serves operators
	// needURLs: the role only makes sense against Postgres and Redis.
	needURLs bool
}

var (
	roleServe   = role{name: "serve", ddi: true, admin: true}
	roleControl = role{name: "control", admin: true, needURLs: true}
	roleDDI     = role{name: "ddi", ddi: true, needURLs: true}
	roleMigrate = role{name: "migrate"}
)

// maxPollInterval keeps the sleep a device is told below 24 h: SWUpdate
// drops a poll answer whose hours are not 00–23.
const maxPollInterval = 24*time.Hour - time.Second

// Validate reports the first setting that cannot work for r, naming the limit.
func (c *Config) Validate(r role) error {
	switch {
	case c.DataDir == "":
		return errors.New("--data-dir must not be empty")
	case r.ddi && c.DDIAddr == "":
		return errors.New("--ddi-addr must not be empty")
	case r.admin && c.AdminAddr == "":
		return errors.New("--admin-addr must not be empty")
	case len(c.Tenants) == 0:
		return errors.New("at least one --tenant is needed")
	case c.PollInterval < time.Second || c.PollInterval > maxPollInterval:
		return fmt.Errorf("--poll-interval %s is outside 1s..23:59:59", c.PollInterval)
	case r.needURLs && c.DatabaseURL == "":
		return fmt.Errorf("gosling %s needs --database-url (Postgres)", r.name)
	case r.needURLs && c.RedisURL == "":
		return fmt.Errorf("gosling %s needs --redis-url: frontlines learn about writes through Redis", r.name)
	case c.CacheBytes < 1<<20:
		return fmt.Errorf("--cache-bytes %d is below the 1 MiB minimum", c.CacheBytes)
	case c.CacheTTL < time.Second:
		return fmt.Errorf("--cache-ttl %s is below the 1s minimum", c.CacheTTL)
	case c.SeenResolution != 0 && (c.SeenResolution < time.Second || c.SeenResolution > time.Hour):
		return fmt.Errorf("--seen-resolution %s is outside 1s..1h", c.SeenResolution)
	case r.ddi && !r.admin && c.MetricsAddr != "" && c.MetricsAddr == c.DDIAddr:
		return errors.New("--metrics-addr must differ from --ddi-addr: metrics are never served to devices")
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
	if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		return errors.New("--database-url: want a postgres:// URL")
	}
	if c.RedisURL != "" && !strings.HasPrefix(c.RedisURL, "redis://") && !strings.HasPrefix(c.RedisURL, "rediss://") {
		return errors.New("--redis-url: want a redis:// URL")
	}
	return nil
}

// parseFlags fills a Config for role r from defaults, the environment and args.
func parseFlags(r role, args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	cfg := defaultConfig()
	fs := flag.NewFlagSet("gosling "+r.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var envErr error
	bind := func(v flag.Value, name, env, usage string) {
		if s := getenv(env); s != "" {
			if err := v.Set(s); err != nil && envErr == nil {
				envErr = fmt.Errorf("%s: %w", env, err)
			}
		}
		fs.Var(v, name, usage+" ("+env+")")
	}
	str := func(p *string, name, env, usage string) { bind((*stringValue)(p), name, env, usage) }

	str(&cfg.DataDir, "data-dir", "GOSLING_DATA_DIR", "directory for the SQLite database, artifacts and the admin token")
	str(&cfg.DatabaseURL, "database-url", "GOSLING_DATABASE_URL", "Postgres URL; empty: SQLite in the data dir")
	str(&cfg.LogLevel, "log-level", "GOSLING_LOG_LEVEL", "debug, info, warn or error")
	tenants := &tenantList{list: cfg.Tenants}
	bind(tenants, "tenant", "GOSLING_TENANT", "tenant name; repeat or comma-separate for several")
	if r != roleMigrate {
		str(&cfg.RedisURL, "redis-url", "GOSLING_REDIS_URL", "Redis URL for the shared cache and invalidations; empty: in-process")
		bind(pollInterval{&cfg.PollInterval}, "poll-interval", "GOSLING_POLL_INTERVAL", "how long devices sleep between polls: 5m or 00:05:00")
	}
	if r.admin {
		str(&cfg.AdminAddr, "admin-addr", "GOSLING_ADMIN_ADDR", "listen address of the admin API")
		str(&cfg.AdminToken, "admin-token", "GOSLING_ADMIN_TOKEN", "admin API bearer token; generated and kept in the data dir when unset")
	}
	if r.ddi {
		str(&cfg.DDIAddr, "ddi-addr", "GOSLING_DDI_ADDR", "listen address of the device (DDI) API")
		str(&cfg.ExternalURL, "external-url", "GOSLING_EXTERNAL_URL", "base URL of links sent to devices; default: from the request's Host")
		str(&cfg.DeviceAuth, "device-auth", "GOSLING_DEVICE_AUTH", "device authentication: open, tofu or strict")
		bind((*int64Value)(&cfg.CacheBytes), "cache-bytes", "GOSLING_CACHE_BYTES", "memory bound of the in-process poll cache")
		bind((*durationValue)(&cfg.CacheTTL), "cache-ttl", "GOSLING_CACHE_TTL", "longest time a cached poll answer is trusted without an invalidation")
		bind((*durationValue)(&cfg.SeenResolution), "seen-resolution", "GOSLING_SEEN_RESOLUTION", "record a device's last-seen time at most this often (default 30s)")
	}
	if r.ddi && !r.admin {
		str(&cfg.MetricsAddr, "metrics-addr", "GOSLING_METRICS_ADDR", "listen address of /metrics (Prometheus); empty: none")
	}
	if envErr != nil {
		return cfg, envErr
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg.Tenants = tenants.list
	fs.Visit(func(f *flag.Flag) { cfg.MetricsAddrSet = cfg.MetricsAddrSet || f.Name == "metrics-addr" })
	cfg.MetricsAddrSet = cfg.MetricsAddrSet || getenv("GOSLING_METRICS_ADDR") != ""
	return cfg, cfg.Validate(r)
}

type stringValue string

func (s *stringValue) String() string     { return string(*s) }
func (s *stringValue) Set(v string) error { *s = stringValue(v); return nil }

type int64Value int64

func (n *int64Value) String() string { return strconv.FormatInt(int64(*n), 10) }
func (n *int64Value) Set(v string) error {
	x, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return fmt.Errorf("%q is not a whole number", v)
	}
	*n = int64Value(x)
	return nil
}

type durationValue time.Duration

func (d *durationValue) String() string { return time.Duration(*d).String() }
func (d *durationValue) Set(v string) error {
	x, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("%q is not a duration like 30s or 10m", v)
	}
	*d = durationValue(x)
	return nil
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
