package cache_test

import (
	"testing"
	"time"

	"github.com/gosling-ota/gosling/cache"
)

func TestRedisOptions(t *testing.T) {
	opt, err := cache.RedisOptions("redis://10.0.0.1:6380/3")
	if err != nil {
		t.Fatal(err)
	}
	if opt.Addr != "10.0.0.1:6380" || opt.DB != 3 || opt.DialTimeout != 500*time.Millisecond ||
		opt.ReadTimeout != 250*time.Millisecond || opt.MaxRetries != 1 || opt.DialerRetries != 1 {
		t.Fatalf("defaults: %+v", opt)
	}
	// What the URL says wins.
	opt, err = cache.RedisOptions("redis://h:1/0?dial_timeout=3s&read_timeout=1s&max_retries=5")
	if err != nil {
		t.Fatal(err)
	}
	if opt.DialTimeout != 3*time.Second || opt.ReadTimeout != time.Second || opt.MaxRetries != 5 {
		t.Fatalf("URL settings lost: %+v", opt)
	}
	if _, err := cache.RedisOptions("http://nope"); err == nil {
		t.Fatal("bad URL accepted")
	}
}
