package cache

import (
	"encoding/json"

	"github.com/gosling-ota/gosling/schema"
)

// codec turns cached values into bytes and back. Values are JSON:
//
//   - it round-trips what the store returns exactly, which the contract
//     suite checks with reflect.DeepEqual — empty maps and slices stay
//     empty, not nil, and times keep their nanoseconds and UTC. gob does
//     not: it drops empty maps (Device.Attributes would come back nil);
//   - a single gob value carries its type description, so gob is both
//     larger and slower for one small value. BenchmarkCodec, a Device with
//     four attributes: JSON 319 bytes, decode 3.8 µs / 28 allocs; gob
//     569 bytes, decode 20 µs / 260 allocs;
//   - entries stay readable with redis-cli when debugging.
//
// A decode costs a few µs, an order of magnitude less than the Redis round
// trip it follows. Fields tagged json:"-" that must be cached are carried
// by wrapper types (deviceJSON). Changing the encoding needs a new key
// prefix version (gosling:v2:), so that old and new processes in one
// deployment do not read each other's entries.
type codec[T any] struct {
	enc func(T) ([]byte, error)
	dec func([]byte) (T, error)
}

// deviceJSON carries Device.TokenHash, which schema.Device hides from
// JSON (it must never reach an API response) but the cache needs.
type deviceJSON struct {
	*schema.Device
	TokenHash string `json:"token_hash,omitempty"`
}

var deviceCodec = codec[*schema.Device]{
	enc: func(d *schema.Device) ([]byte, error) {
		return json.Marshal(deviceJSON{Device: d, TokenHash: d.TokenHash})
	},
	dec: func(b []byte) (*schema.Device, error) {
		w := deviceJSON{Device: new(schema.Device)}
		if err := json.Unmarshal(b, &w); err != nil {
			return nil, err
		}
		w.Device.TokenHash = w.TokenHash
		return w.Device, nil
	},
}

func jsonCodec[T any]() codec[T] {
	return codec[T]{
		enc: func(v T) ([]byte, error) { return json.Marshal(v) },
		dec: func(b []byte) (T, error) {
			var v T
			err := json.Unmarshal(b, &v)
			return v, err
		},
	}
}

var (
	actionCodec       = jsonCodec[*schema.Action]()
	softwareCodec     = jsonCodec[*schema.Software]()
	softwareListCodec = jsonCodec[[]*schema.Software]()
	rolloutsCodec     = jsonCodec[[]*schema.Rollout]()
	pollCodec         = jsonCodec[*schema.PollSettings]()
)

// stringCodec stores a string as its bytes (the gateway token hash, which
// may be "": an empty value in Redis is a cached "no token").
var stringCodec = codec[string]{
	enc: func(v string) ([]byte, error) { return []byte(v), nil },
	dec: func(b []byte) (string, error) { return string(b), nil },
}
