// Package ops_test checks the operating material in ops/ against a running
// Gosling: every metric that the Grafana dashboard and the Prometheus rules
// use must be exported by a real process after some traffic, the rules
// must have the structure Prometheus loads, and the dashboard must be a
// valid Grafana dashboard.
package ops_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gosling-ota/gosling/cache/redistest"
	"github.com/gosling-ota/gosling/cmd/gosling/testenv"
	"github.com/gosling-ota/gosling/schema/postgres/pgtest"
)

func TestMain(m *testing.M) {
	code := testenv.Run(m)
	if err := pgtest.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		code = max(code, 1)
	}
	os.Exit(code)
}

const (
	dashboardFile = "grafana/gosling.json"
	rulesFile     = "prometheus/gosling-rules.yml"
)

// metricRE finds metric names in PromQL: Gosling's own and the Go and
// process collectors' (word boundaries keep "go_" from matching inside
// "gosling_").
var metricRE = regexp.MustCompile(`\b(?:gosling|go|process)_[a-z0-9_]+\b`)

// dashboard is the part of a Grafana dashboard the checks read.
type dashboard struct {
	Title         string  `json:"title"`
	UID           string  `json:"uid"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Inputs        []struct {
		Name string `json:"name"`
		Type string `json:"type"`
	} `json:"__inputs"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // collapsed rows
}

// rules is a Prometheus rule file.
type rules struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// exprs returns every PromQL expression of the ops files, keyed by where
// it comes from.
func exprs(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	d := mustDashboard(t)
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for i, tg := range p.Targets {
				out[fmt.Sprintf("dashboard panel %q target %d", p.Title, i)] = tg.Expr
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type == "query" {
			q, _ := json.Marshal(v.Query)
			out["dashboard variable "+v.Name] = string(q)
		}
	}
	for _, g := range mustRules(t).Groups {
		for _, r := range g.Rules {
			out["rule "+r.Alert+r.Record] = r.Expr
		}
	}
	return out
}

func mustDashboard(t *testing.T) dashboard {
	t.Helper()
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

func mustRules(t *testing.T) rules {
	t.Helper()
	raw, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var r rules
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true) // a misspelt key is an error, as in Prometheus
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	return r
}

