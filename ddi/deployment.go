package ddi

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"net/url"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/gosling-ota/gosling/schema"
)

// History bounds for ?actionHistory=N: hawkBit keeps at most 1000 status
// rows per action, so reading that many covers any action.
const (
	maxHistoryRows     = 1000
	maxHistoryMessages = 200
	historyPage        = 250
)

type href struct {
	Href string `json:"href"`
}

type artifactLinks struct {
	Download     href `json:"download"`
	DownloadHTTP href `json:"download-http"`
	MD5Sum       href `json:"md5sum"`
	MD5SumHTTP   href `json:"md5sum-http"`
}

type hashes struct {
	SHA1   string `json:"sha1"`
	MD5    string `json:"md5"`
	SHA256 string `json:"sha256"`
}

type artifactJSON struct {
	Filename string        `json:"filename"`
	Hashes   hashes        `json:"hashes"`
	Size     int64         `json:"size"`
	Links    artifactLinks `json:"_links"`
}

type chunkJSON struct {
	Part      string         `json:"part"`
	Version   string         `json:"version"`
	Name      string         `json:"name"`
	Artifacts []artifactJSON `json:"artifacts"`
}

type deploymentJSON struct {
	Download string `json:"download"`
	Update   string `json:"update"`
	// MaintenanceWindow is "available" or "unavailable" when the action's
	// rollout has a maintenance window, else omitted (window.go).
	MaintenanceWindow string      `json:"maintenanceWindow,omitempty"`
	Chunks            []chunkJSON `json:"chunks"`
}

type historyJSON struct {
	Status   string   `json:"status"`
	Messages []string `json:"messages"`
}

type deploymentBaseJSON struct {
	ID            string         `json:"id"`
	Deployment    deploymentJSON `json:"deployment"`
	ActionHistory *historyJSON   `json:"actionHistory,omitempty"`
}

type cancelJSON struct {
	ID           string `json:"id"`
	CancelAction struct {
		StopID string `json:"stopId"`
	} `json:"cancelAction"`
}

// artifactOf renders sw's single artifact. Software registered by URL is
// downloaded from there; its .MD5SUM still comes from here.
func artifactOf(base, devPath string, sw *schema.Software) artifactJSON {
	local := base + devPath + "/softwaremodules/" + strconv.FormatInt(sw.ID, 10) + "/artifacts/" + url.PathEscape(sw.Filename)
	dl := local
	if sw.URL != "" {
		dl = sw.URL
	}
	return artifactJSON{
		Filename: sw.Filename,
		Hashes:   hashes{SHA1: sw.SHA1, MD5: sw.MD5, SHA256: sw.SHA256},
		Size:     sw.Size,
		Links: artifactLinks{
			Download:     href{dl},
			DownloadHTTP: href{dl},
			MD5Sum:       href{local + ".MD5SUM"},
			MD5SumHTTP:   href{local + ".MD5SUM"},
		},
	}
}

// deploymentOf renders PROTOCOL.md's deployment: one "os" chunk with one
// artifact (rauc wants exactly that; SWUpdate wants a .swu in every chunk),
// download and update always present and never "skip" (SWUpdate would
// report success without installing).
func deploymentOf(base, devPath string, a *schema.Action, sw *schema.Software) deploymentBaseJSON {
	name := sw.Name
	if name == "" {
		name = strings.TrimSuffix(sw.Filename, ".swu")
	}
	return deploymentBaseJSON{
		ID: strconv.FormatInt(a.ID, 10),
		Deployment: deploymentJSON{
			Download: handling(a.Download),
			Update:   handling(a.Update),
			Chunks: []chunkJSON{{
				Part:      "os",
				Version:   sw.Version,
				Name:      name,
				Artifacts: []artifactJSON{artifactOf(base, devPath, sw)},
			}},
		},
	}
}

// handling maps a rollout's or action's handling type to DDI's: "attempt"
// stays, anything else is "forced". "skip" is never sent for an install
// (SWUpdate would report success without installing, PROTOCOL.md item 5).
func handling(h string) string {
	if h == schema.HandlingAttempt {
		return schema.HandlingAttempt
	}
	return schema.HandlingForced
}

// writeJSON answers 200 with v. HTML escaping is off so URLs stay as built.
func (s *Server) writeJSON(ctx *fasthttp.RequestCtx, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		s.writeError(ctx, err)
		return
	}
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("application/json")
	ctx.SetBody(bytes.TrimRight(buf.Bytes(), "\n"))
}

// actionOf returns the device's action id and its software, from the
// entry when it is the cached open action, else from the store.
func (s *Server) actionOf(req request, id int64) (*schema.Action, *schema.Software, error) {
	if a := req.e.action(); a != nil && a.ID == id {
		return a, req.e.ext.sw, nil
	}
	var (
		a  *schema.Action
		sw *schema.Software
	)
	err := s.withTimeout(func(ctx context.Context) error {
		var err error
		if a, err = s.store.Action(ctx, req.ts.name, req.e.id(), id); err != nil {
			return err
		}
		sw, err = s.software(ctx, req.ts, a.SoftwareID)
		return err
	})
	return a, sw, err
}

