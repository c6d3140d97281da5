package control

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"

	"github.com/gosling-ota/gosling/cache"
	"github.com/gosling-ota/gosling/schema"
)

// tenant returns the request's tenant: ?tenant=NAME, or the first configured
// tenant. An unknown tenant is ENOTFOUND, like any other missing entity.
func (s *Server) tenant(r *http.Request) (string, error) {
	t := r.URL.Query().Get("tenant")
	if t == "" {
		return s.cfg.Tenants[0], nil
	}
	if !s.tenants[t] {
		return "", schema.Errorf(schema.ENOTFOUND, "tenant %q does not exist", t)
	}
	return t, nil
}

// tokenBytes is the entropy of generated device and gateway tokens: 128 bits,
// rendered as 32 hex characters like hawkBit's generated security tokens.
const tokenBytes = 16

// newToken returns a fresh random token.
func newToken() string {
	b := make([]byte, tokenBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it panics instead).
	return hex.EncodeToString(b)
}

// Token length limits for tokens chosen by the operator. Tokens travel in an
// HTTP header, so they must also be printable ASCII without spaces.
const (
	minTokenLen = 8
	maxTokenLen = 256
)

// validToken reports why an operator-chosen token is unusable, or nil.
func validToken(field, t string) error {
	if len(t) < minTokenLen || len(t) > maxTokenLen {
		return schema.Errorf(schema.EINVALID, "%s: want %d to %d characters, got %d", field, minTokenLen, maxTokenLen, len(t))
	}
	for i := 0; i < len(t); i++ {
		if c := t[i]; c <= ' ' || c > '~' {
			return schema.Errorf(schema.EINVALID, "%s: only printable ASCII without spaces is allowed (byte %d is 0x%02x)", field, i, c)
		}
	}
	return nil
}

// tokenBody is the request of PUT /gateway-token and the answer that returns
// a generated token once.
type tokenBody struct {
	Token string `json:"token"`
}

// putGatewayToken sets the tenant's GatewayToken. An empty body or an empty
// token generates one, which is answered once (200); a token chosen by the
// caller is not echoed (204). Only its hash is stored.
func (s *Server) putGatewayToken(w http.ResponseWriter, r *http.Request, tenant string) error {
	var body tokenBody
	if err := decodeJSON(w, r, &body); err != nil && err != errEmptyBody {
		return err
	}
	generated := body.Token == ""
	if generated {
		body.Token = newToken()
	} else if err := validToken("token", body.Token); err != nil {
		return err
	}
	if err := s.store.SetGatewayTokenHash(r.Context(), tenant, schema.HashToken(body.Token)); err != nil {
		return err
	}
	s.publish(r, cache.KindTenant, tenant, "")
	if generated {
		writeJSON(w, http.StatusOK, body)
		return nil
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// deleteGatewayToken removes the tenant's GatewayToken; devices must then use
// their own TargetTokens. Idempotent.
func (s *Server) deleteGatewayToken(w http.ResponseWriter, r *http.Request, tenant string) error {
	if err := s.store.SetGatewayTokenHash(r.Context(), tenant, ""); err != nil {
		return err
	}
	s.publish(r, cache.KindTenant, tenant, "")
	w.WriteHeader(http.StatusNoContent)
	return nil
}
