package loadtest_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The k6 scripts are for SREs' own k6, which is not installed here; node
// at least proves each one parses as an ES module (node --check does not
// resolve the k6/* imports).
func TestK6ScriptsParse(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		node = "/usr/bin/node"
	}
	scripts, err := filepath.Glob(filepath.Join("k6", "*.js"))
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no k6 scripts: %v", err)
	}
	names := map[string]bool{}
	dir := t.TempDir()
	for _, s := range scripts {
		names[filepath.Base(s)] = true
		src, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		// .mjs: parse as an ES module, as k6 does.
		mod := filepath.Join(dir, strings.TrimSuffix(filepath.Base(s), ".js")+".mjs")
		if err := os.WriteFile(mod, src, 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(node, "--check", mod).CombinedOutput(); err != nil {
			t.Errorf("%s does not parse: %v\n%s", s, err, out)
		}
		if strings.Contains(string(src), "require(") {
			t.Errorf("%s uses require(); k6 scripts are ES modules", s)
		}
		if filepath.Base(s) != "common.js" && !strings.Contains(string(src), "thresholds: ") {
			t.Errorf("%s sets no thresholds", s)
		}
	}
	for _, want := range []string{"poll-storm.js", "rollout-wave.js", "download-ranges.js", "common.js"} {
		if !names[want] {
			t.Errorf("k6/%s is missing", want)
		}
	}
	common, _ := os.ReadFile(filepath.Join("k6", "common.js"))
	for _, want := range []string{"http_req_duration: [`p(99)<", "http_req_failed: [`rate<", "__ENV.GOSLING_URL"} {
		if !strings.Contains(string(common), want) {
			t.Errorf("k6/common.js lacks %q", want)
		}
	}
}

// A script that does not parse fails the check (the test above is not
// vacuous).
func TestNodeCheckRejectsBrokenScript(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		node = "/usr/bin/node"
	}
	bad := filepath.Join(t.TempDir(), "bad.mjs")
	os.WriteFile(bad, []byte("import http from 'k6/http';\nexport default function () { http.get( }\n"), 0o644)
	if err := exec.Command(node, "--check", bad).Run(); err == nil {
		t.Fatal("node --check accepted a broken script")
	}
}
