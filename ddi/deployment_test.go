package ddi_test

import (
	"context"
	"encoding/json"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gosling-ota/gosling/cache"
	"github.com/gosling-ota/gosling/ddi"
	"github.com/gosling-ota/gosling/schema"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

var sha1RE = regexp.MustCompile(`^[0-9a-f]{40}$`)

// deployment is the deploymentBase answer, decoded strictly enough to
// check PROTOCOL.md 4 (id a string, size an integer).
type deployment struct {
	ID         json.RawMessage `json:"id"`
	Deployment struct {
		Download string `json:"download"`
		Update   string `json:"update"`
		Chunks   []struct {
			Part      string `json:"part"`
			Version   string `json:"version"`
			Name      string `json:"name"`
			Artifacts []struct {
				Filename string            `json:"filename"`
				Hashes   map[string]string `json:"hashes"`
				Size     json.RawMessage   `json:"size"`
				Links    map[string]struct {
					Href string `json:"href"`
				} `json:"_links"`
			} `json:"artifacts"`
		} `json:"chunks"`
	} `json:"deployment"`
	ActionHistory *struct {
		Status   string   `json:"status"`
		Messages []string `json:"messages"`
	} `json:"actionHistory"`
}

func decodeDeployment(t *testing.T, r response) deployment {
	t.Helper()
	MustStatus(t, r, 200)
	var d deployment
	if err := json.Unmarshal(r.body, &d); err != nil {
		t.Fatalf("deployment: %v: %s", err, r.body)
	}
	return d
}

// PROTOCOL.md 4 and 5.
func TestDeploymentShape(t *testing.T) {
	e := MustEnv(t, ddi.Config{})
	href, aid, sw, _ := e.MustOffer("dev-01")
	d := decodeDeployment(t, e.Do("GET", href+"&actionHistory=0", "", swupdateHeaders...))

	var id string
	if err := json.Unmarshal(d.ID, &id); err != nil {
		t.Fatalf("id %s is not a JSON string", d.ID)
	}
	if n, err := strconv.ParseInt(id, 10, 64); err != nil || n != aid || n >= math.MaxInt32 {
		t.Errorf("id %q, want %d (numeric, < 2^31)", id, aid)
	}
	if d.Deployment.Download != "forced" || d.Deployment.Update != "forced" {
		t.Errorf("download/update %q/%q, want forced/forced (never skip)", d.Deployment.Download, d.Deployment.Update)
	}
	if len(d.Deployment.Chunks) != 1 || len(d.Deployment.Chunks[0].Artifacts) != 1 {
		t.Fatalf("want exactly one chunk with one artifact: %+v", d.Deployment.Chunks)
	}
	c := d.Deployment.Chunks[0]
	if c.Part != "os" || c.Version != "1.2.0" || c.Name != "rootfs" {
		t.Errorf("chunk %q %q %q", c.Part, c.Version, c.Name)
	}
	a := c.Artifacts[0]
	if !strings.HasSuffix(a.Filename, ".swu") {
		t.Errorf("filename %q does not end in .swu", a.Filename)
	}
	if !sha1RE.MatchString(a.Hashes["sha1"]) || a.Hashes["sha1"] != sw.SHA1 || a.Hashes["md5"] != sw.MD5 || a.Hashes["sha256"] != sw.SHA256 {
		t.Errorf("hashes %v", a.Hashes)
	}
	if n, err := strconv.ParseInt(string(a.Size), 10, 64); err != nil || n != sw.Size {
		t.Errorf("size %s, want integer %d", a.Size, sw.Size)
	}
	dl := e.base("dev-01") + "/softwaremodules/" + itoa(sw.ID) + "/artifacts/" + sw.Filename
	for name, want := range map[string]string{
		"download": dl, "download-http": dl, "md5sum": dl + ".MD5SUM", "md5sum-http": dl + ".MD5SUM",
	} {
		if got := a.Links[name].Href; got != want {
			t.Errorf("link %s = %q, want %q", name, got, want)
		}
	}
	if d.ActionHistory != nil {
		t.Error("actionHistory without being asked")
	}
}

// Software registered by URL is downloaded from there.
func TestDeploymentURLSoftware(t *testing.T) {
	e := MustEnv(t, ddi.Config{})
	e.Poll("dev-01")
	sw := &schema.Software{Tenant: tenant, Version: "3.0.0", Filename: "big.swu", Size: 1 << 30,
		SHA1: strings.Repeat("a", 40), MD5: strings.Repeat("b", 32), SHA256: strings.Repeat("c", 64),
		URL: "https://cdn.example.com/big.swu"}
	if err := e.db.CreateSoftware(context.Background(), sw); err != nil {
		t.Fatal(err)
	}
	e.MustRollout(sw)
	links, _ := e.Poll("dev-01")
	d := decodeDeployment(t, e.Do("GET", links["deploymentBase"], ""))
	l := d.Deployment.Chunks[0].Artifacts[0].Links
	if l["download"].Href != sw.URL || l["download-http"].Href != sw.URL || !strings.HasPrefix(l["md5sum"].Href, e.url) {
		t.Errorf("links %+v", l)
	}
	r := e.Do("GET", e.base("dev-01")+"/softwaremodules/"+itoa(sw.ID)+"/artifacts/big.swu.MD5SUM", "")
	MustStatus(t, r, 200)
}

// The full SWUpdate cycle (SWUPDATE.md), PROTOCOL.md 2, 6, 7, 8.
func TestDeploymentCycle(t *testing.T) {
	e := MustEnv(t, ddi.Config{})
	href, aid, sw, _ := e.MustOffer("dev-01", swupdateHeaders...)
	fbURL := e.base("dev-01") + "/deploymentBase/" + itoa(aid) + "/feedback"

	steps := []struct {
		name, body string
		want       int
	}{
		{"proceeding", fbProceeding, 200},
		{"duplicate proceeding", fbProceeding, 200},
		{"log flush cnt>of", `{"id":1,"time":"x","status":{"result":{"progress":{"cnt":1,"of":0},"finished":"none"},"execution":"proceeding","details":["line 1","line 2"]}}`, 200},
		{"hawkBit form", `{"timestamp":1700000000000,"status":{"execution":"proceeding","result":{"finished":"none","progress":{"cnt":2,"of":5}},"code":200,"details":[]}}`, 200},
		{"empty details", `{"id":"1","status":{"execution":"downloaded","result":{"finished":"none"},"details":[""]}}`, 200},
		{"missing execution", `{"status":{"result":{"finished":"none"}}}`, 400},
		{"missing finished", `{"status":{"execution":"proceeding"}}`, 400},
		{"malformed", `{"status":`, 400},
		{"closed success", fbSuccess, 200},
		{"retried closed success", fbSuccess, 200},
		{"after close", fbProceeding, 410},
		{"different close after close", fbFailure, 410},
	}
	for _, st := range steps {
		r := e.Do("POST", fbURL, st.body, swupdateHeaders...)
		if r.status != st.want {
			t.Fatalf("%s: status %d, want %d: %s", st.name, r.status, st.want, r.body)
		}
		if st.want == 200 && len(r.body) != 0 {
			t.Errorf("%s: 200 with body %q", st.name, r.body)
		}
		if st.want >= 400 && !strings.Contains(string(r.body), `"errorCode"`) {
			t.Errorf("%s: error without JSON body: %q", st.name, r.body)
		}
	}
	if a := e.MustAction("dev-01", aid); a.Status != schema.ActionSucceeded {
		t.Fatalf("action %s, want succeeded", a.Status)
	}
	d := e.MustDevice("dev-01")
	if d.SWVersion != sw.Version || d.InstalledSoftwareID != sw.ID {
		t.Errorf("device runs %q/%d", d.SWVersion, d.InstalledSoftwareID)
	}

	// Closed: no more offer, configData asked again, installedBase offered.
	links, _ := e.Poll("dev-01")
	if _, ok := links["deploymentBase"]; ok {
		t.Fatalf("closed action still offered: %v", links)
	}
	if links["configData"] != e.base("dev-01")+"/configData" {
		t.Errorf("configData not requested after success: %v", links)
	}
	if links["installedBase"] != e.base("dev-01")+"/installedBase/"+itoa(aid) {
		t.Errorf("installedBase link %q", links["installedBase"])
	}
	MustStatus(t, e.Do("GET", href, ""), 404)
	inst := decodeDeployment(t, e.Do("GET", links["installedBase"]+"?actionHistory=2", ""))
	if inst.ActionHistory == nil || inst.ActionHistory.Status != "FINISHED" ||
		len(inst.ActionHistory.Messages) == 0 || inst.ActionHistory.Messages[0] != "Update Installed." {
		t.Errorf("installedBase history %+v", inst.ActionHistory)
	}
	MustStatus(t, e.Do("PUT", links["configData"], configDataBody, swupdateHeaders...), 200)
	if links, _ := e.Poll("dev-01"); links["configData"] != "" {
		t.Errorf("configData still requested after PUT: %v", links)
	}
}

func TestDeploymentHistory(t *testing.T) {
	e := MustEnv(t, ddi.Config{})
	href, aid, _, _ := e.MustOffer("dev-01")
	fbURL := e.base("dev-01") + "/deploymentBase/" + itoa(aid) + "/feedback"
	for _, msg := range []string{"one", "two", "three"} {
		MustStatus(t, e.Do("POST", fbURL, `{"status":{"execution":"proceeding","result":{"finished":"none"},"details":["`+msg+`"]}}`), 200)
	}
	d := decodeDeployment(t, e.Do("GET", href+"&actionHistory=2", ""))
	if h := d.ActionHistory; h == nil || h.Status != "RUNNING" || strings.Join(h.Messages, ",") != "three,two" {
		t.Errorf("actionHistory %+v, want RUNNING [three two]", h)
	}
}

// SWUPDATE.md: a failure report that is not JSON is stored, not lost.
func TestFeedbackInvalidJSONFailureStored(t *testing.T) {
	e := MustEnv(t, ddi.Config{})
	_, aid, sw, _ := e.MustOffer("dev-01")
	r := e.Do("POST", e.base("dev-01")+"/deploymentBase/"+itoa(aid)+"/feedback", fbBrokenFailure, swupdateHeaders...)
	MustStatus(t, r, 200)
	if a := e.MustAction("dev-01", aid); a.Status != schema.ActionFailed {
		t.Fatalf("action %s, want failed", a.Status)
	}
	fbs, err := e.db.Feedback(context.Background(), tenant, "dev-01", aid, 0, 10)
	if err != nil || len(fbs) != 1 {
		t.Fatalf("feedback %v %v", fbs, err)
	}
	if got := fbs[0].Details; len(got) != 1 || got[0] != "No artifact download URL reported by server.\n" {
		t.Errorf("details %q", got)
	}
	// A failed software is not offered again.
	if links, _ := e.Poll("dev-01"); links["deploymentBase"] != "" {
		t.Errorf("failed software offered again: %v", links)
	}
	if d := e.MustDevice("dev-01"); d.SkipSoftwareID != sw.ID {
		t.Errorf("skip %d, want %d", d.SkipSoftwareID, sw.ID)
	}
}

// PROTOCOL.md 9.
func TestCancel(t *testing.T) {
	for _, tc := range []struct {
		name     string
		body     string
		want     schema.ActionStatus
		reoffers bool
	}{
		{"acknowledged", fbCancelAck, schema.ActionCanceled, false},
		{"rejected", `{"id":1,"status":{"result":{"finished":"none"},"execution":"rejected","details":["busy"]}}`, schema.ActionRunning, true},
		{"closed failure", `{"id":1,"status":{"result":{"finished":"failure"},"execution":"closed","details":["too late"]}}`, schema.ActionRunning, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := MustEnv(t, ddi.Config{})
			_, aid, _, _ := e.MustOffer("dev-01")
			// Cancel feedback on an action that is not canceling: 405.
			MustStatus(t, e.Do("POST", e.base("dev-01")+"/cancelAction/"+itoa(aid)+"/feedback", fbCancelAck), 405)
			MustStatus(t, e.Do("GET", e.base("dev-01")+"/cancelAction/"+itoa(aid), ""), 404)

			if _, err := e.db.CancelAction(context.Background(), tenant, "dev-01", aid); err != nil {
				t.Fatal(err)
			}
			e.Publish(cache.KindDevice, "dev-01")
			links, _ := e.Poll("dev-01", swupdateHeaders...)
			href := links["cancelAction"]
			if href != e.base("dev-01")+"/cancelAction/"+itoa(aid) {
				t.Fatalf("cancelAction href %q (must have no query)", href)
			}
			if _, ok := links["deploymentBase"]; ok {
				t.Fatal("deploymentBase offered beside cancelAction")
			}
			r := e.Do("GET", href, "", swupdateHeaders...)
			MustStatus(t, r, 200)
			if want := `{"id":"` + itoa(aid) + `","cancelAction":{"stopId":"` + itoa(aid) + `"}}`; string(r.body) != want {
				t.Errorf("cancelAction %s, want %s", r.body, want)
			}
			MustStatus(t, e.Do("POST", href+"/feedback", tc.body, swupdateHeaders...), 200)
			if a := e.MustAction("dev-01", aid); a.Status != tc.want {
				t.Fatalf("action %s, want %s", a.Status, tc.want)
			}
			links, _ = e.Poll("dev-01")
			if got := links["deploymentBase"] != ""; got != tc.reoffers {
				t.Errorf("deployment offered again = %v, want %v (%v)", got, tc.reoffers, links)
			}
			if links["cancelAction"] != "" {
				t.Errorf("cancelAction still offered: %v", links)
			}
		})
	}
}

