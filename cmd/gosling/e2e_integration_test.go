package main_test

// End-to-end scenarios: a real `gosling serve` and Debian's real swupdate
// client (see /work/shared/ddi/SWUPDATE.md), each test with its own server,
// data directory and clients. The waits are bounded waits on external
// processes, not speed assertions.

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gosling-ota/gosling/cmd/gosling/testenv"
)

// TestE2ERegister: a new device polls, is auto-registered and sends its
// identify list as configData, which Gosling stores as attributes; its
// reported sw_version becomes its version and its last-seen time is recorded.
// Every answer, the very first poll's included, is one the client accepts.
// The server URL is given with a trailing slash, as operators do: the
// client then asks for //DEFAULT/controller/…, which must work too.
func TestE2ERegister(t *testing.T) {
	t.Parallel()
	g := testenv.StartGosling(t, testenv.GoslingOpts{})
	proxy := testenv.StartProxy(t, g.DDIURL, testenv.ProxyOpts{})
	testenv.StartSWUpdate(t, testenv.SWUpdateOpts{
		URL: proxy.URL + "/", ID: "e2e-register",
		Identify: map[string]string{"hw_model": "devboard", "hw_revision": "1.0", "sw_version": "0.9.0", "serial": "SN-0042"},
	})
	waitDevice(t, g, "e2e-register", waitStep, func(d testenv.Object) (bool, string) {
		if ok, msg := wantAttributes(d, map[string]string{"hw_model": "devboard", "hw_revision": "1.0", "sw_version": "0.9.0", "serial": "SN-0042"}); !ok {
			return false, msg
		}
		return d.Str("sw_version") == "0.9.0", "sw_version is not the reported 0.9.0"
	})
	d := waitDevice(t, g, "e2e-register", waitFlushed, func(d testenv.Object) (bool, string) {
		return !lastSeen(t, d).IsZero(), "last_seen not recorded"
	})
	if d.Int("action_id") != 0 || d.Str("update_mode") == "" {
		t.Errorf("fresh device %s: want no action and an update mode", d)
	}
	if reqs := proxy.Requests(); len(reqs) == 0 || !strings.HasPrefix(reqs[0].URI, "//DEFAULT/controller/v1/") {
		t.Errorf("the client's first request was not for //DEFAULT/controller/v1/…: %+v", reqs)
	}
	wantAllOK(t, proxy)
}

