package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// downloadScenario serves one .swu of ArtifactBytes payload from
// `gosling serve` (the DDI download link of a device it is assigned to)
// and from nginx (sendfile on, the same file in Gosling's artifact store),
// and measures the throughput DownloadClients concurrent clients get,
// whole file and in 1 MiB Range requests.
func (r *runner) downloadScenario(tb *harnessTB) {
	nginx := r.cfg.Nginx
	if nginx == "" {
		var err error
		if nginx, err = exec.LookPath("nginx"); err != nil {
			tb.Fatalf("nginx not found (%v): apt-get install -y nginx-light", err)
		}
	}
	dir := tb.TempDir()
	srv := r.startGosling(tb, "serve-download", goslingOpts{
		role: "serve", dataDir: filepath.Join(dir, "data"), token: "bench-admin-token",
		args: []string{"--device-auth", "open", "--poll-interval", "1h"},
	})
	t0 := time.Now()
	swID, swuPath := r.uploadSWU(tb, srv, dir, "9.0.0", r.cfg.ArtifactBytes)
	r.logf("wrote and uploaded %s in %s", swuPath, time.Since(t0).Round(time.Millisecond))
	fi, err := os.Stat(swuPath)
	check(tb, err, "stat .swu")
	size := fi.Size()
	check(tb, os.Remove(swuPath), "remove .swu") // Gosling keeps its own copy

	// A device the software is assigned to, and its download link.
	c := &http.Client{Timeout: 10 * time.Second}
	dev := srv.ddiURL + "/DEFAULT/controller/v1/dl-0"
	_, err = pollOnce(c, srv.ddiURL, "dl-0")
	check(tb, err, "register")
	status, body, err := ddi(c, "PUT", dev+"/configData", map[string]any{
		"status": map[string]any{"execution": "closed", "result": map[string]any{"finished": "success"}},
		"data":   map[string]string{"hw_model": "bench-board", "hw_revision": "1.0"}})
	if err != nil || status != http.StatusOK {
		tb.Fatalf("configData: %d %s %v", status, body, err)
	}
	check(tb, srv.admin("PATCH", "/api/v1/devices/dl-0", map[string]any{"update_mode": "assigned", "software_id": swID}, http.StatusOK, nil), "assign")
	a, err := pollOnce(c, srv.ddiURL, "dl-0")
	check(tb, err, "poll")
	if a.deployID() == 0 {
		tb.Fatalf("dl-0 is not offered the download software")
	}
	status, body, err = ddi(c, "GET", a.Links.DeploymentBase.Href, nil)
	if err != nil || status != http.StatusOK {
		tb.Fatalf("deploymentBase: %d %s %v", status, body, err)
	}
	var dep struct {
		Deployment struct {
			Chunks []struct {
				Artifacts []struct {
					Size   int64 `json:"size"`
					Hashes struct {
						SHA256 string `json:"sha256"`
					} `json:"hashes"`
					Links struct {
						Download struct{ Href string } `json:"download-http"`
					} `json:"_links"`
				} `json:"artifacts"`
			} `json:"chunks"`
		} `json:"deployment"`
	}
	check(tb, json.Unmarshal(body, &dep), "deploymentBase")
	if len(dep.Deployment.Chunks) == 0 || len(dep.Deployment.Chunks[0].Artifacts) == 0 {
		tb.Fatalf("deploymentBase without artifact: %s", body)
	}
	art := dep.Deployment.Chunks[0].Artifacts[0]
	if art.Size != size {
		tb.Fatalf("artifact size %d, uploaded %d", art.Size, size)
	}
	h := strings.ToLower(art.Hashes.SHA256)
	blob := filepath.Join(dir, "data", "artifacts", "sha256", h[:2], h)
	if _, err := os.Stat(blob); err != nil {
		tb.Fatalf("stored blob: %v", err)
	}
	ngx := r.startNginx(tb, nginx, filepath.Join(dir, "data", "artifacts"))
	nginxURL := ngx + "/sha256/" + h[:2] + "/" + h

	for _, mode := range []struct {
		name  string
		rng   int64
		label string
	}{{"whole", 0, fmt.Sprintf("whole %d MiB file", size>>20)}, {"range", 1 << 20, "1 MiB ranges"}} {
		// Alternate who goes first, so a drift in the machine's load
		// (other tenants, page cache) does not always favour one.
		var g, n DownloadResult
		if mode.rng == 0 {
			g = r.download(tb, art.Links.Download.Href, size, mode.rng)
			n = r.download(tb, nginxURL, size, mode.rng)
		} else {
			n = r.download(tb, nginxURL, size, mode.rng)
			g = r.download(tb, art.Links.Download.Href, size, mode.rng)
		}
		r.detail("download_"+mode.name, map[string]any{"gosling": g, "nginx": n})
		r.addRow(newRow(fmt.Sprintf("artifact download, %s, %d clients", mode.label, r.cfg.DownloadClients), g.MiBps, "MiB/s", n.MiBps, ratioAtLeast(0.9),
			fmt.Sprintf("Gosling %d requests, nginx %d (sendfile on)", g.Requests, n.Requests)))
	}
}

