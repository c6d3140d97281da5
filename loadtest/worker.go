package loadtest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// worker runs visits one at a time with its own reusable request and
// response objects, buffers and statistics: nothing on its path is shared
// except the client's connection pool and the run's stop signals.
type worker struct {
	r    *runner
	st   *workerStats
	req  *fasthttp.Request
	resp *fasthttp.Response
	dl   *fasthttp.Response // StreamBody: downloads are read and discarded in chunks
	tok  *tokenWriter       // nil unless AuthTarget

	base  []byte // the device's controller base URL
	id    []byte // the device id: a tail of base
	auth  []byte // Authorization value, or empty
	uri   []byte
	body  []byte
	now   []byte // formatted time for bodies
	rng   []byte // Range header value
	chunk []byte // download read buffer
}

func newWorker(r *runner, st *workerStats) *worker {
	w := &worker{
		r: r, st: st,
		req:   new(fasthttp.Request),
		resp:  new(fasthttp.Response),
		dl:    new(fasthttp.Response),
		base:  make([]byte, 0, len(r.pollPrefix)+16),
		body:  make([]byte, 0, 512),
		chunk: make([]byte, 64<<10),
	}
	switch r.cfg.Auth {
	case AuthTarget:
		w.tok = newTokenWriter(r.cfg.TokenSecret)
	case AuthGateway:
		w.auth = append([]byte("GatewayToken "), r.cfg.GatewayToken...)
	}
	return w
}

func (w *worker) run() {
	for j := range w.r.jobs {
		if !w.r.stopped() {
			w.st.lag.Record(time.Since(w.r.start) - j.due)
			w.st.visits++
			w.visit(j.dev)
		}
		if w.r.busy != nil {
			w.r.release(j.dev)
		} else {
			w.r.completions <- j.dev // buffered for every device in circulation
		}
	}
}

// setDevice points the worker at device dev: base URL, id and token.
func (w *worker) setDevice(dev uint32) {
	w.base = strconv.AppendUint(append(w.base[:0], w.r.pollPrefix...), uint64(dev), 10)
	w.id = w.base[len(w.r.pollPrefix)-len(w.r.cfg.IDPrefix):]
	if w.tok != nil {
		w.auth = w.tok.append(append(w.auth[:0], "TargetToken "...), w.id)
	}
}

// visit is one poll cycle of a device, in SWUpdate's order: poll;
// configData when asked (always when registering); then a cancel if one
// is offered, else a deployment. Any failed step ends the visit, leaving
// the server's state as a real client would (the next visit retries).
func (w *worker) visit(dev uint32) {
	w.setDevice(dev)
	if !w.do(opPoll, fasthttp.MethodGet, w.base, nil, fasthttp.StatusOK) {
		return
	}
	body := w.resp.Body()
	if !bytes.Contains(body, []byte(`"sleep"`)) {
		w.st.ops[opPoll].errs[errBody]++
		return
	}
	if w.r.cfg.RegisterOnly {
		w.uri = append(append(w.uri[:0], w.base...), "/configData"...)
		w.putConfigData(w.uri)
		return
	}
	// The answer without work, nearly every poll, is decided here without
	// decoding (and without allocating).
	if !bytes.Contains(body, []byte(`"_links"`)) {
		return
	}
	var p pollLinks
	if err := json.Unmarshal(body, &p); err != nil {
		w.st.ops[opPoll].errs[errBody]++
		return
	}
	if h := p.Links.ConfigData.Href; h != "" {
		if !w.hrefOK(opConfigData, h) || !w.putConfigData(append(w.uri[:0], h...)) {
			return
		}
	}
	switch {
	case p.Links.CancelAction.Href != "":
		w.cancel(p.Links.CancelAction.Href)
	case p.Links.DeploymentBase.Href != "":
		w.deploy(dev, p.Links.DeploymentBase.Href)
	}
}

func (w *worker) putConfigData(uri []byte) bool {
	w.now = time.Now().AppendFormat(w.now[:0], timeLayout)
	w.body = appendConfigData(w.body[:0], w.r.configData, w.now)
	if !w.do(opConfigData, fasthttp.MethodPut, uri, w.body, fasthttp.StatusOK) {
		return false
	}
	w.st.outcome.Registered++
	return true
}

// deploy follows a deploymentBase link: GET it, feedback proceeding, the
// optional download, then closed with success or (for failing devices)
// failure.
func (w *worker) deploy(dev uint32, href string) {
	if !w.hrefOK(opDeployment, href) || !w.do(opDeployment, fasthttp.MethodGet, append(w.uri[:0], href...), nil, fasthttp.StatusOK) {
		return
	}
	var d deploymentAnswer
	if err := json.Unmarshal(w.resp.Body(), &d); err != nil {
		w.st.ops[opDeployment].errs[errBody]++
		return
	}
	id, ok := actionID(d.ID)
	if !ok {
		w.st.ops[opDeployment].errs[errBody]++
		return
	}
	// Feedback goes to the href without its query, plus "/feedback".
	fb, _, _ := strings.Cut(href, "?")
	fb += "/feedback"
	if !w.feedback(opFeedback, fb, id, "proceeding", "none", detailsInstall) {
		return
	}
	if w.r.cfg.Download != DownloadNone {
		if len(d.Deployment.Chunks) == 0 || len(d.Deployment.Chunks[0].Artifacts) == 0 {
			w.st.ops[opDeployment].errs[errBody]++
			return
		}
		if !w.download(d.Deployment.Chunks[0].Artifacts[0]) {
			return
		}
	}
	if failing(w.r.cfg.Seed, w.r.failCut, dev) {
		if w.feedback(opFeedback, fb, id, "closed", "failure", detailsFailure) {
			w.st.outcome.Failed++
		}
		return
	}
	if w.feedback(opFeedback, fb, id, "closed", "success", detailsSuccess) {
		w.st.outcome.Succeeded++
	}
}