// TestE2EInstall: a signed image assigned to a device is installed by the
// rawfile handler; the action stays open after "All Chunks Installed." until
// the next swupdate process (-c 2, "the reboot went fine") reports success,
// and the device then runs the image's version. No request of the whole
// cycle gets an answer the client counts as an error.
func TestE2EInstall(t *testing.T) {
	t.Parallel()
	g := testenv.StartGosling(t, testenv.GoslingOpts{})
	proxy := testenv.StartProxy(t, g.DDIURL, testenv.ProxyOpts{})
	spec := testenv.SWUSpec{Version: "2.0.0", Board: "devboard", Revisions: []string{"1.0"}, Path: t.TempDir(),
		Payload: []byte("installed by gosling e2e\n")}
	swID, _ := uploadSWU(t, g, spec)

	opts := testenv.SWUpdateOpts{URL: proxy.URL, ID: "e2e-install", SWVersion: "1.0.0"}
	first := testenv.StartSWUpdate(t, opts)
	waitDevice(t, g, opts.ID, waitStep, func(d testenv.Object) (bool, string) {
		return wantAttributes(d, map[string]string{"hw_model": "devboard", "hw_revision": "1.0", "sw_version": "1.0.0"})
	})
	g.MustJSON(t, http.StatusOK, "PATCH", "/api/v1/devices/"+opts.ID, map[string]any{"update_mode": "assigned", "software_id": swID})

	actionID := openActionID(t, g, opts.ID)
	a := waitAction(t, g, opts.ID, actionID, "running", "All Chunks Installed.")
	if a.Int("software_id") != swID {
		t.Errorf("action software_id = %d, want %d", a.Int("software_id"), swID)
	}
	wantFile(t, spec.PayloadFile(), spec.PayloadBytes())
	first.Stop()
	if a := action(t, g, opts.ID, actionID); a.Str("status") != "running" {
		t.Fatalf("action after the first process: %s, want it still running", a)
	}

	opts.Confirm = 2
	second := testenv.StartSWUpdate(t, opts)
	waitAction(t, g, opts.ID, actionID, "succeeded", "Update Installed.")
	d := waitDevice(t, g, opts.ID, waitStep, func(d testenv.Object) (bool, string) {
		return d.Str("sw_version") == spec.Version && d.Int("action_id") == 0 && d.Int("last_action_id") == actionID,
			"want sw_version 2.0.0, no open action, last_action_id set"
	})
	if st := d.Str("status"); st != "in_sync" {
		t.Errorf("device status %q, want in_sync", st)
	}
	// After success Gosling asks for configData again; the client still
	// reports its static sw_version 1.0.0, which must not win over the
	// installed version.
	second.WaitOutput(t, "CONFIGDATA=", waitStep)
	waitDevice(t, g, opts.ID, waitStep, func(d testenv.Object) (bool, string) {
		return d.Str("config_requested") == "false", "configData not received after success"
	})
	if d := device(t, g, opts.ID); d.Str("sw_version") != spec.Version {
		t.Errorf("after the client's configData the device's sw_version is %q, want %q", d.Str("sw_version"), spec.Version)
	}
	list := g.MustJSON(t, http.StatusOK, "GET", "/api/v1/devices/"+opts.ID+"/actions", nil)
	if list.Int("total") != 1 {
		t.Errorf("actions: %s, want exactly one", list)
	}
	wantAllOK(t, proxy)
}

// TestE2EReboot: the final report comes from a new swupdate process (the
// device rebooted) to a restarted server (same data directory): the open
// action survives both, and -c 2 closes it succeeded, -c 3 failed.
func TestE2EReboot(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		confirm int
		status  string
		log     string
		version string // the device's sw_version afterwards
	}{
		{"success", 2, "succeeded", "Update Installed.", "2.0.0"},
		{"failure", 3, "failed", "Update Failed.", "1.0.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gopts := testenv.GoslingOpts{DataDir: t.TempDir(), AdminToken: "reboot-test-admin-token"}
			g := testenv.StartGosling(t, gopts)
			spec := testenv.SWUSpec{Version: "2.0.0", Board: "devboard", Path: t.TempDir()}
			swID, _ := uploadSWU(t, g, spec)
			const id = "e2e-reboot"
			g.MustJSON(t, http.StatusCreated, "POST", "/api/v1/devices", map[string]any{"id": id, "update_mode": "assigned", "software_id": swID})

			first := testenv.StartSWUpdate(t, testenv.SWUpdateOpts{URL: g.DDIURL, ID: id, SWVersion: "1.0.0"})
			actionID := openActionID(t, g, id)
			waitAction(t, g, id, actionID, "running", "All Chunks Installed.")
			first.Stop()
			g.Stop()

			g = testenv.StartGosling(t, gopts)
			if a := action(t, g, id, actionID); a.Str("status") != "running" {
				t.Fatalf("action after a server restart: %s, want running", a)
			}
			testenv.StartSWUpdate(t, testenv.SWUpdateOpts{URL: g.DDIURL, ID: id, SWVersion: "1.0.0", Confirm: tt.confirm})
			waitAction(t, g, id, actionID, tt.status, tt.log)
			waitDevice(t, g, id, waitStep, func(d testenv.Object) (bool, string) {
				return d.Int("action_id") == 0 && d.Str("sw_version") == tt.version,
					fmt.Sprintf("want no open action and sw_version %s", tt.version)
			})
		})
	}
}

