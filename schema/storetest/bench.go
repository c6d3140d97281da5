package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/gosling-ota/gosling/schema"
)

// BenchRecordFeedback measures RecordFeedback with batches of n progress
// reports, each on another device's open action, as the frontline's group
// commit sends them. It reports ns/feedback besides ns/op, so batch sizes
// compare directly.
func BenchRecordFeedback(b *testing.B, s schema.Store, n int) {
	sw := MustCreateSoftware(b, s, tenant, "1.0")
	batch := make([]*schema.Feedback, n)
	for i := range n {
		id := fmt.Sprintf("bench-%d", i)
		MustCreateDevice(b, s, tenant, id)
		a := MustCreateAction(b, s, tenant, id, sw.ID)
		batch[i] = NewFeedback(a, schema.FeedbackDeployment, schema.ExecProceeding, schema.FinishedNone)
		batch[i].Details = []string{"Downloading", "50%"}
		batch[i].Progress = &schema.Progress{Cnt: 1, Of: 2}
	}
	ctx := b.Context()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res, err := s.RecordFeedback(ctx, batch)
		if err != nil {
			b.Fatal(err)
		}
		if res[0].Err != nil {
			b.Fatal(res[0].Err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/feedback")
}

// BenchTouchDevices measures TouchDevices with batches of n traces.
func BenchTouchDevices(b *testing.B, s schema.Store, n int) {
	seen := make([]schema.Seen, n)
	for i := range n {
		id := fmt.Sprintf("bench-%d", i)
		MustCreateDevice(b, s, tenant, id)
		seen[i] = schema.Seen{Tenant: tenant, DeviceID: id, Addr: "192.0.2.1:5000"}
	}
	ctx := b.Context()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		at := time.Now()
		for i := range seen {
			seen[i].At = at
		}
		if err := s.TouchDevices(ctx, seen); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/device")
}
