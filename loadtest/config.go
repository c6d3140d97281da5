package loadtest

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// Auth modes (Config.Auth).
const (
	AuthNone    = "none"    // no Authorization header
	AuthTarget  = "target"  // "TargetToken " + TokenFor(TokenSecret, id)
	AuthGateway = "gateway" // "GatewayToken " + GatewayToken
)

// Download modes (Config.Download).
const (
	DownloadNone  = "none"  // skip the artifact
	DownloadFull  = "full"  // one GET of the whole artifact
	DownloadRange = "range" // consecutive Range requests of RangeSize bytes
)

// Defaults applied by Run to zero Config fields.
const (
	DefaultTenant      = "DEFAULT"
	DefaultDevices     = 1000
	DefaultIDPrefix    = "loadgen-"
	DefaultConcurrency = 64
	DefaultTimeout     = 10 * time.Second
	DefaultRangeSize   = 1 << 20
	DefaultHWModel     = "loadgen-board"
	DefaultHWRevision  = "1.0"
	DefaultSWVersion   = "0.0.1"

	// MaxDevices bounds Config.Devices: device indices are uint32 and the
	// poll heap holds 8 bytes per device.
	MaxDevices = 1 << 28
	// MaxConcurrency bounds Config.Concurrency (workers and connections).
	MaxConcurrency = 4096
)

// Config configures Run. Zero fields take the defaults above.
//
// The load model is chosen by Rate and PollInterval: Rate > 0 is an open
// model (arrivals per second across the fleet, independent of how fast the
// server answers, devices visited round robin); PollInterval > 0 makes
// every device poll again PollInterval ± Jitter % after its previous visit
// ended, like a real client; neither is a closed model where every worker
// starts the next visit as soon as its last one ended (saturation).
type Config struct {
	// Target is the server's base URL, e.g. "http://127.0.0.1:8080"
	// (a path prefix is kept). Only loopback hosts unless AllowRemote.
	Target string
	// AllowRemote permits a Target (and hrefs) that are not loopback.
	AllowRemote bool
	// Tenant is the DDI tenant.
	Tenant string
	// Devices is the fleet size; device i is IDPrefix + decimal i.
	Devices  int
	IDPrefix string

	// Rate is the open model's arrival rate in visits per second.
	Rate float64
	// PollInterval is each device's sleep between visits, varied by
	// ±Jitter percent (0–100) uniformly.
	PollInterval time.Duration
	Jitter       float64

	// Duration bounds the run's length; MaxRequests bounds the number of
	// HTTP requests sent. At least one must be set unless RegisterOnly.
	Duration    time.Duration
	MaxRequests int64
	// Concurrency is the number of workers, each with at most one request
	// in flight, and the connection limit of the client.
	Concurrency int
	// Timeout bounds each request, including reading a download's body.
	Timeout time.Duration

	// Auth is AuthNone, AuthTarget or AuthGateway.
	Auth         string
	TokenSecret  string // AuthTarget: tokens are TokenFor(TokenSecret, id)
	GatewayToken string // AuthGateway

	// HWModel, HWRevision and SWVersion are the configData attributes
	// (hw_model, hw_revision, sw_version) devices report.
	HWModel    string
	HWRevision string
	SWVersion  string

	// Download is DownloadNone, DownloadFull or DownloadRange;
	// RangeSize is the size of each Range request.
	Download  string
	RangeSize int64
	// FailRate is the share of devices (0–1) whose installs fail: they
	// post closed/failure instead of closed/success. Which devices fail is
	// a function of Seed and the device index.
	FailRate float64
	// Seed makes failures and jitter reproducible.
	Seed uint64

	// RegisterOnly visits every device exactly once (poll, then PUT
	// configData whether asked or not) and ends.
	RegisterOnly bool
}

// Mode names the load model of c: "register", "rate", "interval" or
// "closed".
func (c *Config) Mode() string {
	switch {
	case c.RegisterOnly:
		return "register"
	case c.Rate > 0:
		return "rate"
	case c.PollInterval > 0:
		return "interval"
	}
	return "closed"
}

