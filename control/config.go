package control

import (
	"fmt"
	"regexp"
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
}

// withDefaults returns a copy of c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.MaxUploadBytes == 0 {
		c.MaxUploadBytes = DefaultMaxUploadBytes
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
	return nil
}
