package control_test

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gosling-ota/gosling/control"
	"github.com/gosling-ota/gosling/schema"
)

// openAPIDoc is the part of the document the tests read.
type openAPIDoc struct {
	OpenAPI string                                `json:"openapi"`
	Paths   map[string]map[string]openAPIOp       `json:"paths"`
	Comps   map[string]map[string]json.RawMessage `json:"components"`
}

type openAPIOp struct {
	OperationID string            `json:"operationId"`
	Security    *[]map[string]any `json:"security"`
	Parameters  []json.RawMessage `json:"parameters"`
	Responses   map[string]any    `json:"responses"`
}

func loadOpenAPI(t *testing.T) openAPIDoc {
	t.Helper()
	var doc openAPIDoc
	if err := json.Unmarshal(control.OpenAPI(), &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi %q, want 3.1.0", doc.OpenAPI)
	}
	return doc
}

// TestOpenAPICoversRoutes checks that every route registered in the mux is
// documented and every documented operation is registered.
func TestOpenAPICoversRoutes(t *testing.T) {
	doc := loadOpenAPI(t)
	e := newEnv(t)
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	registered := e.srv.Routes()
	slices.Sort(documented)
	slices.Sort(registered)
	for _, r := range registered {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is not in openapi.json", r)
		}
	}
	for _, d := range documented {
		if !slices.Contains(registered, d) {
			t.Errorf("openapi.json documents %s, which is not registered", d)
		}
	}
}

// TestOpenAPIServed checks, over HTTP, that every documented operation is
// served and guarded as documented: public ones answer without a token,
// the others answer 401 (never 404 or 405).
func TestOpenAPIServed(t *testing.T) {
	doc := loadOpenAPI(t)
	e := newEnv(t)
	params := regexp.MustCompile(`\{[^}]+\}`)
	for path, ops := range doc.Paths {
		for method, op := range ops {
			method := strings.ToUpper(method)
			t.Run(method+" "+path, func(t *testing.T) {
				public := op.Security != nil && len(*op.Security) == 0
				if public != e.srv.PublicRoute(method+" "+path) {
					t.Fatalf("documented public=%v, registered public=%v", public, !public)
				}
				url := params.ReplaceAllString(path, "1")
				res := e.requestAuth(t, method, url, "", nil, "")
				if public {
					res.wantStatus(t, 200)
					return
				}
				res.wantError(t, 401, schema.EUNAUTHORIZED, "")
				for _, code := range []string{"400", "401", "404", "405", "500"} {
					if op.Responses[code] == nil {
						t.Errorf("response %s is not documented", code)
					}
				}
				if op.OperationID == "" {
					t.Error("no operationId")
				}
			})
		}
	}
	res := e.requestAuth(t, "GET", "/api/v1/openapi.json", "", nil, "")
	if string(res.body) != string(control.OpenAPI()) || res.header.Get("Content-Type") != "application/json" {
		t.Fatalf("served document differs from the embedded one (Content-Type %q)", res.header.Get("Content-Type"))
	}
}

// TestOpenAPIRefs checks that every $ref in the document points at a
// component that exists.
func TestOpenAPIRefs(t *testing.T) {
	doc := loadOpenAPI(t)
	var raw any
	if err := json.Unmarshal(control.OpenAPI(), &raw); err != nil {
		t.Fatal(err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && k == "$ref" {
					parts := strings.Split(strings.TrimPrefix(s, "#/components/"), "/")
					if len(parts) != 2 || doc.Comps[parts[0]][parts[1]] == nil {
						t.Errorf("dangling $ref %q", s)
					}
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(raw)
}
