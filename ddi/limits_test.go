package ddi_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/gosling-ota/gosling/ddi"
	"github.com/gosling-ota/gosling/schema"
)

func TestBadRequests(t *testing.T) {
	e := MustEnv(t, ddi.Config{MaxBodyBytes: 8192})
	_, aid, _, _ := e.MustOffer("dev-01")
	fbURL := e.base("dev-01") + "/deploymentBase/" + itoa(aid) + "/feedback"
	cfgURL := e.base("dev-01") + "/configData"

	many := map[string]string{}
	for i := range 101 {
		many[fmt.Sprintf("k%03d", i)] = "v"
	}
	manyJSON, _ := json.Marshal(map[string]any{"data": many})

	for _, tc := range []struct {
		name, method, url, body string
		status                  int
		code, msg               string
	}{
		{"malformed feedback", "POST", fbURL, `{"status":{"execution":`, 400, schema.EINVALID, "malformed"},
		{"feedback without finished", "POST", fbURL, `{"status":{"execution":"closed"}}`, 400, schema.EINVALID, "finished"},
		{"malformed configData", "PUT", cfgURL, `{"data":{`, 400, schema.EINVALID, "malformed"},
		{"too many attributes", "PUT", cfgURL, string(manyJSON), 400, schema.EINVALID, "at most 100"},
		{"long attribute", "PUT", cfgURL, `{"data":{"k":"` + strings.Repeat("v", 200) + `"}}`, 400, schema.EINVALID, "128"},
		{"oversized feedback", "POST", fbURL, `{"status":{"execution":"proceeding","result":{"finished":"none"},"details":["` + strings.Repeat("x", 9000) + `"]}}`, 413, schema.ETOOLARGE, "8192"},
		{"oversized configData", "PUT", cfgURL, `{"data":{"k":"` + strings.Repeat("x", 9000) + `"}}`, 413, schema.ETOOLARGE, "8192"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.Do(tc.method, tc.url, tc.body, "Content-Type: application/json")
			MustStatus(t, r, tc.status)
			var body struct{ ErrorCode, Message string }
			if err := json.Unmarshal(r.body, &body); err != nil {
				t.Fatalf("error body %q: %v", r.body, err)
			}
			if body.ErrorCode != tc.code || !strings.Contains(body.Message, tc.msg) {
				t.Errorf("error %+v, want %s containing %q", body, tc.code, tc.msg)
			}
		})
	}
	// The device is still fine afterwards.
	MustStatus(t, e.Do("POST", fbURL, fbProceeding), 200)
}

// Merge keeps the device-wide attribute cap.
func TestConfigDataMergeCap(t *testing.T) {
	e := MustEnv(t, ddi.Config{})
	e.Poll("dev-01")
	cfgURL := e.base("dev-01") + "/configData"
	first := map[string]string{}
	for i := range 60 {
		first[fmt.Sprintf("a%03d", i)] = "v"
	}
	b, _ := json.Marshal(map[string]any{"data": first})
	MustStatus(t, e.Do("PUT", cfgURL, string(b)), 200)
	second := map[string]string{}
	for i := range 60 {
		second[fmt.Sprintf("b%03d", i)] = "v"
	}
	b, _ = json.Marshal(map[string]any{"data": second})
	MustStatus(t, e.Do("PUT", cfgURL, string(b)), 400)
	b, _ = json.Marshal(map[string]any{"data": second, "mode": "replace"})
	MustStatus(t, e.Do("PUT", cfgURL, string(b)), 200)
	if d := e.MustDevice("dev-01"); len(d.Attributes) != 60 || d.Attributes["b000"] != "v" {
		t.Errorf("attributes after replace: %d", len(d.Attributes))
	}
	MustStatus(t, e.Do("PUT", cfgURL, `{"mode":"remove","data":{"b000":""}}`), 200)
	if d := e.MustDevice("dev-01"); len(d.Attributes) != 59 {
		t.Errorf("attributes after remove: %d", len(d.Attributes))
	}
}
