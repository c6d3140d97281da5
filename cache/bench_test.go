package cache_test

import (
	"bytes"
	"context"
	"encoding/gob"
	"encoding/json"
	"testing"

	"github.com/gosling-ota/gosling/cache"
	"github.com/gosling-ota/gosling/cache/redistest"
	"github.com/gosling-ota/gosling/schema"
	"github.com/gosling-ota/gosling/schema/storetest"
)

// benchDevice creates a device like a real one: a token and a few
// attributes.
func benchDevice(b *testing.B, s schema.Store) {
	d := &schema.Device{Tenant: "acme", ID: "dev-0001", Name: "Kitchen", TokenHash: schema.HashToken("secret"),
		Attributes: map[string]string{"hw_model": "pi4", "hw_revision": "1.2", "sw_version": "2024.1", "serial": "00000000abcdef"}}
	if err := s.CreateDevice(context.Background(), d); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkStoreDeviceHit is the L2 hit path: one GET and one decode.
// BenchmarkStoreDeviceNext is the same read from SQLite, for comparison.
func BenchmarkStoreDeviceHit(b *testing.B) {
	rdb := redistest.Start(b).Client(0)
	s := cache.NewStore(mustOpenSQLite(b), rdb, cache.StoreOptions{Prefix: uniquePrefix()})
	b.Cleanup(func() { s.Close() })
	benchDevice(b, s)
	ctx := context.Background()
	if _, err := s.Device(ctx, "acme", "dev-0001"); err != nil { // fill
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Device(ctx, "acme", "dev-0001"); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if st := s.Stats(); st.Misses != 1 {
		b.Fatalf("benchmark missed: %+v", st)
	}
}

func BenchmarkStoreDeviceNext(b *testing.B) {
	db := mustOpenSQLite(b)
	b.Cleanup(func() { db.Close() })
	benchDevice(b, db)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := db.Device(ctx, "acme", "dev-0001"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCodec compares encodings of a cached Device (see codec.go).
// gob encodes one value per Encoder, as a cache entry must be decodable on
// its own.
func BenchmarkCodec(b *testing.B) {
	db := mustOpenSQLite(b)
	b.Cleanup(func() { db.Close() })
	benchDevice(b, db)
	storetest.MustCreateSoftware(b, db, "acme", "1.0")
	d, err := db.Device(context.Background(), "acme", "dev-0001")
	if err != nil {
		b.Fatal(err)
	}
	jb, _ := json.Marshal(d)
	var gbuf bytes.Buffer
	if err := gob.NewEncoder(&gbuf).Encode(d); err != nil {
		b.Fatal(err)
	}
	gb := gbuf.Bytes()
	b.Logf("Device: json %d bytes, gob %d bytes", len(jb), len(gb))

	b.Run("json/encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(d); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json/decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var v schema.Device
			if err := json.Unmarshal(jb, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("gob/encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var buf bytes.Buffer
			if err := gob.NewEncoder(&buf).Encode(d); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("gob/decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var v schema.Device
			if err := gob.NewDecoder(bytes.NewReader(gb)).Decode(&v); err != nil {
				b.Fatal(err)
			}
		}
	})
}
