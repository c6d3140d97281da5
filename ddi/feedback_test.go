package ddi_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/gosling-ota/gosling/ddi"
	"github.com/gosling-ota/gosling/schema"
)

func TestParseFeedback(t *testing.T) {
	for _, tc := range []struct {
		name      string
		body      string
		exec, fin string
		details   []string
		progress  *schema.Progress
		time      string
	}{
		{
			name: "swupdate proceeding (SWUPDATE.md)",
			body: fbProceeding,
			exec: "proceeding", fin: "none",
			details:  []string{"Installing Update Chunk Artifacts."},
			progress: &schema.Progress{Cnt: 0, Of: 1},
			time:     "20261128T020752",
		},
		{
			name: "swupdate cancel ack (SWUPDATE.md)",
			body: fbCancelAck,
			exec: "closed", fin: "success",
			details: []string{"cancellation acknowledged."},
			time:    "20261128T020752",
		},
		{
			name: "raw newline in details (SWUPDATE.md)",
			body: fbBrokenFailure,
			exec: "closed", fin: "failure",
			details: []string{"No artifact download URL reported by server.\n"},
			time:    "20261128T020752",
		},
		{
			name: "raw tab, CR and control char",
			body: "{\"id\":1,\"status\":{\"result\":{\"finished\":\"failure\"},\"execution\":\"closed\",\"details\":[\"a\tb\r\nc\x01d\"]}}",
			exec: "closed", fin: "failure",
			details: []string{"a\tb\r\nc\x01d"},
		},
		{
			name: "unescaped quotes",
			body: `{"id":1,"status":{"result":{"finished":"failure"},"execution":"closed","details":["ERROR : HASH mismatch : "rootfs" differs"]}}`,
			exec: "closed", fin: "failure",
			details: []string{`ERROR : HASH mismatch : "rootfs" differs`},
		},
		{
			name: "stray backslash",
			body: `{"status":{"result":{"finished":"failure"},"execution":"closed","details":["C:\temp\x"]}}`,
			exec: "closed", fin: "failure",
			details: []string{"C:\temp\\x"},
		},
		{
			name: "hopeless body keeps raw details",
			body: "{\"status\":{\"result\":{\"finished\":\"failure\"},\"execution\":\"closed\",\"details\":[\"ERROR : Checksum does not match: \"x\", \"y\n\" ]",
			exec: "closed", fin: "failure",
			details: []string{"ERROR : Checksum does not match: \"x\", \"y\n"},
		},
		{
			name: "hawkBit form",
			body: `{"timestamp":1700000000000,"status":{"execution":"proceeding","result":{"finished":"none","progress":{"cnt":2,"of":5}},"code":200,"details":["x"]}}`,
			exec: "proceeding", fin: "none",
			details:  []string{"x"},
			progress: &schema.Progress{Cnt: 2, Of: 5},
			time:     "1700000000000",
		},
		{
			name: "string id, data, non-string details",
			body: `{"id":"7","data":{"k":"v"},"status":{"execution":"Closed","result":{"finished":"SUCCESS"},"details":[1,true,null,"s"]}}`,
			exec: "closed", fin: "success",
			details: []string{"1", "true", "", "s"},
		},
		{
			name: "no details",
			body: `{"status":{"execution":"downloaded","result":{"finished":"none"}}}`,
			exec: "downloaded", fin: "none",
			details: []string{},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fb, err := ddi.ParseFeedback([]byte(tc.body))
			if err != nil {
				t.Fatalf("ParseFeedback: %v", err)
			}
			if fb.Execution != tc.exec || fb.Finished != tc.fin {
				t.Errorf("execution/finished %q/%q, want %q/%q", fb.Execution, fb.Finished, tc.exec, tc.fin)
			}
			if !reflect.DeepEqual(fb.Details, tc.details) {
				t.Errorf("details %q, want %q", fb.Details, tc.details)
			}
			if !reflect.DeepEqual(fb.Progress, tc.progress) {
				t.Errorf("progress %+v, want %+v", fb.Progress, tc.progress)
			}
			if fb.DeviceTime != tc.time {
				t.Errorf("time %q, want %q", fb.DeviceTime, tc.time)
			}
		})
	}
}

