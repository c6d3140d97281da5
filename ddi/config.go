package ddi

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Device authentication policies (Config.DeviceAuth).
const (
	// AuthOpen needs no token; unknown devices register on their first
	// poll. Tokens that are sent anyway are accepted without checking, so a
	// fleet can be switched to tofu or strict without reconfiguring it.
	AuthOpen = "open"
	// AuthTOFU binds the first TargetToken a device presents (trust on
	// first use) and requires it from then on. A request without any token
	// is refused: a device that never sends one could never be protected.
	AuthTOFU = "tofu"
	// AuthStrict admits only pre-provisioned devices with their own
	// TargetToken, or any device presenting the tenant's GatewayToken
	// (which may register it).
	AuthStrict = "strict"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultPollInterval      = 5 * time.Minute
	DefaultMaxBodyBytes      = 256 << 10
	DefaultSeenFlushInterval = 10 * time.Second
	DefaultSeenResolution    = 30 * time.Second
	// DefaultCacheBytes holds 1,000,000 steady-state devices (~176 bytes
	// each, entry.cost) with half again as much headroom for entries that
	// carry an offer (~256 bytes) or an open action (~512 bytes) during a
	// rollout. It is a ceiling, not an allocation: the cache uses only what
	// the devices it holds cost, plus ristretto's admission counters, which
	// are sized by it (≈ 13 MB at this size; see l1.go).
	DefaultCacheBytes  = 256 << 20
	DefaultCacheTTL    = 10 * time.Minute
	DefaultMaxInFlight = 10000
)

// maxSleep is the longest sleep the poll answer may carry: SWUpdate parses
// "HH:MM:SS" with hours 00–23 and drops the whole answer otherwise.
const maxSleep = 23*time.Hour + 59*time.Minute + 59*time.Second

