package ddi

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/gosling-ota/gosling/schema"
)

// configData limits, hawkBit's: what a device can make the server store.
const (
	maxAttributes     = 100
	maxAttrKeyBytes   = 128
	maxAttrValueBytes = 128
)

// wireConfigData is the configData body. SWUpdate 2022.12 also sends id,
// time and status (ignored) and no mode (merge).
type wireConfigData struct {
	Data map[string]any `json:"data"`
	Mode string         `json:"mode"`
}

// parseConfigData decodes and validates a configData body.
func parseConfigData(body []byte) (schema.ConfigMode, map[string]string, error) {
	var w wireConfigData
	decode := func(b []byte) error {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber() // keep 1.10 as "1.10", not 1.1
		return dec.Decode(&w)
	}
	if err := decode(body); err != nil {
		fixed, changed := repairJSON(body)
		w = wireConfigData{}
		if !changed || decode(fixed) != nil {
			return "", nil, schema.Errorf(schema.EINVALID, "configData: malformed JSON: %v", err)
		}
	}
	if w.Data == nil {
		return "", nil, schema.Errorf(schema.EINVALID, "configData: data is required")
	}
	mode := schema.ConfigMode(w.Mode)
	switch mode {
	case "":
		mode = schema.ConfigMerge
	case schema.ConfigMerge, schema.ConfigReplace, schema.ConfigRemove:
	default:
		return "", nil, schema.Errorf(schema.EINVALID, "configData: mode %q: must be merge, replace or remove", w.Mode)
	}
	if len(w.Data) > maxAttributes {
		return "", nil, schema.Errorf(schema.EINVALID, "configData: %d attributes, at most %d allowed", len(w.Data), maxAttributes)
	}
	data := make(map[string]string, len(w.Data))
	for k, v := range w.Data {
		if k == "" || len(k) > maxAttrKeyBytes || !utf8.ValidString(k) {
			return "", nil, schema.Errorf(schema.EINVALID, "configData: attribute key %q: must be 1 to %d bytes of UTF-8", k, maxAttrKeyBytes)
		}
		s := stringify(v)
		if len(s) > maxAttrValueBytes || !utf8.ValidString(s) {
			return "", nil, schema.Errorf(schema.EINVALID, "configData: value of %q: must be at most %d bytes of UTF-8", k, maxAttrValueBytes)
		}
		data[k] = s
	}
	return mode, data, nil
}

// handleConfigData is PUT …/configData: it stores the attributes, which
// also clears the configData request, and answers exactly 200 with an
// empty body. Unrequested PUTs are welcome at any time.
func (s *Server) handleConfigData(ctx *fasthttp.RequestCtx) {
	req, ok := s.authenticate(ctx)
	if !ok {
		return
	}
	mode, data, err := parseConfigData(ctx.PostBody())
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	// The device-wide cap applies after merging. The entry only knows how
	// many attributes the device has, not which: when even counting every
	// key as new stays within the cap (the usual case) no store read is
	// needed; otherwise the device record decides.
	if mode == schema.ConfigMerge && int(req.e.nattrs)+len(data) > maxAttributes {
		var dev *schema.Device
		if err := s.withTimeout(func(c context.Context) error {
			var err error
			dev, err = s.store.Device(c, req.ts.name, req.e.id())
			return err
		}); err != nil {
			s.writeError(ctx, err)
			return
		}
		n := len(dev.Attributes)
		for k := range data {
			if _, ok := dev.Attributes[k]; !ok {
				n++
			}
		}
		if n > maxAttributes {
			s.badRequest(ctx, "configData: merging would give the device "+strconv.Itoa(n)+" attributes, at most "+strconv.Itoa(maxAttributes)+" allowed")
			return
		}
	}
	err = s.withTimeout(func(c context.Context) error {
		_, err := s.store.SetAttributes(c, req.ts.name, req.e.id(), mode, data)
		return err
	})
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	s.publishDevice(req.ts.name, req.e.id())
	ctx.SetStatusCode(fasthttp.StatusOK)
}
