// Package pgtest gives tests a fresh, empty Postgres database.
//
// With GOSLING_TEST_DATABASE_URL set (CI with a Postgres service, a
// developer's server), every Start creates a new database on that server.
// Otherwise the first Start of a test binary runs a throwaway cluster from
// the local PostgreSQL installation (Debian: apt-get install postgresql,
// binaries under /usr/lib/postgresql/<major>/bin) and every Start creates a
// new database in it. A missing Postgres fails the test; it never skips.
//
// # The throwaway cluster
//
// initdb writes a trust-authenticated cluster into a new temporary
// directory, and postgres serves it on a free 127.0.0.1 port (the Unix
// socket lives in the same directory) with fsync, synchronous_commit and
// full_page_writes off: test data need not survive a crash, and that makes
// it several times faster.
//
// Postgres refuses to run as root. When the tests run as root (containers,
// CI), initdb and postgres run as the "postgres" system user, which the
// Debian package creates, and the temporary directory is chowned to it; the
// switch is done by the kernel at exec (SysProcAttr.Credential), the same as
// runuser -u postgres, without needing runuser.
//
// Tests that stop and restart Postgres use StartCluster instead: a cluster
// of their own, durable across a crash, that keeps its port (see Cluster).
//
// One cluster serves the whole test binary. Packages stop it and remove its
// directory from TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// Without that, the server is still stopped when the test binary exits (it
// gets SIGQUIT through the parent-death signal, even after a panic or a test
// timeout), but its temporary directory is left behind; the next run removes
// such leftovers.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the variable that points the tests at an existing server.
// Its user must be allowed to create databases.
const EnvURL = "GOSLING_TEST_DATABASE_URL"

// dirPrefix names the temporary directories of throwaway clusters.
const dirPrefix = "gosling-pgtest-"

var (
	once    sync.Once
	cl      *cluster
	startEr error
)

// Start returns the URL of a new, empty database, dropped again when the
// test ends. The first call of a test binary may take a few seconds to
// start a cluster; later calls take milliseconds.
func Start(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv(EnvURL)
	if base == "" {
		once.Do(func() { cl, startEr = startCluster() })
		if startEr != nil {
			tb.Fatalf("pgtest: %v", startEr)
		}
		base = cl.url("postgres")
	}
	u, err := createDatabase(base)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	tb.Cleanup(func() {
		if err := dropDatabase(base, u); err != nil {
			tb.Errorf("pgtest: %v", err)
		}
	})
	return u
}