// TestE2EInstallFailure: images the client refuses end the action failed,
// with the client's error lines in the action's log, and are not offered
// again.
func TestE2EInstallFailure(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		spec     testenv.SWUSpec
		revision string // what swupdate -H says; identify always reports 1.0
		want     string
	}{
		// Gosling offers the image because the device reported revision
		// 1.0, but the client really is revision 2.0.
		{"incompatible hardware", testenv.SWUSpec{Version: "2.0.0", Board: "devboard"}, "2.0", "SW not compatible with hardware"},
		{"wrong sha256", testenv.SWUSpec{Version: "2.0.0", Board: "devboard", BadHash: true}, "1.0", "HASH mismatch"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := testenv.StartGosling(t, testenv.GoslingOpts{})
			tt.spec.Path = t.TempDir()
			swID, _ := uploadSWU(t, g, tt.spec)
			id := fmt.Sprintf("e2e-fail-%d", i)
			g.MustJSON(t, http.StatusCreated, "POST", "/api/v1/devices", map[string]any{"id": id, "update_mode": "assigned", "software_id": swID})

			sw := testenv.StartSWUpdate(t, testenv.SWUpdateOpts{URL: g.DDIURL, ID: id, SWVersion: "1.0.0",
				Revision: tt.revision, Identify: map[string]string{"hw_model": "devboard", "hw_revision": "1.0", "sw_version": "1.0.0"}})
			actionID := openActionID(t, g, id)
			waitAction(t, g, id, actionID, "failed", tt.want)
			d := waitDevice(t, g, id, waitStep, func(d testenv.Object) (bool, string) {
				return d.Int("action_id") == 0 && d.Str("status") == "failed", "want no open action and status failed"
			})
			if d.Str("sw_version") != "1.0.0" {
				t.Errorf("device sw_version %q after a failed install, want 1.0.0", d.Str("sw_version"))
			}
			// Two more polls must not bring a new action for the same software.
			polls := strings.Count(sw.Output(), "/controller/v1/"+id+"\n")
			testenv.Eventually(t, waitStep, func() (bool, string) {
				return strings.Count(sw.Output(), "/controller/v1/"+id+"\n") >= polls+2, "client stopped polling"
			})
			if list := g.MustJSON(t, http.StatusOK, "GET", "/api/v1/devices/"+id+"/actions", nil); list.Int("total") != 1 {
				t.Errorf("failed software offered again: %s", list)
			}
		})
	}
}

// TestE2ECancel: an action canceled before the device picks it up is
// offered as cancelAction; the client acknowledges it, the action ends
// canceled and nothing is installed.
func TestE2ECancel(t *testing.T) {
	t.Parallel()
	g := testenv.StartGosling(t, testenv.GoslingOpts{})
	spec := testenv.SWUSpec{Version: "2.0.0", Board: "devboard", Path: t.TempDir()}
	swID, _ := uploadSWU(t, g, spec)
	const id = "e2e-cancel"
	g.MustJSON(t, http.StatusCreated, "POST", "/api/v1/devices", map[string]any{"id": id, "name": "cancel me"})
	// The device's earlier life, as a client would have lived it: its
	// hardware is known (Gosling offers images only to matching hardware)
	// before the operator assigns the software.
	base := "/DEFAULT/controller/v1/" + id
	if status, body := g.DDI(t, "PUT", base+"/configData", map[string]any{
		"data": map[string]string{"hw_model": "devboard", "hw_revision": "1.0", "sw_version": "1.0.0"}, "mode": "merge"}); status != http.StatusOK {
		t.Fatalf("PUT configData: %d %s", status, body)
	}
	g.MustJSON(t, http.StatusOK, "PATCH", "/api/v1/devices/"+id, map[string]any{"update_mode": "assigned", "software_id": swID})
	// A poll makes Gosling open the action (it is offered as deploymentBase).
	testenv.Eventually(t, waitStep, func() (bool, string) {
		status, body := g.DDI(t, "GET", base, nil)
		return status == http.StatusOK && strings.Contains(string(body), "deploymentBase"), fmt.Sprintf("poll: %d %s", status, body)
	})
	actionID := openActionID(t, g, id)
	canceled := g.MustJSON(t, http.StatusOK, "POST", fmt.Sprintf("/api/v1/devices/%s/actions/%d/cancel", id, actionID), nil)
	if canceled.Str("status") != "canceling" {
		t.Fatalf("cancel answered %s, want status canceling", canceled)
	}

	sw := testenv.StartSWUpdate(t, testenv.SWUpdateOpts{URL: g.DDIURL, ID: id, SWVersion: "1.0.0"})
	waitAction(t, g, id, actionID, "canceled", "cancellation acknowledged")
	waitDevice(t, g, id, waitStep, func(d testenv.Object) (bool, string) {
		return d.Int("action_id") == 0, "action still open on the device"
	})
	polls := strings.Count(sw.Output(), "/controller/v1/"+id+"\n")
	testenv.Eventually(t, waitStep, func() (bool, string) {
		return strings.Count(sw.Output(), "/controller/v1/"+id+"\n") >= polls+2, "client stopped polling"
	})
	if _, err := os.Stat(spec.PayloadFile()); !os.IsNotExist(err) {
		t.Errorf("canceled image was installed (%s: %v)", spec.PayloadFile(), err)
	}
	if list := g.MustJSON(t, http.StatusOK, "GET", "/api/v1/devices/"+id+"/actions", nil); list.Int("total") != 1 {
		t.Errorf("canceled software offered again: %s", list)
	}
}

