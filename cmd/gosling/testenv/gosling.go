package testenv

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// build is the gosling binary shared by the test binary.
var build struct {
	once sync.Once
	path string
	err  error
}

// BuildGosling builds ./cmd/gosling of the module the test runs in, once per
// test binary, and returns the executable's path.
func BuildGosling(tb testing.TB) string {
	tb.Helper()
	dir := sharedDir(tb)
	build.once.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			build.err = err
			return
		}
		path := filepath.Join(dir, "gosling")
		cmd := exec.Command("go", "build", "-o", path, "./cmd/gosling")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("go build ./cmd/gosling: %v\n%s", err, out)
			return
		}
		build.path = path
	})
	if build.err != nil {
		tb.Fatalf("testenv: %v", build.err)
	}
	return build.path
}

// GoslingOpts configures StartGosling. The zero value is an open
// `gosling serve` telling devices to poll every second.
type GoslingOpts struct {
	// Role is the command: "serve" (default: admin and device API in one
	// process), "control" (admin API only) or "ddi" (device API only).
	// control and ddi need DatabaseURL and RedisURL.
	Role string
	// DatabaseURL is --database-url (Postgres), when set.
	DatabaseURL string
	// RedisURL is --redis-url, when set.
	RedisURL string
	// DeviceAuth is --device-auth: open, tofu or strict. Default: open.
	DeviceAuth string
	// PollInterval is --poll-interval. Default: 1s.
	PollInterval string
	// Tenant is --tenant, when set.
	Tenant string
	// ExternalURL is --external-url, when set.
	ExternalURL string
	// DataDir is --data-dir. Default: a new t.TempDir().
	DataDir string
	// AdminToken is --admin-token. Default: random.
	AdminToken string
	// Args are more arguments for the command, e.g. "--cache-ttl", "10m".
	Args []string
}

// Gosling is a running gosling process (serve, control or ddi).
type Gosling struct {
	// Role is the command it runs: serve, control or ddi.
	Role string
	// DDIURL is the device API's base URL ("http://127.0.0.1:port"), without
	// a trailing slash; "" for the control role.
	DDIURL string
	// AdminURL is the admin API's base URL, without a trailing slash; "" for
	// the ddi role.
	AdminURL string
	// MetricsURL is the ddi role's /metrics listener ("http://127.0.0.1:port");
	// "" for the other roles, which serve /metrics on the admin API.
	MetricsURL string
	// AdminToken is the admin API's bearer token.
	AdminToken string
	// DataDir is the server's data directory.
	DataDir string

	client *http.Client
	cmd    *exec.Cmd
	stderr lockedBuffer
	done   chan struct{}
	err    error // set before done is closed
}

// StartGosling builds (once) and starts gosling (opts.Role, default serve)
// on free loopback ports, and waits until it is ready: GET /healthz on the
// admin API answers 200, or, for the ddi role, which has no admin API, the
// device API answers HTTP at all. The process is stopped at cleanup; its
// stderr (the slog output) is logged if the test failed.
func StartGosling(tb testing.TB, opts GoslingOpts) *Gosling {
	tb.Helper()
	bin := BuildGosling(tb)
	switch opts.Role {
	case "":
		opts.Role = "serve"
	case "serve", "control", "ddi":
	default:
		tb.Fatalf("testenv: GoslingOpts.Role %q: want serve, control or ddi", opts.Role)
	}
	if opts.DeviceAuth == "" {
		opts.DeviceAuth = "open"
	}
	if opts.PollInterval == "" {
		opts.PollInterval = "1s"
	}
	if opts.DataDir == "" {
		opts.DataDir = tb.TempDir()
	}
	if opts.AdminToken == "" {
		opts.AdminToken = randomHex(16)
	}
	// A port found free may be taken before gosling binds it (parallel
	// tests do the same); then try other ports.
	for attempt := 1; ; attempt++ {
		g, err := startGosling(tb, bin, opts)
		if err == nil {
			return g
		}
		if attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			tb.Fatalf("testenv: %v", err)
		}
		tb.Logf("testenv: retrying on other ports: %v", err)
	}
}

