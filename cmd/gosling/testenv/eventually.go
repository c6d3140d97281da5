package testenv

import (
	"testing"
	"time"
)

// Eventually calls cond every 200ms until it reports true, and fails the test
// with cond's last message if that has not happened within timeout. It is
// meant for waits on real external processes (a swupdate poll, an install),
// not for asserting speed: give timeouts with ample headroom.
func Eventually(tb testing.TB, timeout time.Duration, cond func() (ok bool, msg string)) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, msg := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("testenv: not true after %s: %s", timeout, msg)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