// TestE2EResumeDownload: a download cut mid-way by a proxy is resumed by the
// client with a Range request from where it stopped; the install completes.
// The device gets the image through a rollout of its feed.
func TestE2EResumeDownload(t *testing.T) {
	t.Parallel()
	g := testenv.StartGosling(t, testenv.GoslingOpts{})
	payload := make([]byte, 4<<20)
	rand.Read(payload)
	spec := testenv.SWUSpec{Version: "3.0.0", Board: "devboard", Path: t.TempDir(), Payload: payload}
	swID, image := uploadSWU(t, g, spec)
	rollout := g.MustJSON(t, http.StatusCreated, "POST", "/api/v1/rollouts", map[string]any{"name": "resume", "feed": "default", "software_id": swID})

	const cutAfter = 1 << 20
	proxy := testenv.StartProxy(t, g.DDIURL, testenv.ProxyOpts{CutAfter: cutAfter})
	opts := testenv.SWUpdateOpts{URL: proxy.URL, ID: "e2e-resume", SWVersion: "1.0.0"}
	first := testenv.StartSWUpdate(t, opts)
	actionID := openActionID(t, g, opts.ID)
	a := waitAction(t, g, opts.ID, actionID, "running", "All Chunks Installed.")
	if a.Int("rollout_id") != rollout.Int("id") {
		t.Errorf("action %s, want rollout_id %d", a, rollout.Int("id"))
	}
	wantFile(t, spec.PayloadFile(), payload)
	first.Stop()

	var cut, resumed *testenv.ProxyRequest
	var seen []string
	for _, r := range proxy.Requests() {
		seen = append(seen, fmt.Sprintf("%s %s Range=%q → %d cut=%v", r.Method, r.URI, r.Header.Get("Range"), r.Status, r.Cut))
		switch {
		case r.Cut:
			cut = &r
		case cut != nil && r.Method == "GET" && r.Header.Get("Range") != "":
			resumed = &r
		}
	}
	t.Logf("requests through the proxy:\n%s", strings.Join(seen, "\n"))
	if cut == nil || resumed == nil {
		t.Fatalf("want a cut download followed by a Range request")
	}
	if got, want := resumed.Header.Get("Range"), fmt.Sprintf("bytes=%d-", cutAfter); got != want {
		t.Errorf("resumed with Range %q, want %q", got, want)
	}
	if resumed.Status != http.StatusPartialContent {
		t.Errorf("resumed download answered %d, want 206", resumed.Status)
	}
	if resumed.URI != cut.URI {
		t.Errorf("resumed %s, cut %s: want the same artifact", resumed.URI, cut.URI)
	}
	if len(image) <= cutAfter {
		t.Fatalf("image of %d bytes is too small to cut after %d", len(image), cutAfter)
	}

	opts.Confirm = 2
	testenv.StartSWUpdate(t, opts)
	waitAction(t, g, opts.ID, actionID, "succeeded", "Update Installed.")
	waitDevice(t, g, opts.ID, waitStep, func(d testenv.Object) (bool, string) {
		return d.Str("sw_version") == spec.Version, "want sw_version 3.0.0"
	})
}

