package ddi

import (
	"bytes"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/fasthttp/router"
	"github.com/valyala/fasthttp"

	"github.com/gosling-ota/gosling/schema"
)

// Route parameter names.
const (
	pTenant   = "tenant"
	pDevice   = "controllerId"
	pAction   = "actionId"
	pModule   = "moduleId"
	pFilename = "filename"
)

// routes registers every DDI resource except the root poll's fast path.
// The router is only used through Lookup with an already normalised path,
// so its redirects (a 301 is an error to SWUpdate) are switched off too.
func (s *Server) routes() *router.Router {
	r := router.New()
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.HandleMethodNotAllowed = false
	r.HandleOPTIONS = false
	base := "/{" + pTenant + "}/controller/v1/{" + pDevice + "}"
	r.GET(base, s.named("poll", fasthttp.MethodGet, s.handlePollRouted))
	r.PUT(base+"/configData", s.named("configData", fasthttp.MethodPut, s.handleConfigData))
	r.GET(base+"/deploymentBase/{"+pAction+"}", s.named("deploymentBase", fasthttp.MethodGet, s.handleDeploymentBase))
	r.POST(base+"/deploymentBase/{"+pAction+"}/feedback", s.named("deploymentFeedback", fasthttp.MethodPost, s.handleDeploymentFeedback))
	r.GET(base+"/cancelAction/{"+pAction+"}", s.named("cancelAction", fasthttp.MethodGet, s.handleCancelAction))
	r.POST(base+"/cancelAction/{"+pAction+"}/feedback", s.named("cancelFeedback", fasthttp.MethodPost, s.handleCancelFeedback))
	r.GET(base+"/installedBase/{"+pAction+"}", s.named("installedBase", fasthttp.MethodGet, s.handleInstalledBase))
	r.GET(base+"/softwaremodules/{"+pModule+"}/artifacts", s.named("artifacts", fasthttp.MethodGet, s.handleArtifactList))
	r.GET(base+"/softwaremodules/{"+pModule+"}/artifacts/{"+pFilename+"}", s.named("download", fasthttp.MethodGet, s.handleDownload))
	r.HEAD(base+"/softwaremodules/{"+pModule+"}/artifacts/{"+pFilename+"}", s.named("download", fasthttp.MethodHead, s.handleDownload))
	return r
}

// named wraps a route's handler with its metrics, resolved once here.
func (s *Server) named(route, method string, h fasthttp.RequestHandler) fasthttp.RequestHandler {
	m := s.metrics.route(route, method)
	return func(ctx *fasthttp.RequestCtx) {
		start := time.Now()
		h(ctx)
		m.observe(ctx.Response.StatusCode(), time.Since(start))
	}
}

var (
	segController = []byte("controller")
	segV1         = []byte("v1")
	slashSlash    = []byte("//")
)

// handle is the server's entry point: it bounds concurrency, normalises
// the path and dispatches. The root poll, nearly all of the traffic, is
// matched by hand: the router copies every parameter into a new string and
// boxes it into an interface (several allocations per request), which the
// poll's zero-allocation hit path cannot afford.
func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	if n := s.inFlight.Add(1); n > int64(s.cfg.MaxInFlight) {
		s.inFlight.Add(-1)
		s.writeErrorCode(ctx, schema.EUNAVAILABLE, "too many requests in flight, retry later")
		s.metrics.unrouted(ctx, start)
		return
	}
	defer s.inFlight.Add(-1)

	if len(ctx.Request.Body()) > s.cfg.MaxBodyBytes {
		// Only reached when the handler runs inside someone else's
		// server; ours rejects the body before reading it.
		s.writeErrorCode(ctx, schema.ETOOLARGE, "request body is larger than "+strconv.Itoa(s.cfg.MaxBodyBytes)+" bytes")
		s.metrics.unrouted(ctx, start)
		return
	}

	path := normalizePath(ctx.Path())
	if ctx.IsGet() {
		if tenant, id, ok := splitPollPath(path); ok {
			s.poll(ctx, tenant, id, start)
			// Pre-resolved series: no allocation (see routeMetrics).
			s.metrics.poll.observe(ctx.Response.StatusCode(), time.Since(start))
			return
		}
	}
	method := b2s(ctx.Method())
	p := b2s(path)
	if h, _ := s.router.Lookup(method, p, ctx); h != nil {
		h(ctx) // named observes
		return
	}
	for _, m := range [...]string{fasthttp.MethodGet, fasthttp.MethodHead, fasthttp.MethodPost, fasthttp.MethodPut} {
		if m == method {
			continue
		}
		if h, _ := s.router.Lookup(m, p, nil); h != nil {
			s.writeErrorCode(ctx, schema.ENOTALLOWED, "method "+method+" not allowed on this resource")
			s.metrics.unrouted(ctx, start)
			return
		}
	}
	s.notFound(ctx, "no such resource")
	s.metrics.unrouted(ctx, start)
}

