package testenv

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// FleetOpts configures NewFleet.
type FleetOpts struct {
	// Frontlines are the device APIs the fleet talks to (at least one).
	// Every device sends its requests to them in turn, so that one
	// action's feedback arrives through several frontlines at once.
	Frontlines []*Gosling
	// Tenant is the DDI tenant. Default: DEFAULT.
	Tenant string
	// IDs are the devices' controller ids (required).
	IDs []string
	// Attributes returns the configData a device sends on its first round
	// (hw_model, hw_revision, sw_version …); sw_version is also the
	// version the simulator starts the device with. Default: none.
	Attributes func(id string) map[string]string
	// Fail decides, deterministically, whether the device's install of
	// version fails. Default: never. It is read during rounds only.
	Fail func(id, version string) bool
	// Workers is how many devices act at once. Default: 8.
	Workers int
}

// Fleet is a set of simulated DDI devices, driven in rounds over real
// HTTP: in a round every device polls once and does what the answer asks
// (configData, then a deploymentBase: proceeding feedback, then closed
// success or failure, then the same closed again, as a client retries).
// It records what each device really went through, for the test to
// compare with what the server reports.
type Fleet struct {
	opts    FleetOpts
	mu      sync.Mutex
	devices map[string]*SimDevice
	round   int
}

// SimDevice is one simulated device's record.
type SimDevice struct {
	ID string
	// Version is what the device runs now.
	Version string
	// Actions are the deployments it was offered, in order.
	Actions []SimAction
	// requests counts its requests, to pick the frontline of the next.
	requests int
}

// SimAction is one deployment a device was offered and what it did.
type SimAction struct {
	ID      int64
	Version string // the chunk's version
	Failed  bool   // closed failure (else success)
	Round   int    // the round it was offered in
}

// NewFleet returns a fleet of opts.IDs; nothing is sent before the first
// Round.
func NewFleet(opts FleetOpts) *Fleet {
	if opts.Tenant == "" {
		opts.Tenant = "DEFAULT"
	}
	if opts.Workers <= 0 {
		opts.Workers = 8
	}
	f := &Fleet{opts: opts, devices: make(map[string]*SimDevice, len(opts.IDs))}
	for _, id := range opts.IDs {
		d := &SimDevice{ID: id}
		if opts.Attributes != nil {
			d.Version = opts.Attributes(id)["sw_version"]
		}
		f.devices[id] = d
	}
	return f
}

// SetFail replaces the failure rule between rounds.
func (f *Fleet) SetFail(fail func(id, version string) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opts.Fail = fail
}

// Device returns a copy of a device's record.
func (f *Fleet) Device(id string) SimDevice {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := *f.devices[id]
	d.Actions = append([]SimAction(nil), d.Actions...)
	return d
}

// RoundStats says what one round did.
type RoundStats struct {
	Polls, Offers, Failed, Requests int
	Took                            time.Duration
}

// Round lets every device poll once and act on the answer, Workers at a
// time, and returns what happened. Any unexpected answer is an error
// (the first one); the round still completes for the other devices.
func (f *Fleet) Round() (RoundStats, error) {
	start := time.Now()
	f.mu.Lock()
	f.round++
	round, fail := f.round, f.opts.Fail
	f.mu.Unlock()

	jobs := make(chan *SimDevice)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		st    RoundStats
		first error
	)
	for range f.opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range jobs {
				res, err := f.act(d, round, fail)
				mu.Lock()
				st.Polls++
				st.Offers += res.offers
				st.Failed += res.failed
				st.Requests += res.requests
				if err != nil && first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	for _, id := range f.opts.IDs {
		jobs <- f.devices[id]
	}
	close(jobs)
	wg.Wait()
	st.Took = time.Since(start)
	return st, first
}

type actResult struct{ offers, failed, requests int }

