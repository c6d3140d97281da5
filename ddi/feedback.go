package ddi

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/gosling-ota/gosling/schema"
)

// Limits on what one feedback may make the server store. Longer input is
// truncated, not refused: a failure report must never be lost to a limit.
const (
	maxDetails      = 100  // lines per feedback (SWUpdate flushes up to 48)
	maxDetailBytes  = 4096 // per line
	maxDeviceTime   = 64
	truncatedMarker = " …[truncated]"
)

// wireFeedback accepts hawkBit's and SWUpdate 2022.12's feedback forms.
// Fields whose type differs between clients are raw and read leniently.
type wireFeedback struct {
	ID        json.RawMessage `json:"id"`        // SWUpdate: int or ""; ignored (the URL names the action)
	Time      json.RawMessage `json:"time"`      // SWUpdate: local "20240101T120000"
	Timestamp json.RawMessage `json:"timestamp"` // hawkBit: epoch ms
	Status    *struct {
		Execution *string `json:"execution"`
		Result    *struct {
			Finished *string `json:"finished"`
			Progress *struct {
				Cnt json.RawMessage `json:"cnt"`
				Of  json.RawMessage `json:"of"`
			} `json:"progress"`
		} `json:"result"`
		Code    json.RawMessage `json:"code"`
		Details json.RawMessage `json:"details"`
	} `json:"status"`
}

var executions = map[string]bool{
	schema.ExecClosed: true, schema.ExecProceeding: true, schema.ExecCanceled: true,
	schema.ExecScheduled: true, schema.ExecRejected: true, schema.ExecResumed: true,
	schema.ExecDownloaded: true, schema.ExecDownload: true,
}

var finishes = map[string]bool{
	schema.FinishedSuccess: true, schema.FinishedFailure: true, schema.FinishedNone: true,
}

// parseFeedback reads a feedback body. Nearly every body is well-formed
// JSON of the usual shape, which fastParseFeedback reads for a fraction of
// encoding/json's cost; anything it is unsure of goes to parseFeedbackSlow,
// whose answer the fast path is tested (and fuzzed) to reproduce exactly.
func parseFeedback(body []byte) (*schema.Feedback, error) {
	if fb, ok := fastParseFeedback(body); ok {
		return finishFeedback(fb)
	}
	return parseFeedbackSlow(body)
}

// parseFeedbackSlow reads a feedback body: encoding/json first, then the
// same after repairing printf damage, and as a last resort a scan for
// execution and finished that keeps the raw details text as one line.
// Missing or unknown execution/finished is EINVALID. It is the reference
// the fast path must match, so it stays as it was.
func parseFeedbackSlow(body []byte) (*schema.Feedback, error) {
	var w wireFeedback
	if err := decodeLenient(body, &w); err != nil {
		return scanFeedback(body)
	}
	fb := &schema.Feedback{Details: []string{}}
	if w.Status == nil {
		return nil, schema.Errorf(schema.EINVALID, "feedback: status is required")
	}
	if w.Status.Execution == nil {
		return nil, schema.Errorf(schema.EINVALID, "feedback: status.execution is required")
	}
	if w.Status.Result == nil || w.Status.Result.Finished == nil {
		return nil, schema.Errorf(schema.EINVALID, "feedback: status.result.finished is required")
	}
	fb.Execution, fb.Finished = *w.Status.Execution, *w.Status.Result.Finished
	if p := w.Status.Result.Progress; p != nil {
		cnt, ok1 := rawInt(p.Cnt)
		of, ok2 := rawInt(p.Of)
		if ok1 || ok2 {
			// cnt may exceed of (SWUpdate's log flushes send 1 of 0); kept as sent.
			fb.Progress = &schema.Progress{Cnt: cnt, Of: of}
		}
	}
	if code, ok := rawInt(w.Status.Code); ok {
		fb.Code = &code
	}
	fb.Details = detailLines(w.Status.Details)
	if t, ok := rawString(w.Time); ok {
		fb.DeviceTime = t
	} else if t, ok := rawString(w.Timestamp); ok {
		fb.DeviceTime = t
	}
	return finishFeedback(fb)
}

// scanFeedback is the last resort for bodies that are not JSON even after
// repair.
func scanFeedback(body []byte) (*schema.Feedback, error) {
	exec, ok1 := scanString(body, "execution")
	fin, ok2 := scanString(body, "finished")
	if !ok1 || !ok2 {
		return nil, schema.Errorf(schema.EINVALID, "feedback: malformed JSON without readable status.execution and status.result.finished")
	}
	fb := &schema.Feedback{Execution: exec, Finished: fin, Details: []string{}}
	if i := bytes.Index(body, []byte(`"details"`)); i >= 0 {
		rest := body[i+len(`"details"`):]
		if j := bytes.IndexByte(rest, '['); j >= 0 {
			rest = rest[j+1:]
			if k := bytes.LastIndexByte(rest, ']'); k >= 0 {
				rest = rest[:k]
			}
			line := strings.TrimSpace(string(rest))
			if len(line) >= 2 && line[0] == '"' && line[len(line)-1] == '"' {
				line = line[1 : len(line)-1]
			}
			if line != "" {
				fb.Details = append(fb.Details, clampLine(line))
			}
		}
	}
	if t, ok := scanString(body, "time"); ok {
		fb.DeviceTime = t
	}
	return finishFeedback(fb)
}

