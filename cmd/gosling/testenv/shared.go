package testenv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// shared is the directory that lives as long as the test binary: it holds
// what is built or generated once per run (the gosling binary, the signing
// certificate). Run removes it.
var shared struct {
	once sync.Once
	dir  string
	err  error
}

// sharedDir returns the per-binary directory, creating it on first use.
func sharedDir(tb testing.TB) string {
	tb.Helper()
	shared.once.Do(func() {
		shared.dir, shared.err = os.MkdirTemp("", "gosling-testenv-")
	})
	if shared.err != nil {
		tb.Fatalf("testenv: shared directory: %v", shared.err)
	}
	return shared.dir
}

// Run runs the tests of m and then removes the directory shared by all of
// them. Call it from TestMain: os.Exit(testenv.Run(m)).
func Run(m *testing.M) int {
	code := m.Run()
	if shared.dir != "" {
		if err := os.RemoveAll(shared.dir); err != nil {
			fmt.Fprintf(os.Stderr, "testenv: %v\n", err)
		}
	}
	return code
}

// FreeAddr returns a loopback address ("127.0.0.1:port") that was free a
// moment ago. Another process may take it before the caller binds it; the
// window is small enough for tests.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("testenv: free port: %v", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		tb.Fatalf("testenv: free port: %v", err)
	}
	return addr
}

// FreePort returns a loopback TCP port that was free a moment ago (see
// FreeAddr).
func FreePort(tb testing.TB) int {
	tb.Helper()
	_, port, err := net.SplitHostPort(FreeAddr(tb))
	if err != nil {
		tb.Fatalf("testenv: free port: %v", err)
	}
	var n int
	if _, err := fmt.Sscanf(port, "%d", &n); err != nil {
		tb.Fatalf("testenv: free port %q: %v", port, err)
	}
	return n
}

// moduleRoot walks up from the working directory (a test runs in its
// package's directory) to the directory holding go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// shortTempDir makes a directory with a short path under the system temp
// dir, removed at cleanup. Unix socket paths are limited to 108 bytes, and
// t.TempDir's paths grow with the test's name.
func shortTempDir(tb testing.TB, prefix string) string {
	tb.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
