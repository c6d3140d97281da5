package testenv

import (
	"testing"
	"time"
)

// TopologyOpts configures StartTopology.
type TopologyOpts struct {
	// DatabaseURL and RedisURL are what every process uses (required).
	DatabaseURL, RedisURL string
	// Frontlines is the number of `gosling ddi` processes. Default: 2.
	Frontlines int
	// PollInterval is --poll-interval of every process. Default: 1s.
	PollInterval string
	// CacheTTL is the frontlines' --cache-ttl. Default: the product's.
	CacheTTL string
	// DeviceAuth is the frontlines' --device-auth. Default: open.
	DeviceAuth string
	// ControlArgs and DDIArgs are more arguments for the control plane and
	// for every frontline.
	ControlArgs, DDIArgs []string
}

// Topology is the production shape of Gosling: one `gosling control` (the
// admin API, which migrated the database) and N `gosling ddi` frontlines on
// one Postgres database and one Redis. All processes share one data
// directory, so that the frontlines serve the artifacts the control plane
// stores (a shared volume in production).
type Topology struct {
	Control    *Gosling
	Frontlines []*Gosling
}

// subscribedLog is what a process logs once its Redis invalidation
// subscription is established (cache.RedisBus).
const subscribedLog = "invalidation subscription established"

// StartTopology starts the control plane, waits until it is ready (its
// migrations are applied before its admin API listens), then starts the
// frontlines. It returns when every process is ready and subscribed to the
// invalidation channel, so that no write the test makes afterwards can be
// missed by a process that was still connecting. Every process is stopped
// at cleanup.
func StartTopology(tb testing.TB, opts TopologyOpts) *Topology {
	tb.Helper()
	if opts.DatabaseURL == "" || opts.RedisURL == "" {
		tb.Fatal("testenv: StartTopology needs DatabaseURL and RedisURL")
	}
	if opts.Frontlines == 0 {
		opts.Frontlines = 2
	}
	dataDir, token := tb.TempDir(), randomHex(16)
	base := GoslingOpts{
		DatabaseURL:  opts.DatabaseURL,
		RedisURL:     opts.RedisURL,
		PollInterval: opts.PollInterval,
		DataDir:      dataDir,
		AdminToken:   token,
		DeviceAuth:   opts.DeviceAuth,
	}
	top := &Topology{}
	c := base
	c.Role, c.Args = "control", opts.ControlArgs
	top.Control = StartGosling(tb, c)
	for range opts.Frontlines {
		f := base
		f.Role, f.Args = "ddi", opts.DDIArgs
		if opts.CacheTTL != "" {
			f.Args = append([]string{"--cache-ttl", opts.CacheTTL}, f.Args...)
		}
		top.Frontlines = append(top.Frontlines, StartGosling(tb, f))
	}
	for _, g := range top.All() {
		g.WaitOutput(tb, subscribedLog, 10*time.Second)
	}
	return top
}

// All returns the control plane followed by the frontlines.
func (t *Topology) All() []*Gosling {
	return append([]*Gosling{t.Control}, t.Frontlines...)
}