// DownloadResult is one download phase.
type DownloadResult struct {
	Requests int64   `json:"requests"`
	Bytes    int64   `json:"bytes"`
	Seconds  float64 `json:"seconds"`
	MiBps    float64 `json:"mib_per_s"`
}

// download runs DownloadClients clients against url for DownloadDuration:
// whole-file GETs (rng 0), or Range requests of rng bytes at random
// aligned offsets. Every answer's status and length are checked. The
// bodies are read into a reused buffer and dropped.
func (r *runner) download(tb *harnessTB, url string, size, rng int64) DownloadResult {
	tr := &http.Transport{MaxIdleConnsPerHost: r.cfg.DownloadClients, MaxConnsPerHost: r.cfg.DownloadClients, DisableCompression: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 2 * time.Minute}
	var (
		bytes, reqs atomic.Int64
		failed      atomic.Pointer[string]
		wg          sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(r.cfg.DownloadDuration)
	for i := range r.cfg.DownloadClients {
		wg.Go(func() {
			buf := make([]byte, 256<<10)
			rnd := rand.New(rand.NewPCG(uint64(i), 7))
			for time.Now().Before(deadline) && failed.Load() == nil && r.ctx.Err() == nil {
				req, _ := http.NewRequest("GET", url, nil)
				want, wantStatus := size, http.StatusOK
				if rng > 0 {
					off := rnd.Int64N(size/rng) * rng
					want, wantStatus = min(rng, size-off), http.StatusPartialContent
					req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+want-1))
				}
				resp, err := c.Do(req)
				if err != nil {
					msg := err.Error()
					failed.CompareAndSwap(nil, &msg)
					return
				}
				var n int64
				for {
					k, err := resp.Body.Read(buf)
					n += int64(k)
					if err == io.EOF {
						break
					}
					if err != nil {
						msg := err.Error()
						failed.CompareAndSwap(nil, &msg)
						break
					}
				}
				resp.Body.Close()
				bytes.Add(n)
				reqs.Add(1)
				if resp.StatusCode != wantStatus || n != want {
					msg := fmt.Sprintf("%s: status %d with %d bytes, want %d with %d", url, resp.StatusCode, n, wantStatus, want)
					failed.CompareAndSwap(nil, &msg)
					return
				}
			}
		})
	}
	wg.Wait()
	if msg := failed.Load(); msg != nil {
		tb.Fatalf("download: %s", *msg)
	}
	el := time.Since(start).Seconds()
	res := DownloadResult{Requests: reqs.Load(), Bytes: bytes.Load(), Seconds: el, MiBps: float64(bytes.Load()) / (1 << 20) / el}
	r.logf("download %s (range %d): %d requests, %.0f MiB/s", url, rng, res.Requests, res.MiBps)
	return res
}

// startNginx serves root on a free loopback port with sendfile, the way a
// CDN origin would, and returns its base URL.
func (r *runner) startNginx(tb *harnessTB, bin, root string) string {
	addr, err := freeAddr()
	check(tb, err, "free port")
	dir := tb.TempDir()
	conf := filepath.Join(dir, "nginx.conf")
	// user root: the artifact store lives under a 0700 temporary directory.
	text := fmt.Sprintf(`daemon off;
master_process on;
worker_processes auto;
user root;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 1024; }
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	keepalive_requests 100000;
	types { }
	default_type application/octet-stream;
	client_body_temp_path %[1]s/client;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	server {
		listen %[2]s;
		root %[3]s;
		location / { }
	}
}
`, dir, addr, root)
	check(tb, os.WriteFile(conf, []byte(text), 0o644), "nginx.conf")
	p, err := startProc("nginx", filepath.Join(r.logDir, "nginx.log"), bin, "-c", conf, "-p", dir, "-e", filepath.Join(dir, "error.log"))
	check(tb, err, "nginx")
	tb.Cleanup(p.stop)
	check(tb, waitHTTP(p, "http://"+addr+"/", 0, 10*time.Second), "nginx")
	return "http://" + addr
}