func TestNotFound(t *testing.T) {
	e := MustEnv(t, ddi.Config{})
	_, aid, _, _ := e.MustOffer("dev-01")
	e.Poll("dev-02")
	for _, tc := range []struct {
		name, method, path, body string
	}{
		{"unknown device deployment", "GET", "/DEFAULT/controller/v1/nobody/deploymentBase/" + itoa(aid), ""},
		{"unknown device feedback", "POST", "/DEFAULT/controller/v1/nobody/deploymentBase/" + itoa(aid) + "/feedback", fbProceeding},
		{"unknown device configData", "PUT", "/DEFAULT/controller/v1/nobody/configData", configDataBody},
		{"other device's action", "GET", "/DEFAULT/controller/v1/dev-02/deploymentBase/" + itoa(aid), ""},
		{"other device's feedback", "POST", "/DEFAULT/controller/v1/dev-02/deploymentBase/" + itoa(aid) + "/feedback", fbProceeding},
		{"unknown action", "GET", "/DEFAULT/controller/v1/dev-01/deploymentBase/99999", ""},
		{"non-numeric action", "GET", "/DEFAULT/controller/v1/dev-01/deploymentBase/abc", ""},
		{"unknown installedBase", "GET", "/DEFAULT/controller/v1/dev-01/installedBase/99999", ""},
		{"open action as installedBase", "GET", "/DEFAULT/controller/v1/dev-01/installedBase/" + itoa(aid), ""},
		{"unknown tenant feedback", "POST", "/NOPE/controller/v1/dev-01/deploymentBase/" + itoa(aid) + "/feedback", fbProceeding},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.Do(tc.method, e.url+tc.path, tc.body)
			MustStatus(t, r, 404)
			var body struct{ ErrorCode, Message string }
			if err := json.Unmarshal(r.body, &body); err != nil || body.ErrorCode != schema.ENOTFOUND {
				t.Errorf("body %q", r.body)
			}
		})
	}
}
