package ddi_test

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/gosling-ota/gosling/ddi"
)

// PROTOCOL.md 10.
func TestArtifacts(t *testing.T) {
	e := MustEnv(t, ddi.Config{})
	_, _, sw, data := e.MustOffer("dev-01")
	size := strconv.Itoa(len(data))
	mod := e.base("dev-01") + "/softwaremodules/" + itoa(sw.ID) + "/artifacts"
	dl := mod + "/" + sw.Filename

	t.Run("list", func(t *testing.T) {
		r := e.Do("GET", mod, "", swupdateHeaders...)
		MustStatus(t, r, 200)
		var list []struct {
			Filename string                           `json:"filename"`
			Size     int64                            `json:"size"`
			Hashes   map[string]string                `json:"hashes"`
			Links    map[string]struct{ Href string } `json:"_links"`
		}
		if err := json.Unmarshal(r.body, &list); err != nil || len(list) != 1 {
			t.Fatalf("list %s: %v", r.body, err)
		}
		if a := list[0]; a.Filename != sw.Filename || a.Size != sw.Size || a.Hashes["sha1"] != sw.SHA1 || a.Links["download"].Href != dl {
			t.Errorf("artifact %+v", a)
		}
	})

	for _, tc := range []struct {
		name, method string
		headers      []string
		status       int
		body         []byte
		check        map[string]string // header → exact value ("*" = present)
	}{
		{"head", "HEAD", nil, 200, nil, map[string]string{
			"Content-Length": size, "Accept-Ranges": "bytes", "ETag": `"` + sw.SHA256 + `"`, "Last-Modified": "*",
		}},
		{"get", "GET", []string{"Accept: application/octet-stream", "Content-Type: application/octet-stream"}, 200, data, map[string]string{
			"Content-Length": size, "Content-Disposition": "*",
		}},
		{"resume", "GET", []string{"Range: bytes=1000-"}, 206, data[1000:], map[string]string{
			"Content-Range":  "bytes 1000-" + strconv.Itoa(len(data)-1) + "/" + size,
			"Content-Length": strconv.Itoa(len(data) - 1000),
		}},
		{"beyond the end", "GET", []string{"Range: bytes=" + strconv.Itoa(len(data)+10) + "-"}, 416, nil, map[string]string{
			"Content-Range": "bytes */" + size,
		}},
		{"if-range mismatch", "GET", []string{"Range: bytes=10-", `If-Range: "other"`}, 200, data, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.Do(tc.method, dl, "", tc.headers...)
			MustStatus(t, r, tc.status)
			if tc.body != nil && !bytes.Equal(r.body, tc.body) {
				t.Errorf("body: %d bytes, want %d", len(r.body), len(tc.body))
			}
			if te := r.header.Get("Transfer-Encoding"); te != "" {
				t.Errorf("Transfer-Encoding %q on a known-length file", te)
			}
			for k, want := range tc.check {
				got := r.header.Get(k)
				if (want == "*" && got == "") || (want != "*" && got != want) {
					t.Errorf("%s: %q, want %q", k, got, want)
				}
			}
		})
	}

	t.Run("md5sum", func(t *testing.T) {
		r := e.Do("GET", dl+".MD5SUM", "")
		MustStatus(t, r, 200)
		if want := sw.MD5 + "  " + sw.Filename; string(r.body) != want {
			t.Errorf("MD5SUM %q, want %q", r.body, want)
		}
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			t.Errorf("Content-Type %q", ct)
		}
		h := e.Do("HEAD", dl+".MD5SUM", "")
		MustStatus(t, h, 200)
		if h.header.Get("Content-Length") != strconv.Itoa(len(sw.MD5+"  "+sw.Filename)) {
			t.Errorf("HEAD MD5SUM Content-Length %q", h.header.Get("Content-Length"))
		}
	})

	t.Run("not assigned", func(t *testing.T) {
		other, _ := e.MustSoftware("9.9.9", 100)
		MustStatus(t, e.Do("GET", e.base("dev-01")+"/softwaremodules/"+itoa(other.ID)+"/artifacts", ""), 404)
		MustStatus(t, e.Do("GET", e.base("dev-01")+"/softwaremodules/"+itoa(other.ID)+"/artifacts/"+other.Filename, ""), 404)
		e.Poll("dev-02")
		MustStatus(t, e.Do("GET", e.base("dev-02")+"/softwaremodules/"+itoa(other.ID)+"/artifacts/"+other.Filename, ""), 404)
		MustStatus(t, e.Do("GET", mod+"/other.swu", ""), 404)
	})
}