// startGosling starts one gosling process and waits until it is healthy.
// An error means the process is gone.
func startGosling(tb testing.TB, bin string, opts GoslingOpts) (*Gosling, error) {
	hasDDI, hasAdmin := opts.Role != "control", opts.Role != "ddi"
	var ddiAddr, adminAddr string
	if hasDDI {
		ddiAddr = FreeAddr(tb)
	}
	if hasAdmin {
		adminAddr = FreeAddr(tb)
		for adminAddr == ddiAddr {
			adminAddr = FreeAddr(tb)
		}
	}
	args := []string{opts.Role,
		"--data-dir", opts.DataDir,
		"--poll-interval", opts.PollInterval,
	}
	if hasDDI {
		// Tests read last-seen times back within seconds of a poll.
		args = append(args, "--ddi-addr", ddiAddr, "--device-auth", opts.DeviceAuth, "--seen-resolution", "1s")
		if opts.ExternalURL != "" {
			args = append(args, "--external-url", opts.ExternalURL)
		}
	}
	if hasAdmin {
		args = append(args, "--admin-addr", adminAddr, "--admin-token", opts.AdminToken)
	}
	// A frontline serves /metrics on its own listener (default
	// 127.0.0.1:9464): every frontline of a topology, and every parallel
	// test, needs its own port. opts.Args come later and may override it.
	var metricsAddr string
	if opts.Role == "ddi" {
		metricsAddr = FreeAddr(tb)
		for metricsAddr == ddiAddr {
			metricsAddr = FreeAddr(tb)
		}
		args = append(args, "--metrics-addr", metricsAddr)
	}
	if opts.Tenant != "" {
		args = append(args, "--tenant", opts.Tenant)
	}
	if opts.DatabaseURL != "" {
		args = append(args, "--database-url", opts.DatabaseURL)
	}
	if opts.RedisURL != "" {
		args = append(args, "--redis-url", opts.RedisURL)
	}
	args = append(args, opts.Args...)

	g := &Gosling{
		Role:       opts.Role,
		AdminToken: opts.AdminToken,
		DataDir:    opts.DataDir,
		client:     newClient(),
		done:       make(chan struct{}),
	}
	if hasDDI {
		g.DDIURL = "http://" + ddiAddr
	}
	if hasAdmin {
		g.AdminURL = "http://" + adminAddr
	}
	if metricsAddr != "" {
		g.MetricsURL = "http://" + metricsAddr
	}
	g.cmd = exec.Command(bin, args...)
	g.cmd.Env = withoutGoslingEnv(os.Environ())
	g.cmd.Stdout, g.cmd.Stderr = &g.stderr, &g.stderr
	if err := g.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start gosling: %w", err)
	}
	go func() {
		g.err = g.cmd.Wait()
		close(g.done)
	}()

	// The admin API's /healthz answers once the process has opened its
	// backend. A frontline opens its backend before it listens, so any
	// HTTP answer of its device API (a 404 for /healthz) means ready.
	probe, want := g.AdminURL+"/healthz", http.StatusOK
	if !hasAdmin {
		probe, want = g.DDIURL+"/healthz", 0
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := g.client.Get(probe)
		if err == nil {
			resp.Body.Close()
			if want == 0 || resp.StatusCode == want {
				break
			}
		}
		select {
		case <-g.done:
			return nil, fmt.Errorf("gosling exited before it was healthy (%v):\n%s", g.err, g.Stderr())
		default:
		}
		if time.Now().After(deadline) {
			g.Stop()
			return nil, fmt.Errorf("gosling not healthy after 20s (last: %v, %v):\n%s", resp, err, g.Stderr())
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.Cleanup(func() {
		g.Stop()
		if tb.Failed() {
			tb.Logf("testenv: gosling %s output:\n%s", strings.Join(args, " "), tail(g.Stderr(), 400))
		}
	})
	return g, nil
}

// Stderr returns what the server logged so far.
func (g *Gosling) Stderr() string { return g.stderr.String() }

// WaitOutput waits until the server has logged substr, and fails the test
// if that takes longer than timeout or the process ends first.
func (g *Gosling) WaitOutput(tb testing.TB, substr string, timeout time.Duration) {
	tb.Helper()
	Eventually(tb, timeout, func() (bool, string) {
		if strings.Contains(g.Stderr(), substr) {
			return true, ""
		}
		if g.Exited() {
			tb.Fatalf("testenv: gosling %s exited (%v) before logging %q:\n%s", g.Role, g.err, substr, tail(g.Stderr(), 100))
		}
		return false, fmt.Sprintf("gosling %s never logged %q", g.Role, substr)
	})
}

// Exited reports whether the process has ended.
func (g *Gosling) Exited() bool {
	select {
	case <-g.done:
		return true
	default:
		return false
	}
}

// Stop ends the server with SIGTERM (a graceful shutdown), escalating to
// SIGKILL after 10s, and reaps it. It is safe to call more than once.
func (g *Gosling) Stop() {
	select {
	case <-g.done:
		return
	default:
	}
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.done:
	case <-time.After(10 * time.Second):
		_ = g.cmd.Process.Kill()
		<-g.done
	}
}

