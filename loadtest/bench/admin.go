package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

var httpClient = &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{
	MaxIdleConnsPerHost: 16,
	DisableCompression:  true,
}}

// admin sends an admin API request with the bearer token and decodes a
// JSON answer into out (when not nil). body is JSON-encoded unless it is
// an *os.File (sent raw, as an upload) or nil. Any status but want is an
// error carrying the answer.
func (g *gosling) admin(method, path string, body any, want int, out any) error {
	var (
		rd    io.Reader
		ctype string
		size  int64 = -1
	)
	switch b := body.(type) {
	case nil:
	case *os.File:
		fi, err := b.Stat()
		if err != nil {
			return err
		}
		rd, ctype, size = b, "application/octet-stream", fi.Size()
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return err
		}
		rd, ctype = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequest(method, g.adminURL+path, rd)
	if err != nil {
		return err
	}
	if size >= 0 {
		req.ContentLength = size
	}
	req.Header.Set("Authorization", "Bearer "+g.token)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, bytes.TrimSpace(raw))
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s %s: decode %q: %w", method, path, raw, err)
		}
	}
	return nil
}

// pollAnswer is what the bench reads from a poll answer.
type pollAnswer struct {
	Links struct {
		DeploymentBase struct{ Href string } `json:"deploymentBase"`
		CancelAction   struct{ Href string } `json:"cancelAction"`
	} `json:"_links"`
}

// deployID and cancelID return the action id in the link, or 0.
func (a *pollAnswer) deployID() int64 { return hrefID(a.Links.DeploymentBase.Href, "/deploymentBase/") }
func (a *pollAnswer) cancelID() int64 { return hrefID(a.Links.CancelAction.Href, "/cancelAction/") }

func hrefID(href, marker string) int64 {
	_, rest, ok := strings.Cut(href, marker)
	if !ok {
		return 0
	}
	rest, _, _ = strings.Cut(rest, "?")
	n, _ := strconv.ParseInt(rest, 10, 64)
	return n
}

// ddi sends a device request (open auth) to the frontline at base and
// returns status and body.
func ddi(c *http.Client, method, url string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Accept", "application/json")
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, err
}

// pollOnce polls device id on the frontline at base (open auth).
func pollOnce(c *http.Client, base, id string) (*pollAnswer, error) {
	status, raw, err := ddi(c, "GET", base+"/DEFAULT/controller/v1/"+id, nil)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("poll %s: status %d: %s", id, status, raw)
	}
	var a pollAnswer
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, fmt.Errorf("poll %s: %w", id, err)
	}
	return &a, nil
}