func TestDashboard(t *testing.T) {
	d := mustDashboard(t)
	if d.Title == "" || d.UID == "" || d.SchemaVersion < 36 {
		t.Errorf("title %q, uid %q, schemaVersion %d: want both set and schemaVersion ≥ 36", d.Title, d.UID, d.SchemaVersion)
	}
	if !slices.ContainsFunc(d.Inputs, func(in struct {
		Name string `json:"name"`
		Type string `json:"type"`
	}) bool {
		return in.Name == "DS_PROMETHEUS" && in.Type == "datasource"
	}) {
		t.Error("no DS_PROMETHEUS data source input")
	}
	ids := map[int]string{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if p.ID == 0 {
				t.Errorf("panel %q has no id", p.Title)
			} else if other, ok := ids[p.ID]; ok {
				t.Errorf("panels %q and %q share id %d", other, p.Title, p.ID)
			}
			ids[p.ID] = p.Title
			if p.Type != "row" {
				if p.Datasource == nil || p.Datasource.UID != "${DS_PROMETHEUS}" {
					t.Errorf("panel %q does not use ${DS_PROMETHEUS}", p.Title)
				}
				if len(p.Targets) == 0 {
					t.Errorf("panel %q has no query", p.Title)
				}
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	// The rows the dashboard promises.
	for _, row := range []string{"DDI", "Cache", "Invalidations", "Feedback", "Database", "Fleet", "Rollouts", "Go runtime"} {
		if !slices.ContainsFunc(d.Panels, func(p panel) bool { return p.Type == "row" && strings.Contains(p.Title, row) }) {
			t.Errorf("no row about %s", row)
		}
	}
}

func TestRules(t *testing.T) {
	r := mustRules(t)
	if len(r.Groups) == 0 {
		t.Fatal("no rule groups")
	}
	groups, alerts := map[string]bool{}, map[string]bool{}
	alertRE := regexp.MustCompile(`^Gosling[A-Z][A-Za-z0-9]+$`)
	for _, g := range r.Groups {
		if g.Name == "" || groups[g.Name] {
			t.Errorf("group name %q empty or repeated", g.Name)
		}
		groups[g.Name] = true
		if len(g.Rules) == 0 {
			t.Errorf("group %s has no rules", g.Name)
		}
		for _, rule := range g.Rules {
			if !alertRE.MatchString(rule.Alert) || alerts[rule.Alert] {
				t.Errorf("alert %q: want a unique Gosling… CamelCase name", rule.Alert)
			}
			alerts[rule.Alert] = true
			if strings.TrimSpace(rule.Expr) == "" {
				t.Errorf("%s: no expr", rule.Alert)
			}
			if _, err := time.ParseDuration(rule.For); err != nil {
				t.Errorf("%s: for %q: %v", rule.Alert, rule.For, err)
			}
			if rule.Labels["severity"] == "" || rule.Annotations["summary"] == "" || rule.Annotations["description"] == "" {
				t.Errorf("%s: want labels.severity and annotations summary and description", rule.Alert)
			}
		}
	}
	// What the issue asks the rules to cover.
	for _, want := range []string{"ErrorRatio", "Latency", "Backlog", "Rollout", "Invalidations", "Pool"} {
		if !slices.ContainsFunc(slices.Collect(mapsKeys(alerts)), func(a string) bool { return strings.Contains(a, want) }) {
			t.Errorf("no alert about %s", want)
		}
	}
}

func mapsKeys(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestExpressionsBalanced is a cheap syntax check of every expression
// (promtool is the full one): brackets balance and quotes close.
func TestExpressionsBalanced(t *testing.T) {
	for where, e := range exprs(t) {
		var stack []rune
		inQuote := rune(0)
		pairs := map[rune]rune{')': '(', ']': '[', '}': '{'}
		for _, c := range e {
			switch {
			case inQuote != 0:
				if c == inQuote {
					inQuote = 0
				}
			case c == '"' || c == '\'':
				inQuote = c
			case c == '(' || c == '[' || c == '{':
				stack = append(stack, c)
			case pairs[c] != 0:
				if len(stack) == 0 || stack[len(stack)-1] != pairs[c] {
					t.Errorf("%s: unbalanced %q in %s", where, c, e)
				} else {
					stack = stack[:len(stack)-1]
				}
			}
		}
		if len(stack) > 0 || inQuote != 0 {
			t.Errorf("%s: unclosed %q in %s", where, string(stack), e)
		}
		if len(metricRE.FindAllString(e, -1)) == 0 {
			t.Errorf("%s: uses no metric: %s", where, e)
		}
	}
}

// TestMetricsExported starts the production shape on a real Postgres and
// Redis — a `gosling serve` (admin API, engine and a frontline in one
// process) and a separate `gosling ddi` frontline with --metrics-addr —
// makes devices poll, creates a rollout, offers an update and has a
// device report success, then scrapes both and checks that every metric the ops files
// use is exported.
func TestMetricsExported(t *testing.T) {
	dbURL, rs := pgtest.Start(t), redistest.Start(t)
	serve := testenv.StartGosling(t, testenv.GoslingOpts{DatabaseURL: dbURL, RedisURL: rs.URL()})
	metricsAddr := testenv.FreeAddr(t)
	front := testenv.StartGosling(t, testenv.GoslingOpts{
		Role: "ddi", DatabaseURL: dbURL, RedisURL: rs.URL(), DataDir: serve.DataDir,
		Args: []string{"--metrics-addr", metricsAddr},
	})
	for _, g := range []*testenv.Gosling{serve, front} {
		g.WaitOutput(t, "invalidation subscription established", 10*time.Second)
	}

	// Traffic: devices register and poll on both frontlines, one is
	// offered an update and reports success.
	for _, id := range []string{"ops-1", "ops-2"} {
		for _, g := range []*testenv.Gosling{serve, front} {
			if status, body := g.DDI(t, "GET", "/DEFAULT/controller/v1/"+id, nil); status != http.StatusOK {
				t.Fatalf("poll %s: %d %s", id, status, body)
			}
		}
	}
	cfg := []byte(`{"id":"","status":{"execution":"closed","result":{"finished":"success"},"details":[]},"data":{"sw_version":"1.0.0","hw_revision":"1.0"}}`)
	if status, body := front.DDI(t, "PUT", "/DEFAULT/controller/v1/ops-1/configData", cfg); status != http.StatusOK {
		t.Fatalf("configData: %d %s", status, body)
	}
	image := testenv.BuildSWU(t, testenv.SWUSpec{Version: "2.0.0"})
	sw := serve.MustJSON(t, http.StatusCreated, "POST", "/api/v1/software?filename=ops.swu", image)
	// A draft rollout is enough for the rollout gauges; the device gets
	// the software assigned directly.
	serve.MustJSON(t, http.StatusCreated, "POST", "/api/v1/rollouts", map[string]any{"name": "ops", "feed": "default", "software_id": sw.Int("id"), "draft": true})
	serve.MustJSON(t, http.StatusOK, "PATCH", "/api/v1/devices/ops-1", map[string]any{"update_mode": "assigned", "software_id": sw.Int("id")})
	hrefRE := regexp.MustCompile(`/deploymentBase/([0-9]+)`)
	var actionID string
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		_, body := front.DDI(t, "GET", "/DEFAULT/controller/v1/ops-1", nil)
		if m := hrefRE.FindSubmatch(body); m != nil {
			actionID = string(m[1])
			return true, ""
		}
		_, dev, _ := serve.Admin("GET", "/api/v1/devices/ops-1", nil)
		return false, fmt.Sprintf("no deploymentBase offered: %s; device %s; software %s", body, dev, sw)
	})
	fb := []byte(`{"id":"` + actionID + `","status":{"execution":"closed","result":{"finished":"success"},"details":["ok"]}}`)
	if status, body := front.DDI(t, "POST", "/DEFAULT/controller/v1/ops-1/deploymentBase/"+actionID+"/feedback", fb); status != http.StatusOK {
		t.Fatalf("feedback: %d %s", status, body)
	}
	serve.DDI(t, "GET", "/DEFAULT/controller/v1/nobody/deploymentBase/1", nil) // a 404
	serve.MustJSON(t, http.StatusOK, "GET", "/api/v1/devices", nil)

	// Metrics are never on the device listener.
	if status, _ := front.DDI(t, "GET", "/metrics", nil); status != http.StatusNotFound {
		t.Errorf("GET /metrics on the device listener: %d, want 404", status)
	}

	var serveFams, frontFams map[string]string
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		serveFams, frontFams = scrape(t, serve.AdminURL+"/metrics"), scrape(t, "http://"+metricsAddr+"/metrics")
		for _, want := range []string{"gosling_rollout_devices", "gosling_devices", "gosling_cache_invalidation_lag_seconds"} {
			if _, ok := serveFams[want]; !ok {
				return false, want + " not exported yet"
			}
		}
		return true, ""
	})
	// The frontline exports its own families, and no admin ones.
	for _, want := range []string{"gosling_ddi_requests_total", "gosling_cache_requests_total", "gosling_cache_bus_connected",
		"gosling_db_pool_connections", "go_goroutines", "process_cpu_seconds_total"} {
		if _, ok := frontFams[want]; !ok {
			t.Errorf("the ddi role does not export %s", want)
		}
	}
	if _, ok := frontFams["gosling_admin_requests_total"]; ok {
		t.Error("the ddi role exports admin API metrics")
	}

	all := map[string]string{}
	for _, fams := range []map[string]string{serveFams, frontFams} {
		for k, v := range fams {
			all[k] = v
		}
	}
	var missing []string
	for where, e := range exprs(t) {
		for _, name := range metricRE.FindAllString(e, -1) {
			if !exported(all, name) {
				missing = append(missing, name+" ("+where+")")
			}
		}
	}
	sort.Strings(missing)
	for _, m := range slices.Compact(missing) {
		t.Errorf("not exported: %s", m)
	}
}

// exported reports whether name is a family of fams or a series of one
// (a histogram's or summary's _bucket, _sum or _count).
func exported(fams map[string]string, name string) bool {
	if _, ok := fams[name]; ok {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		switch fams[base] {
		case "histogram":
			return true
		case "summary":
			return suffix != "_bucket"
		}
	}
	return false
}

// scrape returns the metric families of a /metrics page (name → type),
// read from its "# TYPE" lines.
func scrape(t *testing.T, url string) map[string]string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: %d %v", url, resp.StatusCode, err)
	}
	fams := map[string]string{}
	for line := range strings.Lines(string(body)) {
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			fams[f[2]] = f[3]
		}
	}
	if len(fams) == 0 {
		t.Fatalf("scrape %s: no metric families in %.300s", url, body)
	}
	return fams
}
