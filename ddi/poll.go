package ddi

import (
	"net/netip"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/gosling-ota/gosling/schema"
)

// scratch is a pooled buffer for the poll path: the cache key and the
// rendered answer. Pooling pointers keeps Get/Put allocation-free.
type scratch struct {
	key  []byte
	body []byte
}

var scratchPool = sync.Pool{New: func() any {
	return &scratch{key: make([]byte, 0, 128), body: make([]byte, 0, 1024)}
}}

// poll answers GET /{tenant}/controller/v1/{id}. tenant and id alias
// request memory.
//
// Hit path (cached device, authorized, nothing to create): one map lookup
// for the tenant, one key hash, one cache lookup, two generation loads and
// the request's clock reading to check the entry, a token hash when the policy needs one,
// append-rendering into a pooled buffer (the device's sleep is
// pre-rendered in its entry), and a last-seen note in memory. No store
// I/O and no allocation.
//
// start is when the request arrived (time.Now); with the real clock it
// doubles as the poll's "now", which saves a clock read on the hit path
// (time.Now costs tens of ns, a sizeable share of a hit).
func (s *Server) poll(ctx *fasthttp.RequestCtx, tenant, id []byte, start time.Time) {
	ts := s.tenants[string(tenant)] // the compiler does not allocate for this lookup
	if ts == nil {
		s.notFound(ctx, "unknown tenant")
		return
	}
	if !validDeviceID(id) {
		s.notFound(ctx, "unknown device")
		return
	}
	base, ok := s.baseURL(ctx)
	if !ok {
		s.badRequest(ctx, "a valid Host header is required")
		return
	}
	c := parseCred(ctx.Request.Header.Peek(fasthttp.HeaderAuthorization))

	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	sc.key = appendDeviceKey(sc.key[:0], tenant, id)
	key := b2s(sc.key)
	// One hash for the cache, and (via the entry) the last-seen map.
	h := keyHash(key)
	now := start
	if !s.realClock {
		now = s.now()
	}
	e := s.lookup(ts, h, key, now, s.wallNow(now))
	if e == nil || e.due() || !s.fastAuthorized(ts, e, c) {
		var err error
		if e, err = s.pollSlow(ctx, ts, string(id), c); err != nil {
			s.writeError(ctx, err)
			return
		} else if e == nil {
			return // answered (401)
		}
	}
	if e.recordSeen(now.Unix(), s.seenRes) {
		s.seen.touch(e.key, h, now, remoteAddr(ctx))
	}
	sc.body = s.appendPoll(sc.body[:0], e, base)
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("application/json")
	ctx.SetBody(sc.body)
}

// fastAuthorized is authorize for the hit path: it admits without store
// I/O or allocation, and defers every other case (binding, errors, a
// gateway token not loaded yet) to the slow path by returning false.
func (s *Server) fastAuthorized(ts *tenantState, e *entry, c cred) bool {
	switch s.cfg.DeviceAuth {
	case AuthOpen:
		return true
	}
	switch c.kind {
	case credTarget:
		return e.flags&flagToken != 0 && tokenIs(c.tok, &e.tokenSum)
	case credGateway:
		g := ts.gateway.Load()
		return g != nil && g.set && time.Now().Before(g.expiry) && tokenIs(c.tok, &g.sum)
	}
	return false
}

// pollSlow handles everything but a cache hit: loading, registering,
// authorizing with store I/O, token binding, creating the action the
// catalog wants. It returns nil, nil after answering 401 itself.
func (s *Server) pollSlow(ctx *fasthttp.RequestCtx, ts *tenantState, id string, c cred) (*entry, error) {
	e, err := s.device(ts, id)
	if schema.ErrorCode(err) == schema.ENOTFOUND {
		ok, aerr := s.mayRegister(ts, c)
		if aerr != nil {
			return nil, aerr
		}
		if !ok {
			s.unauthorized(ctx)
			return nil, nil
		}
		if rerr := s.register(ts, id, c); rerr != nil {
			return nil, rerr
		}
		e, err = s.device(ts, id)
	}
	if err != nil {
		return nil, err
	}
	e, ok := s.admit(ctx, ts, e, c)
	if !ok {
		return nil, nil
	}
	if e.due() {
		if e, err = s.createAction(ts, e); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// baseURL checks what absolute hrefs start with: the configured
// ExternalURL (returned as nil), else http:// and the request's Host
// (returned; valid during the request only). The Host is checked because
// it is echoed into JSON and into URLs the device follows.
func (s *Server) baseURL(ctx *fasthttp.RequestCtx) (host []byte, ok bool) {
	if s.extBase != "" {
		return nil, true
	}
	host = ctx.Host()
	if len(host) == 0 || len(host) > 255 {
		return nil, false
	}
	for _, c := range host {
		if !hostChar(c) {
			return nil, false
		}
	}
	return host, true
}

// appendBase appends the href base chosen by baseURL.
func (s *Server) appendBase(dst, host []byte) []byte {
	if host == nil {
		return append(dst, s.extBase...)
	}
	dst = append(dst, "http://"...)
	return append(dst, host...)
}

// baseString is baseURL for the handlers off the hot path.
func (s *Server) baseString(ctx *fasthttp.RequestCtx) (string, bool) {
	host, ok := s.baseURL(ctx)
	if !ok {
		return "", false
	}
	return string(s.appendBase(nil, host)), true
}

func hostChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_' || c == '%'
}

// remoteAddr is the peer address as a value type, so noting it costs no
// allocation; it is formatted only when last-seen records are flushed.
func remoteAddr(ctx *fasthttp.RequestCtx) netip.Addr {
	a, _ := netip.AddrFromSlice(ctx.RemoteIP())
	return a.Unmap()
}

// handlePollRouted serves the root poll when it reaches the router, which
// only happens if the fast path in handle did not match (it always does
// for GET); it keeps the route table complete.
func (s *Server) handlePollRouted(ctx *fasthttp.RequestCtx) {
	s.poll(ctx, []byte(param(ctx, pTenant)), []byte(param(ctx, pDevice)), time.Now())
}
