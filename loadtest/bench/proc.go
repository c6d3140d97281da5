package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is a child process whose output goes to a log file.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string // path of the combined stdout/stderr
	done chan struct{}
	err  error // set before done is closed
}

// startProc starts bin with args, output appended to logPath. The child
// gets SIGKILL if the bench dies (Pdeathsig), so nothing outlives a ^C.
func startProc(name, logPath, bin string, args ...string) (*proc, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = withoutGoslingEnv(os.Environ())
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

// PID is the process id.
func (p *proc) PID() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, escalates to SIGKILL after 10s, and reaps.
func (p *proc) stop() {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// output returns the last n lines the process logged.
func (p *proc) output(n int) string {
	b, _ := os.ReadFile(p.log)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (p *proc) logged(substr string) bool {
	b, _ := os.ReadFile(p.log)
	return bytes.Contains(b, []byte(substr))
}

// rss returns the resident set size (VmRSS of /proc/PID/status) in bytes.
func (p *proc) rss() (int64, error) { return rssOf(p.PID()) }

func rssOf(pid int) (int64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS in /proc/" + strconv.Itoa(pid) + "/status")
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// waitHTTP polls url until it answers (any status if want is 0), the
// process exits, or timeout passes.
func waitHTTP(p *proc, url string, want int, timeout time.Duration) error {
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for {
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			if want == 0 || resp.StatusCode == want {
				return nil
			}
		}
		if p.exited() {
			return fmt.Errorf("%s exited (%v) before %s answered:\n%s", p.name, p.err, url, p.output(30))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %s not ready after %s (%v):\n%s", p.name, url, timeout, err, p.output(30))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// withoutGoslingEnv drops GOSLING_* variables, so the flags are the whole
// configuration of a started gosling.
func withoutGoslingEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "GOSLING_") {
			out = append(out, kv)
		}
	}
	return out
}

// gosling is a running gosling role.
type gosling struct {
	*proc
	ddiURL   string // "" for control
	adminURL string // "" for ddi
	token    string // admin bearer token
}

// goslingOpts configures startGosling.
type goslingOpts struct {
	role    string // serve, control or ddi
	dataDir string
	token   string
	args    []string // more flags, e.g. --device-auth, --database-url
}

// startGosling starts a gosling role on free loopback ports, registers
// its stop with tb, and waits until it is ready: /healthz on the admin API,
// or any HTTP answer of the device API for the ddi role.
func (r *runner) startGosling(tb *harnessTB, name string, o goslingOpts) *gosling {
	hasDDI, hasAdmin := o.role != "control", o.role != "ddi"
	args := []string{o.role, "--data-dir", o.dataDir, "--log-level", "warn"}
	g := &gosling{token: o.token}
	if hasDDI {
		a, err := freeAddr()
		if err != nil {
			tb.Fatalf("%v", err)
		}
		args = append(args, "--ddi-addr", a)
		g.ddiURL = "http://" + a
	}
	if hasAdmin {
		a, err := freeAddr()
		if err != nil {
			tb.Fatalf("%v", err)
		}
		args = append(args, "--admin-addr", a, "--admin-token", o.token)
		g.adminURL = "http://" + a
	}
	args = append(args, o.args...)
	p, err := startProc(name, filepath.Join(r.logDir, name+".log"), r.cfg.Bin, args...)
	if err != nil {
		tb.Fatalf("%v", err)
	}
	g.proc = p
	tb.Cleanup(p.stop)
	r.logf("started %s (pid %d): %s %s", name, p.PID(), r.cfg.Bin, strings.Join(args, " "))
	probe, want := g.adminURL+"/healthz", http.StatusOK
	if !hasAdmin {
		probe, want = g.ddiURL+"/healthz", 0
	}
	if err := waitHTTP(p, probe, want, 30*time.Second); err != nil {
		tb.Fatalf("%v", err)
	}
	return g
}
