// Package redistest starts throwaway redis-server processes for tests.
//
// A test calls Start and gets a server on a free loopback port that lives
// until the test ends. Tests that need to see Redis disappear and come back
// (reconnects, degraded mode) use Kill and Restart, which keep the port so
// that clients reconnect to the same address.
//
// When GOSLING_TEST_REDIS_URL is set, Start returns that server instead
// (CI with a Redis service container); Kill and Restart then fail the test,
// since the helper cannot stop a server it did not start. Tests of outages
// use StartProcess, which always starts a process of their own. Tests
// sharing a server must keep apart by key prefix or channel name.
//
// A missing redis-server binary fails the test: integration tests must run
// in CI, so a missing service is a failure, never a skip.
package redistest

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// EnvURL names the environment variable that points tests at an existing
// Redis server instead of starting one.
const EnvURL = "GOSLING_TEST_REDIS_URL"

// startTimeout bounds how long a redis-server may take to accept PING.
const startTimeout = 10 * time.Second

// Server is a redis-server process owned by one test (or an external server
// named by GOSLING_TEST_REDIS_URL). Its methods must be called from the
// goroutine running the test that started it.
type Server struct {
	tb  testing.TB
	url string

	// Only for servers started here.
	bin  string
	dir  string
	port int

	mu     sync.Mutex
	cmd    *exec.Cmd
	log    *os.File
	exited chan struct{} // closed when cmd has exited
}

// Start returns a running Redis server that is stopped when tb ends: the
// one named by GOSLING_TEST_REDIS_URL if set, else a new process.
func Start(tb testing.TB) *Server {
	tb.Helper()
	if u := os.Getenv(EnvURL); u != "" {
		return &Server{tb: tb, url: u}
	}
	return StartProcess(tb)
}

// StartProcess starts a new redis-server process even when
// GOSLING_TEST_REDIS_URL is set, for tests that Kill and Restart it.
func StartProcess(tb testing.TB) *Server {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		tb.Fatalf("redistest: redis-server not found (%v): install redis-server: apt-get install redis-server", err)
	}
	s := &Server{tb: tb, bin: bin, dir: tb.TempDir()}
	tb.Cleanup(s.stop)

	// A free port can be taken by someone else between our probe and the
	// server's bind; try a few ports before giving up.
	var lastErr error
	for range 3 {
		if s.port, err = freePort(); err != nil {
			tb.Fatalf("redistest: find a free port: %v", err)
		}
		if lastErr = s.start(); lastErr == nil {
			s.url = "redis://" + s.Addr() + "/0"
			return s
		}
	}
	tb.Fatalf("redistest: %v", lastErr)
	return nil
}

// URL returns the server's redis:// URL (database 0).
func (s *Server) URL() string { return s.url }

// Addr returns host:port of a server started by Start, or the host:port of
// the external server's URL.
func (s *Server) Addr() string {
	if s.port != 0 {
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
	}
	opt, err := redis.ParseURL(s.url)
	if err != nil {
		s.tb.Fatalf("redistest: %s=%q: %v", EnvURL, s.url, err)
	}
	return opt.Addr
}

// Client returns a go-redis client for database db of the server, with short
// timeouts and no retries so that tests of outages run fast. It is closed
// when the test ends.
func (s *Server) Client(db int) *redis.Client {
	s.tb.Helper()
	opt, err := redis.ParseURL(s.url)
	if err != nil {
		s.tb.Fatalf("redistest: parse %q: %v", s.url, err)
	}
	opt.DB = db
	opt.DialTimeout = time.Second
	opt.ReadTimeout = time.Second
	opt.WriteTimeout = time.Second
	opt.MaxRetries = -1
	opt.DialerRetries = 1
	rdb := redis.NewClient(opt)
	s.tb.Cleanup(func() { rdb.Close() })
	return rdb
}

// Kill stops the server abruptly (SIGKILL), as a crash or a partition would
// look to clients. Its data is gone: the server runs without persistence.
func (s *Server) Kill() {
	s.tb.Helper()
	s.mustOwn("Kill")
	s.stop()
}

// Restart starts a killed server again on the same port.
func (s *Server) Restart() {
	s.tb.Helper()
	s.mustOwn("Restart")
	s.stop()
	// The port was ours a moment ago; redis-server binds with SO_REUSEADDR,
	// so TIME_WAIT connections do not keep it busy. Retry briefly anyway in
	// case the kernel has not released the listener yet.
	var err error
	for deadline := time.Now().Add(startTimeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if err = s.start(); err == nil {
			return
		}
	}
	s.tb.Fatalf("redistest: restart on port %d: %v", s.port, err)
}

func (s *Server) mustOwn(what string) {
	s.tb.Helper()
	if s.bin == "" {
		s.tb.Fatalf("redistest: %s needs a server started by redistest, but %s=%s is an external server; use StartProcess",
			what, EnvURL, s.url)
	}
}

// start runs redis-server on s.port and waits until it answers PING.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	logPath := filepath.Join(s.dir, "redis.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.bin,
		"--save", "",
		"--appendonly", "no",
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--dir", s.dir,
		"--daemonize", "no",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start redis-server: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()

	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-exited:
			logf.Close()
			out, _ := os.ReadFile(logPath)
			return fmt.Errorf("redis-server on port %d exited: %s", s.port, bytes.TrimSpace(out))
		default:
		}
		if ping(addr) == nil {
			s.cmd, s.log, s.exited = cmd, logf, exited
			return nil
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-exited
			logf.Close()
			out, _ := os.ReadFile(logPath)
			return fmt.Errorf("redis-server on port %d did not answer PING within %v: %s", s.port, startTimeout, bytes.TrimSpace(out))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop kills the server if it runs and waits for it to exit.
func (s *Server) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.exited
	s.log.Close()
	s.cmd, s.log, s.exited = nil, nil, nil
}

// ping sends one PING over a fresh connection.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