// TestE2EStrictTargetToken: with --device-auth strict, a pre-provisioned
// device presenting its TargetToken registers and gets its update (the
// token also works on the download), while a wrong token and an unknown
// device are refused: nothing they send is stored.
func TestE2EStrictTargetToken(t *testing.T) {
	t.Parallel()
	g := testenv.StartGosling(t, testenv.GoslingOpts{DeviceAuth: "strict"})
	spec := testenv.SWUSpec{Version: "2.0.0", Board: "devboard", Path: t.TempDir()}
	swID, _ := uploadSWU(t, g, spec)
	const (
		good, bad, unknown = "e2e-strict-good", "e2e-strict-bad", "e2e-strict-unknown"
		goodToken          = "good-token-5f0c2e9a"
	)
	g.MustJSON(t, http.StatusCreated, "POST", "/api/v1/devices", map[string]any{"id": good, "token": goodToken, "update_mode": "assigned", "software_id": swID})
	g.MustJSON(t, http.StatusCreated, "POST", "/api/v1/devices", map[string]any{"id": bad, "token": "bad-device-real-token", "update_mode": "assigned", "software_id": swID})
	// A refusal is 401 with an empty body, whatever the reason.
	for _, tc := range []struct{ id, auth string }{
		{bad, "TargetToken not-the-token"}, {bad, ""}, {unknown, "TargetToken " + goodToken}, {good, "TargetToken bad-device-real-token"},
	} {
		status, body := g.DDI(t, "GET", "/DEFAULT/controller/v1/"+tc.id, nil, "Authorization", tc.auth)
		if status != http.StatusUnauthorized || len(body) != 0 {
			t.Errorf("poll of %s with %q answered %d %q, want 401 and no body", tc.id, tc.auth, status, body)
		}
	}

	refused := []*testenv.SWUpdate{
		testenv.StartSWUpdate(t, testenv.SWUpdateOpts{URL: g.DDIURL, ID: bad, TargetToken: "not-the-token"}),
		testenv.StartSWUpdate(t, testenv.SWUpdateOpts{URL: g.DDIURL, ID: unknown, TargetToken: goodToken}),
	}
	testenv.StartSWUpdate(t, testenv.SWUpdateOpts{URL: g.DDIURL, ID: good, TargetToken: goodToken})

	waitDevice(t, g, good, waitStep, func(d testenv.Object) (bool, string) {
		return wantAttributes(d, map[string]string{"hw_model": "devboard", "hw_revision": "1.0", "sw_version": "1.0.0"})
	})
	actionID := openActionID(t, g, good)
	waitAction(t, g, good, actionID, "running", "All Chunks Installed.")
	wantFile(t, spec.PayloadFile(), spec.PayloadBytes())

	// Both refused clients have polled and pushed configData, and were told 401.
	for _, sw := range refused {
		testenv.Eventually(t, waitStep, func() (bool, string) {
			n := strings.Count(sw.Output(), "HTTP error code 401")
			return n >= 4, fmt.Sprintf("%s: %d refusals so far", sw.Opts.ID, n)
		})
	}
	// Once a last-seen flush that follows their attempts has happened
	// (the good device's last_seen moves past this point), nothing of
	// theirs may have been recorded.
	refusedBy := time.Now()
	waitDevice(t, g, good, waitFlushed, func(d testenv.Object) (bool, string) {
		return lastSeen(t, d).After(refusedBy), "no last-seen flush yet"
	})
	d := device(t, g, bad)
	if len(d.Obj("attributes")) != 0 || !lastSeen(t, d).IsZero() || d.Int("action_id") != 0 {
		t.Errorf("device with a wrong token left traces: %s", d)
	}
	if status, body, _ := g.Admin("GET", "/api/v1/devices/"+unknown, nil); status != http.StatusNotFound {
		t.Errorf("unknown device in strict mode: GET answered %d %s, want 404", status, body)
	}
}

