package pgtest

import (
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// Cluster is a throwaway cluster owned by one test, for tests of what
// clients do while Postgres goes away and comes back: Stop, Start and
// Restart keep its data and its port, so clients reconnect to the same
// address. Unlike Start, it never uses GOSLING_TEST_DATABASE_URL: a test
// cannot restart a server it did not start.
//
// The cluster is durable against a server crash (synchronous_commit is
// on: a commit returns after its WAL has been written), so a test may
// check that what was acknowledged before a Stop or Kill is still there
// afterwards; fsync stays off, which only matters if the machine crashes.
//
// Its methods must be called from the goroutine running the test.
type Cluster struct {
	tb   testing.TB
	bin  string
	dir  string
	cred *syscall.Credential
	port int
	db   string

	mu  sync.Mutex
	srv *cluster // nil while stopped
}

// clusterSettings are the server settings of a Cluster (see its doc).
var clusterSettings = []string{"fsync=off", "synchronous_commit=on", "full_page_writes=on"}

// StartCluster initialises and starts a new cluster on a free loopback port
// with one empty database, "gosling", and returns it. The server is stopped
// and its directory removed when the test ends.
func StartCluster(tb testing.TB) *Cluster {
	tb.Helper()
	bin, dir, cred, err := initCluster()
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	c := &Cluster{tb: tb, bin: bin, dir: dir, cred: cred, db: "gosling"}
	tb.Cleanup(func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.srv != nil {
			c.srv.shutdown(syscall.SIGINT)
			c.srv = nil
		}
		if tb.Failed() {
			if log, err := os.ReadFile(c.dir + "/server.log"); err == nil {
				tb.Logf("pgtest: server log of the cluster on port %d:\n%s", c.port, tail(string(log), 60))
			}
		}
		os.RemoveAll(c.dir)
	})
	// A port found free may be taken before postgres binds it; try others.
	for attempt := 1; ; attempt++ {
		if c.port, err = freePort(); err != nil {
			tb.Fatalf("pgtest: %v", err)
		}
		if err = c.run(); err == nil {
			break
		}
		if attempt == 3 {
			tb.Fatalf("pgtest: %v", err)
		}
	}
	if err := adminExec(c.url("postgres"), "CREATE DATABASE "+c.db); err != nil {
		tb.Fatalf("pgtest: create database: %v", err)
	}
	return c
}

func (c *Cluster) run() error {
	srv, err := runServer(c.bin, c.dir, c.cred, c.port, clusterSettings)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.srv = srv
	c.mu.Unlock()
	return nil
}

func (c *Cluster) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, url.PathEscape(db))
}

// URL returns the postgres:// URL of the cluster's database. It stays the
// same across restarts.
func (c *Cluster) URL() string { return c.url(c.db) }

// Port returns the TCP port the cluster listens on, across restarts.
func (c *Cluster) Port() int { return c.port }

// Running reports whether the server is up (between Start and Stop).
func (c *Cluster) Running() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.srv != nil
}

// Stop shuts the server down the way `pg_ctl stop -m fast` does: clients
// are disconnected, open transactions roll back, and a checkpoint is
// written. It returns once the server has exited. Stopping a stopped
// cluster does nothing.
func (c *Cluster) Stop() {
	c.tb.Helper()
	c.halt(syscall.SIGINT)
}

// Kill stops the server the way `pg_ctl stop -m immediate` does, which
// looks like a crash: no checkpoint, and the next Start runs crash
// recovery from the WAL.
func (c *Cluster) Kill() {
	c.tb.Helper()
	c.halt(syscall.SIGQUIT)
}

func (c *Cluster) halt(sig syscall.Signal) {
	c.mu.Lock()
	srv := c.srv
	c.srv = nil
	c.mu.Unlock()
	if srv != nil {
		srv.shutdown(sig)
	}
}

// Start starts the stopped server again on the same port and returns when
// it accepts connections. Starting a running cluster does nothing.
func (c *Cluster) Start() {
	c.tb.Helper()
	if c.Running() {
		return
	}
	// Postgres binds with SO_REUSEADDR, so the old server's connections in
	// TIME_WAIT do not keep the port busy.
	if err := c.run(); err != nil {
		c.tb.Fatalf("pgtest: restart on port %d: %v", c.port, err)
	}
}

// Restart is Stop then Start: `pg_ctl restart -m fast`.
func (c *Cluster) Restart() {
	c.tb.Helper()
	c.Stop()
	c.Start()
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
