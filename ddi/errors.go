package ddi

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/gosling-ota/gosling/schema"
)

// retryAfterSeconds is what 429 answers ask clients to wait. SWUpdate and
// rauc retry on their own schedule anyway; gateways and CDNs honour it.
const retryAfterSeconds = 5

// statusOf maps an error code to its HTTP status, once for the whole API.
// Overload, store outages and unexpected failures are all 429, never 5xx:
// SWUpdate retries a 429, rauc retries only 409 and 429, and a 5xx loses a
// final report for good. A failure that is a bug is logged (writeError) and
// counted; the device simply retries.
func statusOf(code string) int {
	switch code {
	case schema.EINVALID:
		return fasthttp.StatusBadRequest
	case schema.ENOTFOUND:
		return fasthttp.StatusNotFound
	case schema.ECONFLICT:
		return fasthttp.StatusConflict
	case schema.EGONE:
		return fasthttp.StatusGone
	case schema.ENOTALLOWED:
		return fasthttp.StatusMethodNotAllowed
	case schema.EUNAUTHORIZED:
		return fasthttp.StatusUnauthorized
	case schema.ETOOLARGE:
		return fasthttp.StatusRequestEntityTooLarge
	}
	return fasthttp.StatusTooManyRequests
}

// errorBody is the JSON error document, shaped like hawkBit's.
type errorBody struct {
	ErrorCode string `json:"errorCode"`
	Message   string `json:"message"`
}

// writeError answers with err's status and a JSON error body. Timeouts of
// the store count as unavailable; other non-application errors are logged
// and answered 429 without details (see statusOf).
func (s *Server) writeError(ctx *fasthttp.RequestCtx, err error) {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		err = schema.Errorf(schema.EUNAVAILABLE, "the server is busy, retry later")
	}
	code := schema.ErrorCode(err)
	if code == schema.EINTERNAL {
		s.logger.Error("request failed", "method", string(ctx.Method()), "path", string(ctx.Path()), "err", err)
	}
	s.writeErrorCode(ctx, code, schema.ErrorMessage(err))
}

// writeErrorCode answers with code's status and message.
func (s *Server) writeErrorCode(ctx *fasthttp.RequestCtx, code, msg string) {
	status := statusOf(code)
	ctx.Response.ResetBody()
	ctx.SetStatusCode(status)
	if status == fasthttp.StatusUnauthorized {
		// Auth failures carry no body, like hawkBit's.
		return
	}
	if status == fasthttp.StatusTooManyRequests {
		ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, strconv.Itoa(retryAfterSeconds))
	}
	body, _ := json.Marshal(errorBody{ErrorCode: code, Message: msg})
	ctx.SetContentType("application/json")
	ctx.SetBody(body)
}

// unauthorized answers 401 with an empty body.
func (s *Server) unauthorized(ctx *fasthttp.RequestCtx) {
	s.writeErrorCode(ctx, schema.EUNAUTHORIZED, "")
}

// notFound answers 404 with msg.
func (s *Server) notFound(ctx *fasthttp.RequestCtx, msg string) {
	s.writeErrorCode(ctx, schema.ENOTFOUND, msg)
}

// badRequest answers 400 with msg.
func (s *Server) badRequest(ctx *fasthttp.RequestCtx, msg string) {
	s.writeErrorCode(ctx, schema.EINVALID, msg)
}

// handleParseError answers requests fasthttp could not read, above all
// bodies over MaxRequestBodySize, in the API's JSON error form.
func (s *Server) handleParseError(ctx *fasthttp.RequestCtx, err error) {
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		s.writeErrorCode(ctx, schema.ETOOLARGE, "request body is larger than "+strconv.Itoa(s.cfg.MaxBodyBytes)+" bytes")
	case isSmallBuffer(err):
		ctx.SetStatusCode(fasthttp.StatusRequestHeaderFieldsTooLarge)
	default:
		var te interface{ Timeout() bool }
		if errors.As(err, &te) && te.Timeout() {
			ctx.SetStatusCode(fasthttp.StatusRequestTimeout)
			return
		}
		s.writeErrorCode(ctx, schema.EINVALID, "malformed request")
	}
	// The connection may hold unread body bytes; fasthttp closes it.
	ctx.SetConnectionClose()
}

func isSmallBuffer(err error) bool {
	var sb *fasthttp.ErrSmallBuffer
	return errors.As(err, &sb)
}
