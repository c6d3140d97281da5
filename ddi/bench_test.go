package ddi_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/gosling-ota/gosling/ddi"
	"github.com/gosling-ota/gosling/schema"
)

// pollCtx returns a reused RequestCtx polling dev, with the handler
// already warmed up so that the device's answer is cached.
func pollCtx(tb testing.TB, e *env, dev string, headers ...[2]string) (*fasthttp.RequestCtx, fasthttp.RequestHandler) {
	tb.Helper()
	var req fasthttp.Request
	req.SetRequestURI("/" + tenant + "/controller/v1/" + dev)
	req.Header.SetHost("ota.example.com")
	for _, h := range headers {
		req.Header.Add(h[0], h[1])
	}
	ctx := &fasthttp.RequestCtx{}
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 40000}, nil)
	h := e.srv.Handler()
	for range 3 {
		ctx.Response.Reset()
		h(ctx)
		if ctx.Response.StatusCode() != 200 {
			tb.Fatalf("warm-up poll: %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
		}
		e.srv.WaitCache()
	}
	return ctx, h
}

// mustOffered prepares dev with an open action, so the hit path renders
// the richest answer (deploymentBase with c=).
func mustOffered(tb testing.TB, e *env, dev string, headers ...string) {
	tb.Helper()
	mustOfferedBy(tb, e, dev, nil, headers...)
}

// mustOfferedBy is mustOffered with a maintenance window on the rollout.
func mustOfferedBy(tb testing.TB, e *env, dev string, w *schema.MaintenanceWindow, headers ...string) {
	tb.Helper()
	e.Poll(dev, headers...)
	sw, _ := e.MustSoftware("1.0.0", 1024)
	e.MustStartRollout(&schema.Rollout{Name: "bench", SoftwareID: sw.ID, Window: w})
	if links, _ := e.Poll(dev, headers...); links["deploymentBase"] == "" {
		tb.Fatal("no offer")
	}
}

// openWindow is a maintenance window that opened an hour ago and stays
// open for the rest of the test.
func openWindow() *schema.MaintenanceWindow {
	return &schema.MaintenanceWindow{
		Start:    time.Now().UTC().Add(-time.Hour).Format("15:04"),
		Duration: schema.Duration(23 * time.Hour),
	}
}

// BenchmarkPoll measures the poll hit path: cached device, open action.
func BenchmarkPoll(b *testing.B) {
	for _, bc := range []struct {
		name   string
		mode   string
		header [][2]string
	}{
		{"open", ddi.AuthOpen, nil},
		{"target-token", ddi.AuthStrict, [][2]string{{"Authorization", "TargetToken secret"}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := MustEnv(b, ddi.Config{DeviceAuth: bc.mode})
			if err := e.db.CreateDevice(context.Background(), &schema.Device{Tenant: tenant, ID: "dev-01", TokenHash: schema.HashToken("secret")}); err != nil {
				b.Fatal(err)
			}
			mustOffered(b, e, "dev-01", "Authorization: TargetToken secret")
			ctx, h := pollCtx(b, e, "dev-01", bc.header...)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				ctx.Response.Reset()
				h(ctx)
			}
		})
	}
}