// normalizePath returns the request path as routes expect it. fasthttp's
// Path() is already percent-decoded with dot segments and duplicate
// slashes removed ("//DEFAULT/controller/..." is what SWUpdate sends when
// its URL ends in "/"), unless the embedding server disabled that; the
// duplicate-slash pass covers that case. Trailing slashes are dropped.
// Devices are never redirected: a 301 is an error to SWUpdate.
func normalizePath(p []byte) []byte {
	if bytes.Contains(p, slashSlash) {
		out := make([]byte, 0, len(p))
		for i := 0; i < len(p); i++ {
			if p[i] == '/' && len(out) > 0 && out[len(out)-1] == '/' {
				continue
			}
			out = append(out, p[i])
		}
		p = out
	}
	for len(p) > 1 && p[len(p)-1] == '/' {
		p = p[:len(p)-1]
	}
	return p
}

// splitPollPath matches "/{tenant}/controller/v1/{id}" without allocating.
func splitPollPath(p []byte) (tenant, id []byte, ok bool) {
	if len(p) < 2 || p[0] != '/' {
		return nil, nil, false
	}
	p = p[1:]
	var segs [4][]byte
	for i := range segs {
		j := bytes.IndexByte(p, '/')
		if i == len(segs)-1 {
			if j >= 0 {
				return nil, nil, false
			}
			segs[i] = p
			break
		}
		if j < 0 {
			return nil, nil, false
		}
		segs[i], p = p[:j], p[j+1:]
	}
	if len(segs[0]) == 0 || len(segs[3]) == 0 || !bytes.Equal(segs[1], segController) || !bytes.Equal(segs[2], segV1) {
		return nil, nil, false
	}
	return segs[0], segs[3], true
}

// b2s views b as a string without copying. The string must not outlive
// the request (fasthttp reuses the memory) nor be kept by the callee.
func b2s(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// param returns a router parameter (the router stores copies, so the
// string may be kept).
func param(ctx *fasthttp.RequestCtx, name string) string {
	v, _ := ctx.UserValue(name).(string)
	return v
}

// idParam parses a positive numeric id parameter.
func idParam(ctx *fasthttp.RequestCtx, name string) (int64, bool) {
	n, err := strconv.ParseInt(param(ctx, name), 10, 64)
	return n, err == nil && n > 0
}

// validDeviceID bounds what a device may call itself: printable, no
// slashes (they could not be routed back), at most 256 bytes.
func validDeviceID(id []byte) bool {
	if len(id) == 0 || len(id) > 256 {
		return false
	}
	for _, c := range id {
		if c < 0x20 || c == 0x7f || c == '/' {
			return false
		}
	}
	return true
}

// request is what a non-poll handler knows after authentication.
type request struct {
	ts *tenantState
	e  *entry
}

// authenticate resolves tenant and device of a routed request and checks
// its credentials. Unknown devices are 404 only to callers who could have
// registered them; everybody else learns nothing (401). It writes the
// error answer itself and returns ok=false then.
func (s *Server) authenticate(ctx *fasthttp.RequestCtx) (request, bool) {
	ts := s.tenants[param(ctx, pTenant)]
	if ts == nil {
		s.notFound(ctx, "unknown tenant")
		return request{}, false
	}
	id := param(ctx, pDevice)
	if !validDeviceID([]byte(id)) {
		s.notFound(ctx, "unknown device")
		return request{}, false
	}
	c := parseCred(ctx.Request.Header.Peek(fasthttp.HeaderAuthorization))
	e, err := s.device(ts, id)
	if schema.ErrorCode(err) == schema.ENOTFOUND {
		ok, err := s.mayRegister(ts, c)
		switch {
		case err != nil:
			s.writeError(ctx, err)
		case ok:
			s.notFound(ctx, "unknown device "+strconv.Quote(id))
		default:
			s.unauthorized(ctx)
		}
		return request{}, false
	}
	if err != nil {
		s.writeError(ctx, err)
		return request{}, false
	}
	e, ok := s.admit(ctx, ts, e, c)
	if !ok {
		return request{}, false
	}
	return request{ts: ts, e: e}, true
}

// admit authorizes c against a known device, binding a tofu token when
// due; it answers the request itself when it returns false.
func (s *Server) admit(ctx *fasthttp.RequestCtx, ts *tenantState, e *entry, c cred) (*entry, bool) {
	res, err := s.authorize(ts, e, c)
	if err != nil {
		s.writeError(ctx, err)
		return nil, false
	}
	switch res {
	case authOK:
		return e, true
	case authBind:
		ne, bound, err := s.bindToken(ts, e, c)
		if err != nil {
			s.writeError(ctx, err)
			return nil, false
		}
		if !bound {
			s.unauthorized(ctx)
			return nil, false
		}
		return ne, true
	}
	s.unauthorized(ctx)
	return nil, false
}

// trimSuffixFold is strings.TrimSuffix ignoring ASCII case.
func trimSuffixFold(s, suffix string) (string, bool) {
	if len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix) {
		return s[:len(s)-len(suffix)], true
	}
	return s, false
}
