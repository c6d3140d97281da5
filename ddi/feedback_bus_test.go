package ddi_test

import (
	"sync"
	"testing"

	"github.com/gosling-ota/gosling/cache"
	"github.com/gosling-ota/gosling/ddi"
)

// Only feedback that moves an action's status invalidates the device on
// every frontline; progress reports publish one KindFeedback notice, which
// caches ignore and live-log followers read.
func TestFeedbackInvalidatesOnlyOnStatusChange(t *testing.T) {
	e := MustEnv(t, ddi.Config{})
	_, aid, _, _ := e.MustOffer("dev-01")
	var (
		mu   sync.Mutex
		seen []cache.Invalidation
	)
	stop := e.bus.Subscribe(func(inv cache.Invalidation) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, inv)
	})
	defer stop()
	count := func() (device, feedback int) {
		mu.Lock()
		defer mu.Unlock()
		for _, inv := range seen {
			switch {
			case inv.Kind == cache.KindDevice && inv.Key == "dev-01":
				device++
			case inv.Kind == cache.KindFeedback && inv.Tenant == tenant:
				feedback++
			}
		}
		seen = nil
		return
	}
	url := e.base("dev-01") + "/deploymentBase/" + itoa(aid) + "/feedback"
	MustStatus(t, e.Do("POST", url, fbProceeding), 200) // pending → running
	if d, _ := count(); d != 1 {
		t.Fatalf("first feedback (pending → running): %d device invalidations, want 1", d)
	}
	for range 3 {
		MustStatus(t, e.Do("POST", url, fbProceeding), 200)
	}
	if d, f := count(); d != 0 || f != 3 {
		t.Fatalf("progress reports: %d device invalidations and %d feedback notices, want 0 and 3", d, f)
	}
	if links, _ := e.Poll("dev-01"); links["deploymentBase"] == "" {
		t.Fatalf("open action no longer offered after progress reports: %v", links)
	}
	MustStatus(t, e.Do("POST", url, `{"id":1,"status":{"execution":"closed","result":{"finished":"success"},"details":["done"]}}`), 200)
	if d, _ := count(); d != 1 {
		t.Fatalf("closing feedback: %d device invalidations, want 1", d)
	}
	if links, _ := e.Poll("dev-01"); links["deploymentBase"] != "" {
		t.Fatalf("closed action still offered: %v", links)
	}
}
