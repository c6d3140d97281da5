package testenv

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// ProxyOpts configures StartProxy.
type ProxyOpts struct {
	// CutAfter, when positive, breaks the first response to a request
	// matched by Cut: the status, the headers and CutAfter bytes of the body
	// are sent, then the connection is closed mid-body.
	CutAfter int64
	// Cut selects the request to break. Default: a GET of an artifact
	// (a path containing "/artifacts/", not ending in ".MD5SUM") without a
	// Range header.
	Cut func(*http.Request) bool
}

// ProxyRequest is one request the proxy forwarded.
type ProxyRequest struct {
	Method string
	URI    string
	Header http.Header
	// Status is the upstream's status code (0 if it could not be reached).
	Status int
	// Cut is true for the request whose response the proxy broke.
	Cut bool
}

// Proxy is a loopback HTTP proxy in front of a server, recording requests
// and able to break one download. It keeps the client's Host header, so a
// server that builds absolute links from Host (as Gosling does without
// --external-url) sends the client's later requests through the proxy too.
type Proxy struct {
	// URL is the proxy's base URL ("http://127.0.0.1:port").
	URL string

	upstream  string
	opts      ProxyOpts
	transport *http.Transport

	mu       sync.Mutex
	requests []ProxyRequest
	cut      bool
}

// StartProxy starts a proxy to upstream (a base URL such as Gosling.DDIURL)
// on a free loopback port; it is closed at cleanup.
func StartProxy(tb testing.TB, upstream string, opts ProxyOpts) *Proxy {
	tb.Helper()
	if opts.Cut == nil {
		opts.Cut = func(r *http.Request) bool {
			return r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/artifacts/") &&
				!strings.HasSuffix(r.URL.Path, ".MD5SUM") && r.Header.Get("Range") == ""
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("testenv: proxy: %v", err)
	}
	p := &Proxy{
		URL:      "http://" + l.Addr().String(),
		upstream: strings.TrimSuffix(upstream, "/"),
		opts:     opts,
		// No transparent gzip: it would change lengths and drop Range
		// semantics the test wants to observe.
		transport: &http.Transport{DisableCompression: true},
	}
	srv := &http.Server{Handler: p}
	go srv.Serve(l)
	tb.Cleanup(func() {
		srv.Close()
		p.transport.CloseIdleConnections()
		if tb.Failed() {
			var b strings.Builder
			for _, r := range p.Requests() {
				fmt.Fprintf(&b, "%s %s Range=%q → %d cut=%v\n", r.Method, r.URI, r.Header.Get("Range"), r.Status, r.Cut)
			}
			tb.Logf("testenv: requests through the proxy to %s:\n%s", p.upstream, b.String())
		}
	})
	return p
}

// Requests returns the requests forwarded so far, in arrival order.
func (p *Proxy) Requests() []ProxyRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]ProxyRequest(nil), p.requests...)
}

// ServeHTTP forwards one request.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := ProxyRequest{Method: r.Method, URI: r.RequestURI, Header: r.Header.Clone()}
	p.mu.Lock()
	cut := p.opts.CutAfter > 0 && !p.cut && p.opts.Cut(r)
	if cut {
		p.cut = true
	}
	p.mu.Unlock()
	rec.Cut = cut
	defer func() {
		p.mu.Lock()
		p.requests = append(p.requests, rec)
		p.mu.Unlock()
	}()

	out, err := http.NewRequestWithContext(r.Context(), r.Method, p.upstream+r.RequestURI, r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	out.Header = r.Header.Clone()
	out.Host = r.Host
	out.ContentLength = r.ContentLength
	resp, err := p.transport.RoundTrip(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	rec.Status = resp.StatusCode
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	if !cut {
		_, _ = io.Copy(w, resp.Body)
		return
	}
	_, err = io.CopyN(w, resp.Body, p.opts.CutAfter)
	if err != nil && !errors.Is(err, io.EOF) {
		return
	}
	w.(http.Flusher).Flush()
	// Closing the connection without finishing the body is what the
	// client sees of a network failure mid-download.
	panic(http.ErrAbortHandler)
}
