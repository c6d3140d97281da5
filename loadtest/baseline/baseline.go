// Package baseline is the yardstick for poll throughput: the smallest
// fasthttp server that answers like a DDI server with nothing to offer.
// Gosling's poll rate is reported as a ratio to this server's, measured
// with the same load generator on the same machine in the same run, so
// the ratio says what Gosling's own work costs, not how fast the machine
// is.
package baseline

import (
	"net"
	"time"

	"github.com/valyala/fasthttp"
)

// PollBody is the answer to every GET: a DDI poll answer without links.
const PollBody = `{"config":{"polling":{"sleep":"00:05:00"}}}`

// NewServer returns the baseline server: every GET (any path) gets 200
// with PollBody as application/json; any other method gets 405. Its
// settings mirror Gosling's frontline (ddi.Server) where they change the
// cost of a request: no Server header, a Date header, the same buffer
// sizes and keep-alive behaviour.
func NewServer() *fasthttp.Server {
	body := []byte(PollBody)
	return &fasthttp.Server{
		NoDefaultServerHeader: true,
		NoDefaultContentType:  true,
		Handler: func(ctx *fasthttp.RequestCtx) {
			if !ctx.IsGet() {
				ctx.SetStatusCode(fasthttp.StatusMethodNotAllowed)
				return
			}
			ctx.SetStatusCode(fasthttp.StatusOK)
			ctx.SetContentType("application/json")
			ctx.SetBody(body)
		},
		ReadTimeout:                  30 * time.Second,
		WriteTimeout:                 30 * time.Second,
		IdleTimeout:                  90 * time.Second,
		MaxRequestBodySize:           256 << 10,
		Concurrency:                  256 << 10,
		ReadBufferSize:               16 << 10,
		WriteBufferSize:              16 << 10,
		MaxIdleWorkerDuration:        10 * time.Second,
		TCPKeepalive:                 true,
		DisablePreParseMultipartForm: true,
		CloseOnShutdown:              true,
	}
}

// Serve answers on ln until ln is closed (then it returns nil).
func Serve(ln net.Listener) error { return NewServer().Serve(ln) }