// actionWindow returns the maintenance window of an open action's
// rollout, or nil: from the entry when it is the cached action, else from
// the catalog's rollouts.
func (s *Server) actionWindow(req request, a *schema.Action) *schema.MaintenanceWindow {
	if a.RolloutID == 0 {
		return nil
	}
	if ea := req.e.action(); ea != nil && ea.ID == a.ID && req.e.catGen == uint32(req.ts.gen.Load()) {
		return req.e.ext.window
	}
	snap, err := s.catalog(req.ts)
	if err != nil {
		return nil
	}
	if r := snap.rollout(a.RolloutID); r != nil {
		return r.Window
	}
	return nil
}

// software returns a software record, from the catalog when it has it.
func (s *Server) software(ctx context.Context, ts *tenantState, id int64) (*schema.Software, error) {
	if snap, err := s.catalog(ts); err == nil {
		if sw := snap.cat.Software(id); sw != nil {
			return sw, nil
		}
	}
	return s.store.Software(ctx, ts.name, id)
}

// handleDeploymentBase is GET …/deploymentBase/{actionId}: the device's
// open action (404 otherwise). The c query parameter is ignored.
func (s *Server) handleDeploymentBase(ctx *fasthttp.RequestCtx) {
	s.serveAction(ctx, true)
}

// handleInstalledBase is GET …/installedBase/{actionId}: a closed action
// of the device, in the deployment shape.
func (s *Server) handleInstalledBase(ctx *fasthttp.RequestCtx) {
	s.serveAction(ctx, false)
}

func (s *Server) serveAction(ctx *fasthttp.RequestCtx, open bool) {
	req, ok := s.authenticate(ctx)
	if !ok {
		return
	}
	base, ok := s.baseString(ctx)
	if !ok {
		s.badRequest(ctx, "a valid Host header is required")
		return
	}
	id, ok := idParam(ctx, pAction)
	if !ok {
		s.notFound(ctx, "unknown action")
		return
	}
	a, sw, err := s.actionOf(req, id)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	if a.Status.Open() != open {
		if open {
			s.notFound(ctx, "action "+strconv.FormatInt(id, 10)+" is not open")
		} else {
			s.notFound(ctx, "action "+strconv.FormatInt(id, 10)+" is not finished")
		}
		return
	}
	if a.ID > math.MaxInt32 {
		// SWUpdate parses the id as a C int.
		s.writeError(ctx, schema.Errorf(schema.EINTERNAL, "action id %d does not fit SWUpdate's int", a.ID))
		return
	}
	out := deploymentOf(base, req.e.path(), a, sw)
	if open {
		out.Deployment.MaintenanceWindow = windowState(s.actionWindow(req, a), s.now())
	}
	if n, err := strconv.Atoi(string(ctx.QueryArgs().Peek("actionHistory"))); err == nil && n != 0 {
		h, err := s.history(req, a, n)
		if err != nil {
			s.writeError(ctx, err)
			return
		}
		out.ActionHistory = h
	}
	s.writeJSON(ctx, out)
}

// history renders actionHistory: the action's status and the messages of
// its newest n feedbacks (n < 0: all), newest first.
func (s *Server) history(req request, a *schema.Action, n int) (*historyJSON, error) {
	if n < 0 || n > maxHistoryMessages {
		n = maxHistoryMessages
	}
	var all []*schema.Feedback
	err := s.withTimeout(func(ctx context.Context) error {
		for off := 0; off < maxHistoryRows; off += historyPage {
			page, err := s.store.Feedback(ctx, req.ts.name, req.e.id(), a.ID, off, historyPage)
			if err != nil {
				return err
			}
			all = append(all, page...)
			if len(page) < historyPage {
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	h := &historyJSON{Status: historyStatus(a.Status), Messages: []string{}}
	for i := len(all) - 1; i >= 0 && len(all)-i <= n; i-- {
		fb := all[i]
		if len(fb.Details) == 0 {
			h.Messages = append(h.Messages, "["+fb.Execution+"/"+fb.Finished+"]")
			continue
		}
		for j := len(fb.Details) - 1; j >= 0; j-- {
			h.Messages = append(h.Messages, fb.Details[j])
		}
	}
	return h, nil
}

// historyStatus names action states the way hawkBit's actionHistory does.
func historyStatus(st schema.ActionStatus) string {
	switch st {
	case schema.ActionPending, schema.ActionRunning:
		return "RUNNING"
	case schema.ActionCanceling:
		return "CANCELING"
	case schema.ActionSucceeded:
		return "FINISHED"
	case schema.ActionFailed:
		return "ERROR"
	case schema.ActionCanceled:
		return "CANCELED"
	}
	return strings.ToUpper(string(st))
}

// handleCancelAction is GET …/cancelAction/{actionId}: 200 while the
// action is being canceled, 404 otherwise.
func (s *Server) handleCancelAction(ctx *fasthttp.RequestCtx) {
	req, ok := s.authenticate(ctx)
	if !ok {
		return
	}
	id, ok := idParam(ctx, pAction)
	if !ok {
		s.notFound(ctx, "unknown action")
		return
	}
	var a *schema.Action
	err := s.withTimeout(func(c context.Context) error {
		var err error
		a, err = s.store.Action(c, req.ts.name, req.e.id(), id)
		return err
	})
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	if a.Status != schema.ActionCanceling {
		s.notFound(ctx, "action "+strconv.FormatInt(id, 10)+" is not being canceled")
		return
	}
	var out cancelJSON
	out.ID = strconv.FormatInt(a.ID, 10)
	out.CancelAction.StopID = out.ID
	s.writeJSON(ctx, out)
}
