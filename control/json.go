package control

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/gosling-ota/gosling/schema"
)

// maxJSONBytes limits every JSON request body. The largest legitimate body is
// a software registration with a few hardware rules, far below this.
const maxJSONBytes = 1 << 20

// Paging defaults and limits of list endpoints.
const (
	defaultLimit = 100
	maxLimit     = 1000
)

// writeJSON answers v as JSON with the given status. Encoding errors can only
// come from the connection at this point, so they are not reported.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Our response types always encode; a failure is a bug worth a 500
		// rather than half a body.
		buf.Reset()
		buf.WriteString(`{"error":{"code":"internal","message":"internal error"}}` + "\n")
		status = http.StatusInternalServerError
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// errEmptyBody is returned by decodeJSON when the body is empty, so callers
// for which an empty body has a meaning can tell it apart.
var errEmptyBody = schema.Errorf(schema.EINVALID, "request body is empty, want a JSON object")

// decodeJSON reads exactly one JSON value from the request body into v,
// rejecting unknown fields and trailing data. Its errors are *schema.Error
// with a message that names the problem (the decoder's own wording, plus the
// field for type mismatches), or a *http.MaxBytesError.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	body := http.MaxBytesReader(w, r.Body, maxJSONBytes)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	// A second value (or garbage) after the object is as malformed as a
	// broken object: the client did not send what it meant.
	var extra json.RawMessage
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err == nil {
			return schema.Errorf(schema.EINVALID, "malformed JSON: more than one value in the body")
		}
		return jsonError(err)
	}
	return nil
}

// jsonError turns a decoder error into an API error.
func jsonError(err error) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		mbe *http.MaxBytesError
		api *schema.Error
	)
	switch {
	case errors.As(err, &mbe):
		return err
	case errors.As(err, &api):
		// Our own UnmarshalJSON methods validate values.
		return err
	case errors.Is(err, io.EOF):
		return errEmptyBody
	case errors.Is(err, io.ErrUnexpectedEOF):
		return schema.Errorf(schema.EINVALID, "malformed JSON: unexpected end of body")
	case errors.As(err, &syn):
		return schema.Errorf(schema.EINVALID, "malformed JSON at byte %d: %s", syn.Offset, syn.Error())
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return schema.Errorf(schema.EINVALID, "wrong JSON type: got %s, want %s", typ.Value, typ.Type)
		}
		return schema.Errorf(schema.EINVALID, "field %q: got %s, want %s", field, typ.Value, jsonTypeName(typ.Type.String()))
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return schema.Errorf(schema.EINVALID, "%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return schema.Errorf(schema.EINVALID, "malformed JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
}

// jsonTypeName names a Go type the way a JSON client thinks of it.
func jsonTypeName(goType string) string {
	switch {
	case strings.Contains(goType, "int"):
		return "integer"
	case strings.Contains(goType, "float"):
		return "number"
	case goType == "string", strings.HasSuffix(goType, "UpdateMode"), strings.HasSuffix(goType, "optString"):
		return "string"
	case goType == "bool":
		return "boolean"
	case strings.HasPrefix(goType, "[]"):
		return "array"
	}
	return "object"
}

// optString is a JSON string field with three states: absent (Set false),
// null (Set true, Null true) and a value. PATCH semantics need all three:
// absent leaves a field alone, null clears it.
type optString struct {
	Set   bool
	Null  bool
	Value string
}

// UnmarshalJSON implements json.Unmarshaler; it is called for null too.
func (o *optString) UnmarshalJSON(b []byte) error {
	o.Set = true
	if string(b) == "null" {
		o.Null = true
		return nil
	}
	return json.Unmarshal(b, &o.Value)
}

// page is the offset and limit of a list request.
type page struct {
	Offset int
	Limit  int
}

// parsePage reads ?offset= and ?limit= (default 100, at most 1000).
func parsePage(r *http.Request) (page, error) {
	p := page{Limit: defaultLimit}
	q := r.URL.Query()
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return p, schema.Errorf(schema.EINVALID, "offset %q: want a non-negative integer", v)
		}
		p.Offset = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			return p, schema.Errorf(schema.EINVALID, "limit %q: want an integer from 1 to %d", v, maxLimit)
		}
		p.Limit = n
	}
	return p, nil
}

// listBody is the envelope of every list answer.
type listBody[T any] struct {
	Items  []T `json:"items"`
	Total  int `json:"total"`
	Offset int `json:"offset"`
	Limit  int `json:"limit"`
}

// newList builds a list answer; items is never encoded as null.
func newList[T any](items []T, total int, p page) listBody[T] {
	if items == nil {
		items = []T{}
	}
	return listBody[T]{Items: items, Total: total, Offset: p.Offset, Limit: p.Limit}
}

// pageSlice pages a complete list in memory, for stores that return whole
// lists (software and rollouts are few per tenant).
func pageSlice[T any](all []T, p page) listBody[T] {
	lo := min(p.Offset, len(all))
	hi := min(lo+p.Limit, len(all))
	return newList(all[lo:hi:hi], len(all), p)
}

// pathID parses the int64 path parameter name, which must be positive.
func pathID(r *http.Request, name string) (int64, error) {
	v := r.PathValue(name)
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		return 0, schema.Errorf(schema.EINVALID, "%s %q: want a positive integer", name, v)
	}
	return id, nil
}

// quoteList renders allowed values for error messages.
func quoteList(vs ...string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = fmt.Sprintf("%q", v)
	}
	return strings.Join(q, ", ")
}
