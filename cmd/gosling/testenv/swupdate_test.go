package testenv_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gosling-ota/gosling/cmd/gosling/testenv"
)

// TestStartSWUpdate runs swupdate against a minimal DDI mock behind the
// proxy and checks that the generated config's identify list arrives as
// configData, with the target token.
func TestStartSWUpdate(t *testing.T) {
	t.Parallel()
	var (
		mu         sync.Mutex
		configData string
		auth       string
	)
	mock := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		base := "http://" + r.Host + "/DEFAULT/controller/v1/dev-mock"
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/DEFAULT/controller/v1/dev-mock":
			io.WriteString(w, `{"config":{"polling":{"sleep":"00:00:01"}},"_links":{"configData":{"href":"`+base+`/configData"}}}`)
		case r.Method == http.MethodPut && r.URL.Path == "/DEFAULT/controller/v1/dev-mock/configData":
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			configData, auth = string(b), r.Header.Get("Authorization")
			mu.Unlock()
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(mock.Close)
	proxy := testenv.StartProxy(t, mock.URL, testenv.ProxyOpts{})

	sw := testenv.StartSWUpdate(t, testenv.SWUpdateOpts{URL: proxy.URL, ID: "dev-mock", SWVersion: "0.9.0", TargetToken: "tok-123"})
	testenv.Eventually(t, 20*time.Second, func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return configData != "", "no configData yet"
	})
	sw.Stop()
	for _, want := range []string{`"hw_model": "devboard"`, `"hw_revision": "1.0"`, `"sw_version": "0.9.0"`} {
		if !strings.Contains(strings.ReplaceAll(configData, `":"`, `": "`), want) {
			t.Errorf("configData %s lacks %s", configData, want)
		}
	}
	if auth != "TargetToken tok-123" {
		t.Errorf("Authorization = %q, want TargetToken tok-123", auth)
	}
	if len(proxy.Requests()) < 2 {
		t.Errorf("proxy saw %d requests, want the poll and the configData", len(proxy.Requests()))
	}
}
