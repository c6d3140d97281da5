package control

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/gosling-ota/gosling/schema"
)

// statusByCode is the one mapping from schema error codes to HTTP statuses.
// ENOTALLOWED is 409, not 405: the method is fine, the entity's state is not
// (e.g. canceling a closed action).
var statusByCode = map[string]int{
	schema.EINVALID:      http.StatusBadRequest,
	schema.ENOTFOUND:     http.StatusNotFound,
	schema.ECONFLICT:     http.StatusConflict,
	schema.EGONE:         http.StatusGone,
	schema.ENOTALLOWED:   http.StatusConflict,
	schema.EUNAUTHORIZED: http.StatusUnauthorized,
	schema.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	schema.EUNAVAILABLE:  http.StatusServiceUnavailable,
	schema.EINTERNAL:     http.StatusInternalServerError,
}

// Codes used only by this API for transport-level failures; they are not
// domain errors, so they live here rather than in schema.
const (
	codeMethodNotAllowed = "method_not_allowed"
)

// errorStatus returns the HTTP status for a schema error code.
func errorStatus(code string) int {
	if s, ok := statusByCode[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// errorBody is the JSON shape of every error answer.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// writeError answers err as JSON. Internal errors are logged with the
// request's method and path and answered with a generic message, so that
// driver or file-system details never reach clients.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := schema.ErrorCode(err)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		// The body limit can surface through any reader (JSON decoder,
		// multipart, artifacts.Ingest); whoever hit it, the answer is 413.
		code, err = schema.ETOOLARGE, schema.Errorf(schema.ETOOLARGE, "request body is larger than %d bytes", mbe.Limit)
	}
	if code == schema.EINTERNAL {
		s.logger.ErrorContext(r.Context(), "request failed",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("err", err))
	}
	s.writeErrorCode(w, errorStatus(code), code, schema.ErrorMessage(err))
}

// writeErrorCode answers an error with an explicit status and code.
func (s *Server) writeErrorCode(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, errorBody{Error: errorDetail{Code: code, Message: message}})
}
