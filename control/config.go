package control

import (
	"fmt"
	"regexp"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultMaxUploadBytes is the largest .swu accepted when Config.MaxUploadBytes
// is zero: 2 GiB, the size of a generous root filesystem image.
const DefaultMaxUploadBytes int64 = 2 << 30

// minAdminTokenLen keeps the admin token out of guessing range; it guards
// every device and every software of every tenant.
const minAdminTokenLen = 16

// tenantRE is the shape of a tenant name. Tenants appear in DDI paths
// (/{tenant}/controller/v1/…), so they must be URL-safe.
var tenantRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// Config configures the admin API.
type Config struct {
	// Tenants are the tenants the API serves; the first is the default for
	// requests without ?tenant=. At least one is required.
	Tenants []string
	// AdminToken is the bearer token every non-public endpoint requires.
	// At least 16 characters.
	AdminToken string
	// MaxUploadBytes limits the size of an uploaded .swu. Zero means
	// DefaultMaxUploadBytes.
	MaxUploadBytes int64

	// TickInterval is how often the rollout engine (Run) evaluates the
	// running rollouts. Zero means DefaultTickInterval.
	TickInterval time.Duration
	// PopulationTTL is how long the engine reuses a rollout's enumerated
	// population (the buckets of its targeted devices) before it lists the
	// devices again. Device writes made through this API drop it at once.
	// Zero means DefaultPopulationTTL.
	PopulationTTL time.Duration
	// StreamRecheck is how often a Server-Sent Events stream re-reads the
	// store even without an invalidation (the bus may lose messages), and
	// StreamHeartbeat how often it sends a comment to keep proxies from
	// closing an idle stream. Zero means the defaults (5 s and 15 s).
	StreamRecheck   time.Duration
	StreamHeartbeat time.Duration

	// Registerer receives the API's and the engine's metrics, and Gatherer
	// is what GET /metrics serves. When Gatherer is nil and Registerer is a
	// prometheus.Gatherer (a *prometheus.Registry), it serves that; when
	// both are nil, a private registry is used.
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer

	// Now is the engine's clock (StartAt, wave OpenedAt, the metrics'
	// one-hour window for final rollouts). Nil means time.Now; tests set it.
	Now func() time.Time
}

// Defaults of Config's zero fields.
const (
	DefaultTickInterval    = time.Second
	DefaultPopulationTTL   = 30 * time.Second
	DefaultStreamRecheck   = 5 * time.Second
	DefaultStreamHeartbeat = 15 * time.Second
)

// withDefaults returns a copy of c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.MaxUploadBytes == 0 {
		c.MaxUploadBytes = DefaultMaxUploadBytes
	}
	if c.TickInterval == 0 {
		c.TickInterval = DefaultTickInterval
	}
	if c.PopulationTTL == 0 {
		c.PopulationTTL = DefaultPopulationTTL
	}
	if c.StreamRecheck == 0 {
		c.StreamRecheck = DefaultStreamRecheck
	}
	if c.StreamHeartbeat == 0 {
		c.StreamHeartbeat = DefaultStreamHeartbeat
	}
	if c.Registerer == nil && c.Gatherer == nil {
		reg := prometheus.NewRegistry()
		c.Registerer, c.Gatherer = reg, reg
	}
	if c.Gatherer == nil {
		if g, ok := c.Registerer.(prometheus.Gatherer); ok {
			c.Gatherer = g
		} else {
			c.Gatherer = prometheus.NewRegistry() // serves nothing: the caller exposes its own registry
		}
	}
	if c.Registerer == nil {
		c.Registerer = prometheus.NewRegistry() // registered metrics are not served
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	c.Tenants = append([]string(nil), c.Tenants...)
	return c
}

// Validate reports the first problem of c, after defaults are applied.
func (c Config) Validate() error {
	c = c.withDefaults()
	if len(c.Tenants) == 0 {
		return fmt.Errorf("control: at least one tenant is required")
	}
	seen := make(map[string]bool, len(c.Tenants))
	for _, t := range c.Tenants {
		if !tenantRE.MatchString(t) {
			return fmt.Errorf("control: tenant %q: want 1-64 characters of A-Z a-z 0-9 _ . - starting with a letter or digit", t)
		}
		if seen[t] {
			return fmt.Errorf("control: tenant %q is listed twice", t)
		}
		seen[t] = true
	}
	if len(c.AdminToken) < minAdminTokenLen {
		return fmt.Errorf("control: admin token must have at least %d characters, has %d", minAdminTokenLen, len(c.AdminToken))
	}
	if c.MaxUploadBytes < 0 {
		return fmt.Errorf("control: max upload bytes must not be negative, is %d", c.MaxUploadBytes)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"tick interval", c.TickInterval}, {"population TTL", c.PopulationTTL}, {"stream recheck", c.StreamRecheck}, {"stream heartbeat", c.StreamHeartbeat}} {
		if d.v < 10*time.Millisecond {
			return fmt.Errorf("control: %s must be at least 10ms, is %s", d.name, d.v)
		}
	}
	return nil
}