// Object is a decoded JSON object with lenient accessors for tests that
// should not break over a field's exact JSON type.
type Object map[string]any

// Str returns o[key] as a string: strings as they are, numbers and booleans
// formatted, nil and missing as "".
func (o Object) Str(key string) string {
	switch v := o[key].(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		return fmt.Sprint(int64(v))
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

// Int returns o[key] as an integer: JSON numbers and numeric strings; 0
// otherwise.
func (o Object) Int(key string) int64 {
	switch v := o[key].(type) {
	case float64:
		return int64(v)
	case string:
		var n int64
		fmt.Sscan(v, &n)
		return n
	}
	return 0
}

// Obj returns o[key] as an Object, or nil.
func (o Object) Obj(key string) Object {
	m, _ := o[key].(map[string]any)
	return m
}

// List returns the objects of the array o[key]; other elements are skipped.
func (o Object) List(key string) []Object {
	a, _ := o[key].([]any)
	var out []Object
	for _, e := range a {
		if m, ok := e.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// String returns o as JSON.
func (o Object) String() string {
	b, _ := json.Marshal(o)
	return string(b)
}

// Admin sends a request to the admin API with the bearer token. path starts
// with "/" and may carry a query. body is sent as is when it is []byte (as
// application/octet-stream, e.g. a .swu upload), omitted when nil, and
// JSON-encoded otherwise. The answer is decoded as a JSON object; a body that
// is not one is returned as Object{"_raw": text}.
func (g *Gosling) Admin(method, path string, body any) (int, Object, error) {
	var (
		rd    io.Reader
		ctype string
	)
	switch b := body.(type) {
	case nil:
	case []byte:
		rd, ctype = bytes.NewReader(b), "application/octet-stream"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return 0, nil, err
		}
		rd, ctype = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequest(method, g.AdminURL+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+g.AdminToken)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, err
	}
	var obj Object
	if json.Unmarshal(raw, &obj) != nil || obj == nil {
		obj = Object{"_raw": string(raw)}
	}
	return resp.StatusCode, obj, nil
}

// MustJSON is Admin that fails the test unless the answer has status want.
func (g *Gosling) MustJSON(tb testing.TB, want int, method, path string, body any) Object {
	tb.Helper()
	status, obj, err := g.Admin(method, path, body)
	if err != nil {
		tb.Fatalf("testenv: %s %s: %v", method, path, err)
	}
	if status != want {
		tb.Fatalf("testenv: %s %s: status %d, want %d: %s", method, path, status, want, obj)
	}
	return obj
}

// DDI sends a request to the device API, as a device would: path is relative
// to DDIURL (e.g. "/DEFAULT/controller/v1/dev-1"), body is JSON-encoded
// unless nil or []byte, and header holds name/value pairs (e.g.
// "Authorization", "TargetToken x"; pairs with an empty value are left
// out). It returns the status and body.
func (g *Gosling) DDI(tb testing.TB, method, path string, body any, header ...string) (int, []byte) {
	tb.Helper()
	status, raw, err := g.DDIRequest(method, path, body, header...)
	if err != nil {
		tb.Fatalf("testenv: DDI %s %s: %v", method, path, err)
	}
	return status, raw
}

// DDIRequest is DDI that returns transport errors instead of failing the
// test, for goroutines other than the test's and for requests expected to
// fail (a server that is down).
func (g *Gosling) DDIRequest(method, path string, body any, header ...string) (int, []byte, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, g.DDIURL+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Accept", "application/json")
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] != "" {
			req.Header.Set(header[i], header[i+1])
		}
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, err
	}
	return resp.StatusCode, raw, nil
}

// newClient returns the HTTP client of one Gosling: keep-alive connections
// enough for a handful of concurrent test goroutines (http.Transport keeps
// only two idle connections per host by default, and every further
// request would open, and leave in TIME_WAIT, a new connection).
func newClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 32
	return &http.Client{Timeout: 30 * time.Second, Transport: tr}
}

// lockedBuffer is a bytes.Buffer safe for the process's writes and the
// test's reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// withoutGoslingEnv drops GOSLING_* variables, so that the flags given by
// StartGosling are the whole configuration.
func withoutGoslingEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "GOSLING_") {
			out = append(out, kv)
		}
	}
	return out
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