func TestParseFeedbackInvalid(t *testing.T) {
	for _, tc := range []struct{ name, body, msg string }{
		{"empty", ``, "malformed"},
		{"not json", `hello`, "malformed"},
		{"no status", `{"id":1}`, "status is required"},
		{"no execution", `{"status":{"result":{"finished":"none"}}}`, "execution is required"},
		{"no result", `{"status":{"execution":"closed"}}`, "finished is required"},
		{"no finished", `{"status":{"execution":"closed","result":{}}}`, "finished is required"},
		{"unknown execution", `{"status":{"execution":"exploded","result":{"finished":"none"}}}`, "unknown status.execution"},
		{"unknown finished", `{"status":{"execution":"closed","result":{"finished":"maybe"}}}`, "unknown status.result.finished"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ddi.ParseFeedback([]byte(tc.body))
			if schema.ErrorCode(err) != schema.EINVALID || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err %v, want EINVALID containing %q", err, tc.msg)
			}
		})
	}
}

func TestParseFeedbackLimits(t *testing.T) {
	lines := make([]string, 150)
	for i := range lines {
		lines[i] = `"` + strings.Repeat("x", 5000) + `"`
	}
	body := `{"status":{"execution":"proceeding","result":{"finished":"none"},"details":[` + strings.Join(lines, ",") + `]}}`
	fb, err := ddi.ParseFeedback([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(fb.Details) != 101 || len(fb.Details[0]) > 4200 || !strings.Contains(fb.Details[100], "50 more lines") {
		t.Errorf("%d lines, first %d bytes, last %q", len(fb.Details), len(fb.Details[0]), fb.Details[len(fb.Details)-1])
	}
}

func TestParseConfigData(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
		mode schema.ConfigMode
		data map[string]string
		err  string
	}{
		{"swupdate (SWUPDATE.md)", configDataBody, schema.ConfigMerge,
			map[string]string{"sw_version": "0.9.0", "hw_revision": "1.0", "hw_model": "devboard"}, ""},
		{"replace", `{"mode":"replace","data":{"a":"b"}}`, schema.ConfigReplace, map[string]string{"a": "b"}, ""},
		{"remove", `{"mode":"remove","data":{"a":""}}`, schema.ConfigRemove, map[string]string{"a": ""}, ""},
		{"non-strings", `{"data":{"n":1.10,"b":true,"z":null,"o":{"x":1}}}`, schema.ConfigMerge,
			map[string]string{"n": "1.10", "b": "true", "z": "", "o": `{"x":1}`}, ""},
		{"raw newline", "{\"data\":{\"a\":\"x\ny\"}}", schema.ConfigMerge, map[string]string{"a": "x\ny"}, ""},
		{"bad mode", `{"mode":"append","data":{}}`, "", nil, "mode"},
		{"no data", `{"mode":"merge"}`, "", nil, "data is required"},
		{"malformed", `{"data":`, "", nil, "malformed"},
		{"long key", `{"data":{"` + strings.Repeat("k", 129) + `":"v"}}`, "", nil, "128"},
		{"long value", `{"data":{"k":"` + strings.Repeat("v", 129) + `"}}`, "", nil, "128"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mode, data, err := ddi.ParseConfigData([]byte(tc.body))
			if tc.err != "" {
				if schema.ErrorCode(err) != schema.EINVALID || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("err %v, want EINVALID containing %q", err, tc.err)
				}
				return
			}
			if err != nil || mode != tc.mode || !reflect.DeepEqual(data, tc.data) {
				t.Errorf("got %q %v %v, want %q %v", mode, data, err, tc.mode, tc.data)
			}
		})
	}
}