// finishFeedback normalises and validates the parsed values.
func finishFeedback(fb *schema.Feedback) (*schema.Feedback, error) {
	fb.Execution = strings.ToLower(strings.TrimSpace(fb.Execution))
	fb.Finished = strings.ToLower(strings.TrimSpace(fb.Finished))
	if !executions[fb.Execution] {
		return nil, schema.Errorf(schema.EINVALID, "feedback: unknown status.execution %q", fb.Execution)
	}
	if !finishes[fb.Finished] {
		return nil, schema.Errorf(schema.EINVALID, "feedback: unknown status.result.finished %q", fb.Finished)
	}
	if len(fb.DeviceTime) > maxDeviceTime {
		fb.DeviceTime = fb.DeviceTime[:maxDeviceTime]
	}
	fb.DeviceTime = strings.ToValidUTF8(fb.DeviceTime, "")
	return fb, nil
}

// detailLines reads status.details: an array of strings (or of anything,
// stringified), a lone string, or nothing.
func detailLines(raw json.RawMessage) []string {
	lines := []string{}
	if len(raw) == 0 {
		return lines
	}
	var arr []any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&arr); err != nil {
		var one any
		if json.Unmarshal(raw, &one) == nil && one != nil {
			lines = append(lines, clampLine(stringify(one)))
		}
		return lines
	}
	for _, v := range arr {
		if len(lines) == maxDetails {
			lines = append(lines, "…["+strconv.Itoa(len(arr)-maxDetails)+" more lines truncated]")
			break
		}
		lines = append(lines, clampLine(stringify(v)))
	}
	return lines
}

// clampLine bounds one detail line and makes it valid UTF-8.
func clampLine(s string) string {
	if len(s) > maxDetailBytes {
		cut := maxDetailBytes
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + truncatedMarker
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

func rawInt(raw json.RawMessage) (int, bool) {
	s := strings.Trim(strings.TrimSpace(string(raw)), `"`)
	if s == "" || s == "null" {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil {
			return 0, false
		}
		n = int(f)
	}
	return n, true
}

func rawString(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, s != ""
	}
	return strings.TrimSpace(string(raw)), true
}

// handleDeploymentFeedback is POST …/deploymentBase/{actionId}/feedback.
func (s *Server) handleDeploymentFeedback(ctx *fasthttp.RequestCtx) {
	s.handleFeedback(ctx, schema.FeedbackDeployment)
}

// handleCancelFeedback is POST …/cancelAction/{actionId}/feedback.
func (s *Server) handleCancelFeedback(ctx *fasthttp.RequestCtx) {
	s.handleFeedback(ctx, schema.FeedbackCancel)
}

// handleFeedback parses, group-commits and acknowledges one feedback with
// exactly 200 and an empty body, which is all SWUpdate (200/206/226 only)
// and rauc (200 only) accept.
func (s *Server) handleFeedback(ctx *fasthttp.RequestCtx, kind string) {
	req, ok := s.authenticate(ctx)
	if !ok {
		return
	}
	aid, ok := idParam(ctx, pAction)
	if !ok {
		s.notFound(ctx, "unknown action")
		return
	}
	fb, err := parseFeedback(ctx.PostBody())
	if err != nil {
		s.metrics.rejected(err)
		s.writeError(ctx, err)
		return
	}
	fb.Tenant, fb.DeviceID, fb.ActionID, fb.Kind = req.ts.name, req.e.id(), aid, kind
	fb.ReceivedAt = time.Now().UTC()
	act, err := s.feedback.submit(fb)
	if schema.ErrorCode(err) == schema.EGONE && s.repeatsClose(fb) {
		// A client retrying the report that closed the action (its 200
		// got lost) is told it was stored — it was.
		err = nil
	}
	if err != nil {
		s.metrics.rejected(err)
		s.writeError(ctx, err)
		return
	}
	if act != nil && !act.Status.Open() {
		if c := s.metrics.closed[act.Status]; c != nil {
			c.Inc()
		}
		s.logger.Info("action closed", "tenant", fb.Tenant, "device", fb.DeviceID, "action", fb.ActionID,
			"status", act.Status, "execution", fb.Execution, "finished", fb.Finished)
	}
	ctx.SetStatusCode(fasthttp.StatusOK)
}

// repeatsClose reports whether fb says again what closed its action.
func (s *Server) repeatsClose(fb *schema.Feedback) bool {
	var act *schema.Action
	err := s.withTimeout(func(ctx context.Context) error {
		var err error
		act, err = s.store.Action(ctx, fb.Tenant, fb.DeviceID, fb.ActionID)
		return err
	})
	if err != nil || act.Status.Open() {
		return false
	}
	success := fb.Finished == schema.FinishedSuccess || fb.Finished == schema.FinishedNone
	switch fb.Kind {
	case schema.FeedbackDeployment:
		return fb.Execution == schema.ExecClosed &&
			(success && act.Status == schema.ActionSucceeded || fb.Finished == schema.FinishedFailure && act.Status == schema.ActionFailed)
	case schema.FeedbackCancel:
		return act.Status == schema.ActionCanceled &&
			(fb.Execution == schema.ExecCanceled || fb.Execution == schema.ExecClosed && success)
	}
	return false
}