func (c Config) withDefaults() Config {
	if c.Tenant == "" {
		c.Tenant = DefaultTenant
	}
	if c.Devices == 0 {
		c.Devices = DefaultDevices
	}
	if c.IDPrefix == "" {
		c.IDPrefix = DefaultIDPrefix
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Auth == "" {
		c.Auth = AuthNone
	}
	if c.Download == "" {
		c.Download = DownloadNone
	}
	if c.RangeSize == 0 {
		c.RangeSize = DefaultRangeSize
	}
	if c.HWModel == "" {
		c.HWModel = DefaultHWModel
	}
	if c.HWRevision == "" {
		c.HWRevision = DefaultHWRevision
	}
	if c.SWVersion == "" {
		c.SWVersion = DefaultSWVersion
	}
	c.Target = strings.TrimRight(c.Target, "/")
	return c
}

// Validate reports the first invalid setting of c (after defaults), naming
// the limit.
func (c *Config) Validate() error {
	if _, err := parseTarget(c.Target, c.AllowRemote); err != nil {
		return err
	}
	switch {
	case c.Tenant == "" || strings.ContainsAny(c.Tenant, "/?#% "):
		return fmt.Errorf("loadtest: tenant %q: must be non-empty without /?#%% or spaces", c.Tenant)
	case c.Devices < 1 || c.Devices > MaxDevices:
		return fmt.Errorf("loadtest: devices %d: must be 1–%d", c.Devices, MaxDevices)
	case strings.ContainsAny(c.IDPrefix, "/?#% \t\r\n"):
		return fmt.Errorf("loadtest: id prefix %q: must not contain /?#%% or spaces", c.IDPrefix)
	case c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0):
		return fmt.Errorf("loadtest: rate %v: must be a positive number", c.Rate)
	case c.Rate > 0 && c.PollInterval > 0:
		return errors.New("loadtest: set either a rate (open model) or a poll interval, not both")
	case c.PollInterval < 0:
		return fmt.Errorf("loadtest: poll interval %s is negative", c.PollInterval)
	case c.PollInterval > 0 && c.PollInterval < time.Millisecond:
		return fmt.Errorf("loadtest: poll interval %s: must be at least 1ms", c.PollInterval)
	case c.PollInterval > 24*time.Hour:
		return fmt.Errorf("loadtest: poll interval %s: must be at most 24h", c.PollInterval)
	case c.Jitter < 0 || c.Jitter > 100 || math.IsNaN(c.Jitter):
		return fmt.Errorf("loadtest: jitter %v%%: must be 0–100", c.Jitter)
	case c.Duration < 0:
		return fmt.Errorf("loadtest: duration %s is negative", c.Duration)
	case c.MaxRequests < 0:
		return fmt.Errorf("loadtest: max requests %d is negative", c.MaxRequests)
	case c.Duration == 0 && c.MaxRequests == 0 && !c.RegisterOnly:
		return errors.New("loadtest: set a duration or a request limit (or register-only), so the run ends by itself")
	case c.Concurrency < 1 || c.Concurrency > MaxConcurrency:
		return fmt.Errorf("loadtest: concurrency %d: must be 1–%d", c.Concurrency, MaxConcurrency)
	case c.Timeout < 0:
		return fmt.Errorf("loadtest: timeout %s is negative", c.Timeout)
	case c.FailRate < 0 || c.FailRate > 1 || math.IsNaN(c.FailRate):
		return fmt.Errorf("loadtest: fail rate %v: must be 0–1", c.FailRate)
	case c.RangeSize < 1:
		return fmt.Errorf("loadtest: range size %d: must be at least 1", c.RangeSize)
	}
	switch c.Auth {
	case AuthNone:
	case AuthTarget:
		if c.TokenSecret == "" {
			return errors.New("loadtest: target-token auth needs a token secret")
		}
	case AuthGateway:
		if c.GatewayToken == "" {
			return errors.New("loadtest: gateway-token auth needs a gateway token")
		}
	default:
		return fmt.Errorf("loadtest: auth %q: must be %q, %q or %q", c.Auth, AuthNone, AuthTarget, AuthGateway)
	}
	switch c.Download {
	case DownloadNone, DownloadFull, DownloadRange:
	default:
		return fmt.Errorf("loadtest: download %q: must be %q, %q or %q", c.Download, DownloadNone, DownloadFull, DownloadRange)
	}
	for _, a := range []struct{ name, v string }{{"hw_model", c.HWModel}, {"hw_revision", c.HWRevision}, {"sw_version", c.SWVersion}} {
		if len(a.v) > 128 {
			return fmt.Errorf("loadtest: %s is longer than 128 bytes", a.name)
		}
	}
	return nil
}

// target is a parsed Config.Target.
type target struct {
	base string // scheme://host[:port][/prefix], no trailing slash
	host string // host[:port] as in the URL
}

// parseTarget checks a base URL: http(s), a host, no query, and a
// loopback host (localhost or a loopback IP; no DNS lookup) unless
// allowRemote.
func parseTarget(raw string, allowRemote bool) (target, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return target{}, fmt.Errorf("loadtest: target %q: want http(s)://host[:port][/prefix]", raw)
	}
	if !allowRemote && !isLoopback(u.Hostname()) {
		return target{}, fmt.Errorf("loadtest: target %q is not a loopback address; refusing without AllowRemote (--allow-remote)", raw)
	}
	return target{base: strings.TrimRight(raw, "/"), host: u.Host}, nil
}

// isLoopback reports whether a URL host name is localhost or a loopback IP.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}