// TestE2EStagedRollout: a real client updates through a staged rollout.
// The rollout targets devices by tag in two waves, one device first
// ({count: 1}), then everyone ({percent: 100}); the tagged device is in
// wave 0, swupdate installs, the next process (-c 2) confirms, and the
// rollout's statistics count the success once while the untagged device
// is not targeted at all. The action carries the rollout and its wave.
func TestE2EStagedRollout(t *testing.T) {
	t.Parallel()
	g := testenv.StartGosling(t, testenv.GoslingOpts{})
	spec := testenv.SWUSpec{Version: "2.0.0", Board: "devboard", Revisions: []string{"1.0"}, Path: t.TempDir(),
		Payload: []byte("installed through a staged rollout\n")}
	swID, _ := uploadSWU(t, g, spec)
	const id, other = "e2e-staged", "e2e-staged-other"
	g.MustJSON(t, http.StatusCreated, "POST", "/api/v1/devices", map[string]any{"id": id, "token": nil, "tags": []string{"canary"}})
	g.MustJSON(t, http.StatusCreated, "POST", "/api/v1/devices", map[string]any{"id": other, "token": nil})
	ro := g.MustJSON(t, http.StatusCreated, "POST", "/api/v1/rollouts", map[string]any{
		"name": "staged-e2e", "software_id": swID, "target": map[string]any{"tags": []string{"canary"}},
		"waves": []map[string]any{{"count": 1}, {"percent": 100}},
	})
	roID := ro.Int("id")
	if ro.Int("current_wave") != 0 {
		t.Fatalf("rollout created running: %s, want wave 0 open at once", ro)
	}

	opts := testenv.SWUpdateOpts{URL: g.DDIURL, ID: id, SWVersion: "1.0.0"}
	first := testenv.StartSWUpdate(t, opts)
	actionID := openActionID(t, g, id)
	a := waitAction(t, g, id, actionID, "running", "All Chunks Installed.")
	if a.Int("rollout_id") != roID || a.Int("wave") != 0 || a.Int("software_id") != swID {
		t.Fatalf("action %s: want rollout_id %d, wave 0, software_id %d", a, roID, swID)
	}
	wantFile(t, spec.PayloadFile(), spec.PayloadBytes())
	first.Stop()

	opts.Confirm = 2
	testenv.StartSWUpdate(t, opts)
	waitAction(t, g, id, actionID, "succeeded", "Update Installed.")
	var last testenv.Object
	testenv.Eventually(t, waitStep, func() (bool, string) {
		last = g.MustJSON(t, http.StatusOK, "GET", fmt.Sprintf("/api/v1/rollouts/%d", roID), nil)
		st := last.Obj("stats")
		done := last.Str("status") == "finished" && st.Int("targeted") == 1 && st.Int("succeeded") == 1 &&
			st.Int("failed") == 0 && st.Int("pending") == 0 && st.Int("running") == 0
		return done, fmt.Sprintf("rollout %s: want it finished with 1 of 1 targeted devices succeeded", last)
	})
	waves := last.Obj("stats").List("waves")
	if len(waves) != 2 || waves[0].Int("succeeded") != 1 || waves[0].Int("targeted") != 1 || waves[1].Int("targeted") != 0 {
		t.Errorf("wave statistics %v: want the device succeeded in wave 0 and nobody in wave 1", waves)
	}
	if d := device(t, g, other); d.Int("action_id") != 0 || d.Int("last_action_id") != 0 {
		t.Errorf("untagged device %s got an action of the rollout", d)
	}
}
