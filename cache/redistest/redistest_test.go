package redistest_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/gosling-ota/gosling/cache/redistest"
)

func TestKillRestart(t *testing.T) {
	srv := redistest.StartProcess(t)
	rdb := srv.Client(0)
	ctx := t.Context()
	if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	url := srv.URL()
	srv.Kill()
	if err := rdb.Ping(ctx).Err(); err == nil {
		t.Fatal("PING answered after Kill")
	}
	srv.Restart()
	if srv.URL() != url {
		t.Fatalf("URL changed from %s to %s", url, srv.URL())
	}
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING after Restart: %v", err)
	}
	// No persistence: a restart starts empty.
	if n := rdb.Exists(ctx, "k").Val(); n != 0 {
		t.Fatal("data survived a restart")
	}
}

// TestMissingBinary runs this test binary again with an empty PATH: Start
// must fail the test (not skip it) and say how to install the server.
func TestMissingBinary(t *testing.T) {
	if os.Getenv("REDISTEST_CHILD") == "1" {
		redistest.StartProcess(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestMissingBinary$", "-test.v")
	cmd.Env = append(os.Environ(), "REDISTEST_CHILD=1", "PATH=/nonexistent")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("child passed without redis-server:\n%s", out)
	}
	if !strings.Contains(string(out), "install redis-server: apt-get install redis-server") ||
		!strings.Contains(string(out), "--- FAIL: TestMissingBinary") || strings.Contains(string(out), "SKIP") {
		t.Fatalf("child output:\n%s", out)
	}
}
