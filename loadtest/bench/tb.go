package bench

import (
	"fmt"
	"io"
	"os"
	"sync"
	"testing"
)

// harnessTB is the part of testing.TB that the throwaway-service helpers
// (schema/postgres/pgtest, cache/redistest) call, for use outside a test
// binary: Cleanup, TempDir, Helper, logging, and Fatal, which panics with
// a fatal value that scenario recovers. testing.TB has an unexported method,
// so the interface is embedded (nil); a method not listed here would
// panic with a nil dereference, which scenario reports like a Fatal.
type harnessTB struct {
	testing.TB

	name string
	log  io.Writer

	mu       sync.Mutex
	cleanups []func()
	failed   bool
}

// fatal is what harnessTB.Fatal panics with.
type fatal struct{ msg string }

func newHarnessTB(name string, log io.Writer) *harnessTB {
	return &harnessTB{name: name, log: log}
}

func (t *harnessTB) Name() string { return t.name }
func (t *harnessTB) Helper()      {}

func (t *harnessTB) Cleanup(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, f)
}

func (t *harnessTB) Failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failed
}

func (t *harnessTB) Log(args ...any) { fmt.Fprintf(t.log, "%s: %s", t.name, fmt.Sprintln(args...)) }
func (t *harnessTB) Logf(format string, args ...any) {
	fmt.Fprintf(t.log, "%s: %s\n", t.name, fmt.Sprintf(format, args...))
}

func (t *harnessTB) Error(args ...any) { t.fail(); t.Log(args...) }
func (t *harnessTB) Errorf(format string, args ...any) {
	t.fail()
	t.Logf(format, args...)
}

func (t *harnessTB) Fatal(args ...any) {
	t.fail()
	panic(fatal{fmt.Sprint(args...)})
}

func (t *harnessTB) Fatalf(format string, args ...any) {
	t.fail()
	panic(fatal{fmt.Sprintf(format, args...)})
}

func (t *harnessTB) FailNow() { t.Fatal("FailNow") }

func (t *harnessTB) fail() {
	t.mu.Lock()
	t.failed = true
	t.mu.Unlock()
}

// TempDir returns a new directory, removed by close.
func (t *harnessTB) TempDir() string {
	dir, err := os.MkdirTemp("", "gosling-bench-")
	if err != nil {
		t.Fatalf("temp dir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// close runs the cleanups, last registered first, like testing does.
func (t *harnessTB) close() {
	for {
		t.mu.Lock()
		n := len(t.cleanups)
		if n == 0 {
			t.mu.Unlock()
			return
		}
		f := t.cleanups[n-1]
		t.cleanups = t.cleanups[:n-1]
		t.mu.Unlock()
		f()
	}
}
