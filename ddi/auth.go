package ddi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"

	"github.com/gosling-ota/gosling/schema"
)

// credKind is the kind of token a request presents.
type credKind uint8

const (
	credNone credKind = iota
	credTarget
	credGateway
)

// cred is a presented token. tok aliases request memory: it is valid only
// during the handler (copy it before keeping it).
type cred struct {
	kind credKind
	tok  []byte
}

var (
	schemeTarget  = []byte("TargetToken")
	schemeGateway = []byte("GatewayToken")
)

// parseCred reads "Authorization: TargetToken <t>" or "GatewayToken <t>".
// The scheme is matched case-insensitively; anything else (Basic, Bearer,
// garbage) counts as no token, which only matters outside open mode.
func parseCred(h []byte) cred {
	h = bytes.TrimSpace(h)
	sp := bytes.IndexByte(h, ' ')
	if sp <= 0 {
		return cred{}
	}
	scheme, tok := h[:sp], bytes.TrimSpace(h[sp+1:])
	if len(tok) == 0 {
		return cred{}
	}
	switch {
	case bytes.EqualFold(scheme, schemeTarget):
		return cred{kind: credTarget, tok: tok}
	case bytes.EqualFold(scheme, schemeGateway):
		return cred{kind: credGateway, tok: tok}
	}
	return cred{}
}

// tokenIs compares a presented token with a decoded stored hash in constant
// time. It is schema.TokenMatches without the hex decoding, which
// allocates; the hash is decoded once when the entry is built.
func tokenIs(tok []byte, sum *[sha256.Size]byte) bool {
	got := sha256.Sum256(tok)
	return subtle.ConstantTimeCompare(got[:], sum[:]) == 1
}

// authResult is the outcome of checking a request against a device.
type authResult uint8

const (
	authDeny authResult = iota
	authOK
	// authBind: tofu mode, the device has no token yet and presents its
	// first TargetToken, which must be stored before answering.
	authBind
)

// gatewayOK reports whether c is the tenant's GatewayToken.
func (s *Server) gatewayOK(ts *tenantState, c cred) (bool, error) {
	if c.kind != credGateway {
		return false, nil
	}
	g, err := s.gateway(ts)
	if err != nil {
		return false, err
	}
	return g.set && tokenIs(c.tok, &g.sum), nil
}

// authorize checks c against a known device of ts under the configured
// policy.
func (s *Server) authorize(ts *tenantState, e *entry, c cred) (authResult, error) {
	switch s.cfg.DeviceAuth {
	case AuthOpen:
		return authOK, nil
	case AuthTOFU, AuthStrict:
		switch c.kind {
		case credTarget:
			if e.flags&flagToken != 0 {
				if tokenIs(c.tok, &e.tokenSum) {
					return authOK, nil
				}
				return authDeny, nil
			}
			if s.cfg.DeviceAuth == AuthTOFU {
				return authBind, nil
			}
			return authDeny, nil
		case credGateway:
			ok, err := s.gatewayOK(ts, c)
			if ok {
				return authOK, err
			}
			return authDeny, err
		}
	}
	return authDeny, nil
}

// mayRegister reports whether c lets an unknown device register on its
// first poll (or, on other routes, whether the caller may learn that the
// device does not exist).
func (s *Server) mayRegister(ts *tenantState, c cred) (bool, error) {
	switch s.cfg.DeviceAuth {
	case AuthOpen:
		return true, nil
	case AuthTOFU:
		if c.kind == credTarget {
			return true, nil
		}
		return s.gatewayOK(ts, c)
	case AuthStrict:
		return s.gatewayOK(ts, c)
	}
	return false, nil
}

// register creates an unknown device on its first poll. In tofu mode with
// a TargetToken the token is bound at once. The new device is asked for
// configData, since Gosling needs hw_model/hw_revision to choose software.
func (s *Server) register(ts *tenantState, id string, c cred) error {
	var hash string
	if s.cfg.DeviceAuth == AuthTOFU && c.kind == credTarget {
		hash = schema.HashToken(string(c.tok))
	}
	err := s.withTimeout(func(ctx context.Context) error {
		d := &schema.Device{Tenant: ts.name, ID: id, TokenHash: hash, ConfigRequested: true}
		err := s.store.CreateDevice(ctx, d)
		if schema.ErrorCode(err) == schema.ECONFLICT {
			return nil // registered concurrently; authorize against it
		}
		if err != nil {
			return fmt.Errorf("register device: %w", err)
		}
		if hash != "" && d.TokenHash != hash {
			// The store may not take TokenHash on create; bind it now.
			if _, err := s.store.UpdateDevice(ctx, ts.name, id, schema.DeviceUpdate{TokenHash: &hash}); err != nil {
				return fmt.Errorf("bind token of new device: %w", err)
			}
		}
		s.logger.Info("device registered", "tenant", ts.name, "device", id, "auth", s.cfg.DeviceAuth)
		return nil
	})
	if err != nil {
		return err
	}
	s.publishDevice(ts.name, id)
	return nil
}

// bindToken stores a tofu device's first TargetToken and returns the
// reloaded entry. It re-reads the device first: another request may have
// bound a token since e was cached, and that token must win.
func (s *Server) bindToken(ts *tenantState, e *entry, c cred) (*entry, bool, error) {
	hash := schema.HashToken(string(c.tok))
	bound := false
	err := s.withTimeout(func(ctx context.Context) error {
		dev, err := s.store.Device(ctx, ts.name, e.id())
		if err != nil {
			return err
		}
		if dev.TokenHash != "" {
			bound = schema.TokenMatches(string(c.tok), dev.TokenHash)
			return nil
		}
		if _, err := s.store.UpdateDevice(ctx, ts.name, e.id(), schema.DeviceUpdate{TokenHash: &hash}); err != nil {
			return fmt.Errorf("bind token: %w", err)
		}
		bound = true
		s.logger.Info("device token bound", "tenant", ts.name, "device", e.id())
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	s.publishDevice(ts.name, e.id())
	ne, err := s.load(ts, e.id(), e.key)
	return ne, bound, err
}