// Main runs the tests and then stops the cluster Start may have started.
// Call it from TestMain; it does not return.
func Main(m *testing.M) {
	code := m.Run()
	if err := Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// Stop stops the throwaway cluster, if one runs, and removes its directory.
// Start must not be called afterwards.
func Stop() error {
	if cl == nil {
		return nil
	}
	return cl.stop()
}

// Databases.

// createDatabase creates a uniquely named database on the server of base and
// returns base pointing at it.
func createDatabase(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("%s must be a postgres:// URL", EnvURL)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "gosling_test_" + hex.EncodeToString(b[:])
	if err := adminExec(base, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("create database: %w", err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

// dropDatabase drops the database of u, closing any connection the test
// left open.
func dropDatabase(base, u string) error {
	p, err := url.Parse(u)
	if err != nil {
		return err
	}
	name := strings.TrimPrefix(p.Path, "/")
	if err := adminExec(base, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

func adminExec(base, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// The throwaway cluster.

type cluster struct {
	dir  string // temporary directory: data/, the socket, the server log
	port int
	cmd  *exec.Cmd
	done chan struct{} // closed when the server exits
	err  error         // the server's exit status, after done
}

func (c *cluster) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, db)
}

const installHint = "install postgresql: apt-get install postgresql (or set " + EnvURL + ")"

// binDir finds the directory of initdb and postgres: the newest
// /usr/lib/postgresql/<major>/bin, else the directory of initdb on PATH.
func binDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return majorOf(b) - majorOf(a) })
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if p, err = filepath.EvalSymlinks(p); err == nil && isExec(filepath.Join(filepath.Dir(p), "postgres")) {
			return filepath.Dir(p), nil
		}
	}
	return "", errors.New("no PostgreSQL server binaries (initdb, postgres) under /usr/lib/postgresql/*/bin or on PATH; " + installHint)
}

func majorOf(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// serverUser returns the credential to run initdb and postgres with: nil
// (this process's) unless running as root, then the postgres user's.
func serverUser() (*syscall.Credential, int, int, error) {
	if os.Geteuid() != 0 {
		return nil, -1, -1, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, 0, 0, fmt.Errorf("running as root, and postgres refuses to; no \"postgres\" user to run it as (%v); %s", err, installHint)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, uid, gid, nil
}

func startCluster() (*cluster, error) {
	bin, dir, cred, err := initCluster()
	if err != nil {
		return nil, err
	}
	// The free port is found by binding :0 and closing it again, so another
	// process may grab it before postgres does; try a few ports.
	var lastErr error
	for range 3 {
		port, err := freePort()
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		c, err := runServer(bin, dir, cred, port, fastSettings)
		if err == nil {
			return c, nil
		}
		lastErr = err
	}
	os.RemoveAll(dir)
	return nil, lastErr
}

// initCluster writes a new trust-authenticated cluster into a new temporary
// directory (removed again on error) and returns the server binaries'
// directory, the cluster directory and the credential to run the server
// with.
func initCluster() (bin, dir string, cred *syscall.Credential, err error) {
	bin, err = binDir()
	if err != nil {
		return "", "", nil, err
	}
	cred, uid, gid, err := serverUser()
	if err != nil {
		return "", "", nil, err
	}
	removeStale()
	dir, err = os.MkdirTemp("", dirPrefix)
	if err != nil {
		return "", "", nil, err
	}
	// owner.pid lets a later run tell that this directory is abandoned.
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		os.RemoveAll(dir)
		return "", "", nil, err
	}
	if cred != nil {
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return "", "", nil, fmt.Errorf("chown %s to postgres: %w", dir, err)
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres",
		"--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync")
	initdb.Dir = dir // the server user may not be able to enter our working directory
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", "", nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	return bin, dir, cred, nil
}

// fastSettings trade durability for speed: the shared cluster's data need
// not survive anything.
var fastSettings = []string{"fsync=off", "synchronous_commit=off", "full_page_writes=off"}

// runServer starts postgres on the cluster in dir, listening on port, with
// settings (name=value) added to the command line, and waits until it
// accepts connections. The server log is appended to dir/server.log.
func runServer(bin, dir string, cred *syscall.Credential, port int, settings []string) (*cluster, error) {
	logPath := filepath.Join(dir, "server.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	if cred != nil {
		_ = logf.Chown(int(cred.Uid), int(cred.Gid))
	}
	args := []string{
		"-D", filepath.Join(dir, "data"),
		"-p", strconv.Itoa(port),
		"-k", dir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "max_connections=500",
		"-c", "shared_buffers=64MB",
	}
	for _, kv := range settings {
		args = append(args, "-c", kv)
	}
	cmd := exec.Command(filepath.Join(bin, "postgres"), args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: cred,
		// SIGQUIT (immediate shutdown) if the test binary dies without
		// calling Stop; the kernel applies it after the credential switch.
		Pdeathsig: syscall.SIGQUIT,
		Setpgid:   true, // keep ^C in the terminal from reaching it first
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	c := &cluster{dir: dir, port: port, cmd: cmd, done: make(chan struct{})}
	go func() { c.err = cmd.Wait(); close(c.done) }()

	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, c.url("postgres"))
		if err == nil {
			conn.Close(ctx)
			cancel()
			return c, nil
		}
		cancel()
		select {
		case <-c.done:
			log, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("postgres exited during start-up (%v):\n%s", c.err, log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = c.stop()
			log, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("postgres not ready after 60s: %v\n%s", err, log)
		}
	}
}

// stop shuts the server down (see shutdown) and removes the directory.
func (c *cluster) stop() error {
	c.shutdown(syscall.SIGINT)
	return os.RemoveAll(c.dir)
}

// shutdown sends sig (SIGINT: fast shutdown, disconnect clients and
// checkpoint; SIGQUIT: immediate shutdown, crash recovery at the next
// start), escalates to SIGQUIT and SIGKILL, and waits until the server
// has exited.
func (c *cluster) shutdown(sig syscall.Signal) {
	_ = c.cmd.Process.Signal(sig)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// removeStale removes the directories of clusters whose test binary is gone
// (it died without calling Stop; its server died with it).
func removeStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "owner.pid"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(string(b))
		if err != nil || pid <= 0 {
			continue
		}
		// Signal 0 checks existence; ESRCH means the owner is gone.
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			// The server may still be shutting down; its postmaster.pid
			// names it. Leave the directory for a later run if so.
			if pidAlive(filepath.Join(d, "data", "postmaster.pid")) {
				continue
			}
			os.RemoveAll(d)
		}
	}
}

// pidAlive reports whether the process named on the first line of a pid
// file exists.
func pidAlive(pidFile string) bool {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || pid <= 0 {
		return false
	}
	return syscall.Kill(pid, 0) == nil || errors.Is(syscall.Kill(pid, 0), syscall.EPERM)
}