// cancel follows a cancelAction link and acknowledges the cancel.
func (w *worker) cancel(href string) {
	if !w.hrefOK(opCancel, href) || !w.do(opCancel, fasthttp.MethodGet, append(w.uri[:0], href...), nil, fasthttp.StatusOK) {
		return
	}
	var c cancelAnswer
	if err := json.Unmarshal(w.resp.Body(), &c); err != nil {
		w.st.ops[opCancel].errs[errBody]++
		return
	}
	id, ok := actionID(c.ID)
	if !ok {
		w.st.ops[opCancel].errs[errBody]++
		return
	}
	if w.feedback(opCancel, href+"/feedback", id, "closed", "success", detailsCancel) {
		w.st.outcome.Canceled++
	}
}

func (w *worker) feedback(op int, uri string, id int64, execution, finished, details string) bool {
	w.now = time.Now().AppendFormat(w.now[:0], timeLayout)
	w.body = appendFeedback(w.body[:0], id, w.now, execution, finished, details)
	return w.do(op, fasthttp.MethodPost, append(w.uri[:0], uri...), w.body, fasthttp.StatusOK)
}

// download fetches an artifact whole or in Range requests of RangeSize,
// discarding the bytes but checking how many arrived.
func (w *worker) download(a artifact) bool {
	href := a.Links.DownloadHTTP.Href
	if href == "" {
		href = a.Links.Download.Href
	}
	if href == "" || a.Size < 0 {
		w.st.ops[opDeployment].errs[errBody]++
		return false
	}
	if !w.hrefOK(opDownload, href) {
		return false
	}
	if w.r.cfg.Download == DownloadFull {
		return w.fetch(href, -1, a.Size)
	}
	for off := int64(0); off < a.Size; off += w.r.cfg.RangeSize {
		end := min(off+w.r.cfg.RangeSize, a.Size) - 1
		if !w.fetch(href, off, end) {
			return false
		}
	}
	return true
}

// fetch GETs href and reads the body into a reused buffer, counting the
// bytes. With off ≥ 0 it asks for "Range: bytes=off-last" and wants 206
// with last-off+1 bytes; with off < 0 it wants 200 and last is the whole
// file's size.
func (w *worker) fetch(href string, off, last int64) bool {
	if !w.r.claim() {
		return false
	}
	want, status := last+1-max(off, 0), fasthttp.StatusPartialContent
	if off < 0 {
		want, status = last, fasthttp.StatusOK // last is the size here
	}
	req := w.req
	req.Reset()
	req.Header.SetMethod(fasthttp.MethodGet)
	req.SetRequestURI(href)
	req.Header.Set(fasthttp.HeaderAccept, "application/octet-stream")
	if len(w.auth) > 0 {
		req.Header.SetBytesV(fasthttp.HeaderAuthorization, w.auth)
	}
	if off >= 0 {
		w.rng = strconv.AppendInt(append(strconv.AppendInt(append(w.rng[:0], "bytes="...), off, 10), '-'), last, 10)
		req.Header.SetBytesV(fasthttp.HeaderRange, w.rng)
	}
	w.dl.StreamBody = true
	s := &w.st.ops[opDownload]
	s.count++
	t0 := time.Now()
	err := w.r.client.Do(req, w.dl)
	var n int64
	if err == nil {
		n, err = w.drain()
	}
	s.hist.Record(time.Since(t0))
	s.bytes += uint64(n)
	switch {
	case err != nil:
		s.errs[transportKind(err)]++
	case w.dl.StatusCode() != status:
		s.errs[statusKind(w.dl.StatusCode())]++
	case n != want:
		s.errs[errBody]++
	default:
		return true
	}
	return false
}

// drain reads and discards the download body, returning its length.
func (w *worker) drain() (int64, error) {
	defer w.dl.CloseBodyStream()
	st := w.dl.BodyStream()
	if st == nil {
		return int64(len(w.dl.Body())), nil
	}
	var n int64
	for {
		k, err := st.Read(w.chunk)
		n += int64(k)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// do sends one JSON-style request and counts it under op; true when the
// answer has status want (its body is then in w.resp).
func (w *worker) do(op int, method string, uri, body []byte, want int) bool {
	if !w.r.claim() {
		return false
	}
	req := w.req
	req.Reset()
	req.Header.SetMethod(method)
	req.SetRequestURIBytes(uri)
	req.Header.Set(fasthttp.HeaderAccept, "application/json")
	if len(w.auth) > 0 {
		req.Header.SetBytesV(fasthttp.HeaderAuthorization, w.auth)
	}
	if body != nil {
		req.Header.SetContentType("application/json")
		req.SetBodyRaw(body)
	}
	s := &w.st.ops[op]
	s.count++
	t0 := time.Now()
	err := w.r.client.Do(req, w.resp)
	s.hist.Record(time.Since(t0))
	if err != nil {
		s.errs[transportKind(err)]++
		return false
	}
	if code := w.resp.StatusCode(); code != want {
		s.errs[statusKind(code)]++
		return false
	}
	return true
}

// hrefOK checks that a link from the server points at the target host or
// another loopback host (or AllowRemote); otherwise it counts an
// off-target error for op and the link is not followed.
func (w *worker) hrefOK(op int, href string) bool {
	u, err := url.Parse(href)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		w.st.ops[op].count++
		w.st.ops[op].errs[errBody]++
		return false
	case u.Host == w.r.tgt.host || w.r.cfg.AllowRemote || isLoopback(u.Hostname()):
		return true
	}
	w.st.ops[op].count++
	w.st.ops[op].errs[errOffTarget]++
	return false
}