// Config configures the DDI frontline. Zero fields take the defaults above.
type Config struct {
	// Tenants are the tenants this frontline serves; requests for any
	// other tenant get 404.
	Tenants []string
	// PollInterval is the sleep announced to devices unless the tenant's
	// poll settings (schema.PollSettings) say otherwise. Longer than
	// 23:59:59 is announced as 23:59:59.
	PollInterval time.Duration
	// ExternalURL is the scheme://host[:port][/prefix] devices reach this
	// server at, used for the absolute hrefs of answers. "" builds them
	// from the request's Host header with scheme http.
	ExternalURL string
	// DeviceAuth is AuthOpen, AuthTOFU or AuthStrict ("" = AuthOpen).
	DeviceAuth string
	// MaxBodyBytes bounds request bodies (feedback, configData).
	MaxBodyBytes int
	// SeenFlushInterval is how often coalesced last-seen records are
	// written to the store.
	SeenFlushInterval time.Duration
	// SeenResolution is how exact a device's stored last-seen time and
	// address are: a device polling more often is recorded at most once
	// per SeenResolution (per frontline). Devices that poll every few
	// minutes, as fleets do, are recorded at every poll.
	SeenResolution time.Duration
	// CacheBytes bounds the per-device answer cache.
	CacheBytes int64
	// CacheTTL bounds how long a cached device or catalog may be served
	// without a fresh read, so a lost invalidation (pub/sub is lossy)
	// causes bounded staleness.
	CacheTTL time.Duration
	// MaxInFlight bounds requests in the handler at once; beyond it
	// devices get 429, which SWUpdate and rauc retry (a 503 they do not).
	MaxInFlight int
	// Registerer receives the frontline's metrics (gosling_ddi_* and the
	// L1 cache's gosling_cache_*{level="l1"}). Nil means a private
	// registry, so that tests can create servers in parallel.
	Registerer prometheus.Registerer
	// Now is the clock that maintenance windows are evaluated with (nil:
	// time.Now). Tests set it; it must be safe for concurrent use.
	Now func() time.Time
}

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.DeviceAuth == "" {
		c.DeviceAuth = AuthOpen
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.SeenResolution == 0 {
		c.SeenResolution = DefaultSeenResolution
	}
	if c.SeenFlushInterval == 0 {
		c.SeenFlushInterval = DefaultSeenFlushInterval
	}
	if c.CacheBytes == 0 {
		c.CacheBytes = DefaultCacheBytes
	}
	if c.CacheTTL == 0 {
		c.CacheTTL = DefaultCacheTTL
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Registerer == nil {
		c.Registerer = prometheus.NewRegistry()
	}
	c.ExternalURL = strings.TrimRight(c.ExternalURL, "/")
	return c
}

// Validate reports the first invalid setting. Zero values are valid (they
// mean the default).
func (c Config) Validate() error {
	if len(c.Tenants) == 0 {
		return errors.New("ddi: at least one tenant is required")
	}
	seen := make(map[string]bool, len(c.Tenants))
	for _, t := range c.Tenants {
		if t == "" || strings.ContainsAny(t, "/?#% \t\r\n\"\\") {
			return fmt.Errorf("ddi: invalid tenant name %q: must be non-empty without /?#%%, spaces or quotes", t)
		}
		if seen[t] {
			return fmt.Errorf("ddi: tenant %q listed twice", t)
		}
		seen[t] = true
	}
	if c.PollInterval < 0 {
		return fmt.Errorf("ddi: poll interval %s is negative", c.PollInterval)
	}
	switch c.DeviceAuth {
	case "", AuthOpen, AuthTOFU, AuthStrict:
	default:
		return fmt.Errorf("ddi: device auth %q: must be %q, %q or %q", c.DeviceAuth, AuthOpen, AuthTOFU, AuthStrict)
	}
	if c.ExternalURL != "" {
		u, err := url.Parse(c.ExternalURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("ddi: external URL %q: must be http(s)://host[:port][/prefix] without query", c.ExternalURL)
		}
		if strings.ContainsAny(c.ExternalURL, "\"\\<> ") {
			return fmt.Errorf("ddi: external URL %q contains characters that need escaping", c.ExternalURL)
		}
	}
	if c.MaxBodyBytes < 0 || (c.MaxBodyBytes > 0 && c.MaxBodyBytes < 4096) {
		return fmt.Errorf("ddi: max body bytes %d: must be at least 4096", c.MaxBodyBytes)
	}
	if c.MaxBodyBytes > 64<<20 {
		return fmt.Errorf("ddi: max body bytes %d: must be at most %d", c.MaxBodyBytes, 64<<20)
	}
	if c.SeenFlushInterval < 0 {
		return fmt.Errorf("ddi: seen flush interval %s is negative", c.SeenFlushInterval)
	}
	if c.SeenResolution < 0 {
		return fmt.Errorf("ddi: seen resolution %s is negative", c.SeenResolution)
	}
	if c.CacheBytes < 0 || (c.CacheBytes > 0 && c.CacheBytes < 1<<20) {
		return fmt.Errorf("ddi: cache bytes %d: must be at least 1 MiB", c.CacheBytes)
	}
	if c.CacheTTL < 0 {
		return fmt.Errorf("ddi: cache TTL %s is negative", c.CacheTTL)
	}
	if c.MaxInFlight < 0 {
		return fmt.Errorf("ddi: max in-flight %d is negative", c.MaxInFlight)
	}
	return nil
}

// FormatSleep renders a poll interval as DDI's "HH:MM:SS". Negative
// durations become 00:00:00 and anything from 24h on becomes 23:59:59,
// because SWUpdate rejects the whole poll answer when the hours are not
// 00–23. Sub-second remainders are dropped.
func FormatSleep(d time.Duration) string {
	return string(appendSleep(nil, d))
}

func appendSleep(dst []byte, d time.Duration) []byte {
	if d < 0 {
		d = 0
	}
	if d > maxSleep {
		d = maxSleep
	}
	secs := int(d / time.Second)
	h, m, s := secs/3600, secs/60%60, secs%60
	return append(dst,
		byte('0'+h/10), byte('0'+h%10), ':',
		byte('0'+m/10), byte('0'+m%10), ':',
		byte('0'+s/10), byte('0'+s%10))
}
