package cache

import (
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisOptions parses a redis:// or rediss:// URL (go-redis syntax; query
// parameters such as dial_timeout=1s or max_retries=2 are honoured) and
// gives the settings the URL leaves unset values suited to a cache that
// must fail fast: go-redis's defaults (5 s dial timeout, 3 s read timeout,
// 3 command retries, 5 dial attempts) make a poll wait seconds for a dead
// Redis before the Store falls back to the database.
func RedisOptions(rawURL string) (*redis.Options, error) {
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("parse redis url: %w", err)
	}
	setDefault(&opt.DialTimeout, 500*time.Millisecond)
	setDefault(&opt.ReadTimeout, 250*time.Millisecond)
	setDefault(&opt.WriteTimeout, 250*time.Millisecond)
	setDefault(&opt.PoolTimeout, 500*time.Millisecond)
	setDefault(&opt.MaxRetries, 1)
	setDefault(&opt.DialerRetries, 1)
	return opt, nil
}

func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}
