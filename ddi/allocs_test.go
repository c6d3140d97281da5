//go:build !race

// The allocation test is built without the race detector only: under it
// sync.Pool drops items on purpose, so every request would allocate what
// the pool normally lends, and the count would say nothing about the hit
// path. make test builds without -race, so it always runs there.

package ddi_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gosling-ota/gosling/ddi"
	"github.com/gosling-ota/gosling/schema"
)

// The hit path allocates nothing (STYLE.md 6).
func TestPollAllocs(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mode   string
		header [][2]string
	}{
		{"open", ddi.AuthOpen, nil},
		{"target token", ddi.AuthStrict, [][2]string{{"Authorization", "TargetToken secret"}}},
		{"double slash and trailing slash", ddi.AuthOpen, nil},
		// An entry with a window edge to check and a jittered sleep.
		{"maintenance window and poll settings", ddi.AuthOpen, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := MustEnv(t, ddi.Config{DeviceAuth: tc.mode})
			if err := e.db.CreateDevice(context.Background(), &schema.Device{Tenant: tenant, ID: "dev-01", TokenHash: schema.HashToken("secret")}); err != nil {
				t.Fatal(err)
			}
			var w *schema.MaintenanceWindow
			if tc.name == "maintenance window and poll settings" {
				w = openWindow()
				ps := &schema.PollSettings{Action: schema.Duration(time.Minute), JitterPercent: 20}
				if err := e.db.SetPollSettings(context.Background(), tenant, ps); err != nil {
					t.Fatal(err)
				}
			}
			mustOfferedBy(t, e, "dev-01", w, "Authorization: TargetToken secret")
			ctx, h := pollCtx(t, e, "dev-01", tc.header...)
			if tc.name == "double slash and trailing slash" {
				ctx.Request.SetRequestURI("//" + tenant + "/controller/v1/dev-01/")
			}
			want := string(ctx.Response.Body())
			allocs := testing.AllocsPerRun(1000, func() {
				ctx.Response.Reset()
				h(ctx)
			})
			if got := string(ctx.Response.Body()); got != want || ctx.Response.StatusCode() != 200 {
				t.Fatalf("answer changed: %d %s, want %s", ctx.Response.StatusCode(), got, want)
			}
			if w != nil && (!strings.Contains(want, "deploymentBase") || strings.Contains(want, `"sleep":"00:05:00"`)) {
				t.Fatalf("window case answered %s, want an offer with the jittered action sleep", want)
			}
			if allocs != 0 {
				t.Errorf("poll hit path: %.1f allocations per request, want 0", allocs)
			}
		})
	}
}
