package control

import (
	_ "embed"
	"net/http"
	"strconv"
)

// openAPIDoc is the hand-written OpenAPI 3.1 description of this API. A test
// keeps it and the route table in step.
//
//go:embed openapi.json
var openAPIDoc []byte

// OpenAPI returns the API's OpenAPI 3.1 document (JSON). The slice is shared:
// do not modify it.
func OpenAPI() []byte { return openAPIDoc }

// openAPI serves the document. It is public: it describes the API, it
// reveals nothing about a tenant.
func (s *Server) openAPI(w http.ResponseWriter, _ *http.Request, _ string) error {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(openAPIDoc)))
	h.Set("Cache-Control", "public, max-age=300")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(openAPIDoc)
	return nil
}
