package ddi

import (
	"net/url"
	"reflect"
	"runtime"
	"strconv"
	"testing"
	"time"
	"unsafe"

	"github.com/gosling-ota/gosling/schema"
)

// The steady-state entry must stay in the 112-byte size class (see entry).
func TestEntrySize(t *testing.T) {
	if got := unsafe.Sizeof(entry{}); got > 112 {
		t.Errorf("entry is %d bytes, want ≤ 112 (one Go size class; reorder or shrink fields)", got)
	}
	e := &entry{key: deviceKey("DEFAULT", "loadgen-123456")}
	if got := e.cost(); got > 200 {
		t.Errorf("steady-state entry costs %d bytes, want ≤ 200", got)
	}
}

// appendPathEscape must agree with url.PathEscape on every byte.
func TestAppendPathEscape(t *testing.T) {
	var all []byte
	for c := range 256 {
		all = append(all, byte(c))
	}
	for _, s := range []string{"", "dev-01", "a b/c?d;e,f\"g\\h%", "ünï", string(all)} {
		if got, want := string(appendPathEscape(nil, s)), url.PathEscape(s); got != want {
			t.Errorf("appendPathEscape(%q) = %q, want %q", s, got, want)
		}
	}
}

// The profile keeps what resolution reads; device() rebuilds it.
func TestEntryDeviceRoundTrip(t *testing.T) {
	d := &schema.Device{
		Tenant: "T", ID: "dev 1", Tags: []string{"a", "b\x00c", ""},
		TokenHash:  schema.HashToken("secret"),
		UpdateMode: schema.ModeAssigned, SoftwareID: 7, Feed: "beta",
		Attributes: map[string]string{schema.AttrHWModel: "board", schema.AttrHWRevision: "1.0"},
		SWVersion:  "1.2.3", InstalledSoftwareID: 5, SkipSoftwareID: 6,
		ActionID: 9, LastActionID: 8, PollInterval: time.Minute, Status: "in_sync",
		ConfigRequested: true, Provisioned: true,
	}
	e := &entry{
		key: deviceKey(d.Tenant, d.ID), prof: profileOf(d), lastActionID: d.LastActionID,
		ext: &entryExt{actionID: d.ActionID}, flags: flagConfigReq | flagToken,
	}
	e.tokenSum, _ = decodeHash(d.TokenHash)
	if got := e.device(d.Tenant); !reflect.DeepEqual(got, d) {
		t.Errorf("device() = %+v\nwant %+v", got, d)
	}
	if got, want := e.path(), "/T/controller/v1/"+url.PathEscape(d.ID); got != want {
		t.Errorf("path() = %q, want %q", got, want)
	}
}

// The cache stays within its cost budget, and del forgets an entry.
func TestL1Budget(t *testing.T) {
	const budget = 100 * steadyEntryCost
	c, err := newL1(budget)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	for i := range 10000 {
		e := &entry{key: deviceKey("T", strconv.Itoa(i))}
		c.set(keyHash(e.key), e)
	}
	c.wait()
	m := c.c.Metrics
	if cost := int64(m.CostAdded() - m.CostEvicted()); cost > budget {
		t.Errorf("cost %d over the %d budget", cost, budget)
	}
	e := &entry{key: deviceKey("T", "kept")}
	h := keyHash(e.key)
	for range 10 { // ristretto may refuse a first admission
		c.set(h, e)
		c.wait()
		if c.get(h, e.key) == e {
			break
		}
	}
	if c.get(h, e.key) != e {
		t.Fatal("entry never admitted")
	}
	if c.get(h, "other key, same hash") != nil {
		t.Error("a colliding key was answered with another device's entry")
	}
	c.del(h, e.key)
	c.wait()
	if c.get(h, e.key) != nil {
		t.Error("del kept the entry")
	}
}

// BenchmarkEntryMemory reports what a cached steady-state device costs the
// heap in L1: the entry, its key, ristretto's store and policy maps, and
// its share of the admission counters, with 1,000,000 devices in the
// default budget (the memory row). -benchtime=1x is enough.
func BenchmarkEntryMemory(b *testing.B) {
	const n = 1_000_000
	d := &schema.Device{Tenant: "DEFAULT", Feed: "stable", SWVersion: "1.0.0", Status: "in_sync",
		Attributes: map[string]string{schema.AttrHWModel: "board", schema.AttrHWRevision: "1.0"}}
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	for b.Loop() {
		h0 := heap()
		c, err := newL1(DefaultCacheBytes)
		if err != nil {
			b.Fatal(err)
		}
		for i := range n {
			e := &entry{key: deviceKey(d.Tenant, "loadgen-"+strconv.Itoa(i)), prof: profileOf(d), flags: flagToken}
			c.set(keyHash(e.key), e)
			if i%4096 == 0 {
				c.wait() // as polls arrive over time: no write dropped for a full buffer
			}
		}
		c.wait()
		h1 := heap()
		m := c.c.Metrics
		b.ReportMetric(float64(h1-h0)/n, "B/device")
		b.ReportMetric(float64(m.KeysAdded()-m.KeysEvicted()), "devices")
		runtime.KeepAlive(c)
		c.close()
	}
}
