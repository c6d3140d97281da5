package control

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/gosling-ota/gosling/schema"
)

// authorized reports whether r carries "Authorization: Bearer <admin token>".
// Both sides are hashed before the constant-time comparison, because
// subtle.ConstantTimeCompare returns early on a length mismatch and would
// otherwise leak the token's length.
func (s *Server) authorized(r *http.Request) bool {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	return subtle.ConstantTimeCompare(got[:], s.adminTokenHash[:]) == 1
}

// writeUnauthorized answers a request without valid admin credentials.
func (s *Server) writeUnauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="gosling"`)
	s.writeErrorCode(w, http.StatusUnauthorized, schema.EUNAUTHORIZED,
		`missing or wrong admin token: send "Authorization: Bearer <token>"`)
}