// act is one device's turn. Only this worker touches d during a round;
// f.mu guards the fields Device reads.
func (f *Fleet) act(d *SimDevice, round int, fail func(id, version string) bool) (actResult, error) {
	var res actResult
	base := "/" + url.PathEscape(f.opts.Tenant) + "/controller/v1/" + url.PathEscape(d.ID)
	send := func(method, path string, body any, want ...int) ([]byte, error) {
		f.mu.Lock()
		g := f.opts.Frontlines[d.requests%len(f.opts.Frontlines)]
		d.requests++
		f.mu.Unlock()
		res.requests++
		status, raw, err := g.DDIRequest(method, path, body)
		if err != nil {
			return nil, fmt.Errorf("%s: %s %s on %s: %w", d.ID, method, path, g.DDIURL, err)
		}
		if len(want) == 0 {
			want = []int{http.StatusOK}
		}
		for _, w := range want {
			if status == w {
				return raw, nil
			}
		}
		return raw, fmt.Errorf("%s: %s %s on %s: status %d, want %v: %s", d.ID, method, path, g.DDIURL, status, want, raw)
	}

	raw, err := send("GET", base, nil)
	if err != nil {
		return res, err
	}
	var poll struct {
		Config struct {
			Polling struct {
				Sleep string `json:"sleep"`
			} `json:"polling"`
		} `json:"config"`
		Links map[string]struct {
			Href string `json:"href"`
		} `json:"_links"`
	}
	if err := json.Unmarshal(raw, &poll); err != nil || poll.Config.Polling.Sleep == "" {
		return res, fmt.Errorf("%s: poll answer %q: %v", d.ID, raw, err)
	}
	if round == 1 || poll.Links["configData"].Href != "" {
		data := map[string]string{}
		if f.opts.Attributes != nil {
			data = f.opts.Attributes(d.ID)
		}
		f.mu.Lock()
		data["sw_version"] = d.Version
		f.mu.Unlock()
		if _, err := send("PUT", base+"/configData", map[string]any{"data": data, "mode": "merge"}); err != nil {
			return res, err
		}
	}
	href := poll.Links["deploymentBase"].Href
	if href == "" {
		return res, nil
	}
	u, err := url.Parse(href)
	if err != nil {
		return res, fmt.Errorf("%s: deploymentBase href %q: %v", d.ID, href, err)
	}
	raw, err = send("GET", u.RequestURI(), nil)
	if err != nil {
		return res, err
	}
	var dep struct {
		ID         string `json:"id"`
		Deployment struct {
			Chunks []struct {
				Version string `json:"version"`
			} `json:"chunks"`
		} `json:"deployment"`
	}
	if err := json.Unmarshal(raw, &dep); err != nil || len(dep.Deployment.Chunks) == 0 {
		return res, fmt.Errorf("%s: deploymentBase %q: %v", d.ID, raw, err)
	}
	id, err := strconv.ParseInt(dep.ID, 10, 64)
	if err != nil {
		return res, fmt.Errorf("%s: deployment id %q: %v", d.ID, dep.ID, err)
	}
	version := dep.Deployment.Chunks[0].Version
	failed := fail != nil && fail(d.ID, version)
	res.offers++
	f.mu.Lock()
	d.Actions = append(d.Actions, SimAction{ID: id, Version: version, Failed: failed, Round: round})
	f.mu.Unlock()

	fb := base + "/deploymentBase/" + dep.ID + "/feedback"
	feedback := func(execution, finished, detail string) map[string]any {
		return map[string]any{"id": id, "status": map[string]any{"execution": execution,
			"result": map[string]any{"finished": finished, "progress": map[string]int{"cnt": 0, "of": 1}}, "details": []string{detail}}}
	}
	if _, err := send("POST", fb, feedback("proceeding", "none", "Installing Update Chunk Artifacts.")); err != nil {
		return res, err
	}
	closed := feedback("closed", "success", "Update Installed.")
	if failed {
		closed = feedback("closed", "failure", "Update Failed.")
		res.failed++
	}
	if _, err := send("POST", fb, closed); err != nil {
		return res, err
	}
	if !failed {
		f.mu.Lock()
		d.Version = version
		f.mu.Unlock()
	}
	// A client that missed the answer retries (through the other
	// frontline): the same closing report is answered 200 again, as
	// stored, and must not count twice.
	if _, err := send("POST", fb, closed); err != nil {
		return res, err
	}
	return res, nil
}
