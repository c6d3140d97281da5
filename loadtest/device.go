package loadtest

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"hash"
	"math"
	"strconv"
)

// A device is an index; everything else about it is derived on the fly.

// TokenFor returns the TargetToken of device id for a fleet secret: the
// first 16 bytes of HMAC-SHA256(secret, id), hex-encoded (32 characters).
// A server is pre-provisioned for a load test by storing, for every id,
// the hash of TokenFor(secret, id) (schema.HashToken); with --device-auth
// tofu the first poll binds it instead.
func TokenFor(secret, id string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(id))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// DeviceID returns the controller id of device index i: prefix + decimal i.
func DeviceID(prefix string, i int) string { return prefix + strconv.Itoa(i) }

// FailsInstall reports whether device index i reports its installs as
// failed in a run with this seed and fail rate (Config.Seed,
// Config.FailRate), so a test can predict every device's outcome.
func FailsInstall(seed uint64, failRate float64, i int) bool {
	return failing(seed, failCut(failRate), uint32(i))
}

// failCut maps a rate in [0, 1] to a threshold on uniform 64-bit hashes.
func failCut(rate float64) uint64 {
	switch {
	case rate <= 0:
		return 0
	case rate >= 1:
		return math.MaxUint64
	}
	return uint64(rate * (1 << 64))
}

func failing(seed, cut uint64, dev uint32) bool {
	if cut == math.MaxUint64 {
		return true
	}
	return splitmix64(seed^uint64(dev)*0x9e3779b97f4a7c15) < cut
}

// splitmix64 is a fast, well-mixed 64-bit hash (Steele et al.'s SplitMix
// finaliser).
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// tokenWriter computes TokenFor without allocating: one reusable HMAC
// per worker.
type tokenWriter struct {
	mac hash.Hash
	sum []byte
}

func newTokenWriter(secret string) *tokenWriter {
	return &tokenWriter{mac: hmac.New(sha256.New, []byte(secret)), sum: make([]byte, 0, sha256.Size)}
}

// append appends TokenFor(secret, id) to dst.
func (t *tokenWriter) append(dst, id []byte) []byte {
	t.mac.Reset()
	t.mac.Write(id)
	t.sum = t.mac.Sum(t.sum[:0])
	return hex.AppendEncode(dst, t.sum[:16])
}

// Bodies as SWUpdate 2022.12 sends them (ddi/SWUPDATE.md): an integer
// id, a local-time "time", details in a list.
const (
	timeLayout     = "20060102T150405"
	detailsInstall = "Installing Update Chunk Artifacts."
	detailsSuccess = "Update Installed."
	detailsFailure = "Update Failed."
	detailsCancel  = "cancellation acknowledged."
)

// configDataPrefix renders the attribute part of the configData body once.
func configDataPrefix(c *Config) []byte {
	attrs, _ := json.Marshal(struct {
		SWVersion  string `json:"sw_version"`
		HWRevision string `json:"hw_revision"`
		HWModel    string `json:"hw_model"`
	}{c.SWVersion, c.HWRevision, c.HWModel})
	return attrs
}

func appendConfigData(dst, attrs, now []byte) []byte {
	dst = append(dst, `{ "id": "", "time": "`...)
	dst = append(dst, now...)
	dst = append(dst, `", "status": { "result": { "finished": "success" }, "execution": "closed", "details" : [ "" ] }, "data" : `...)
	dst = append(dst, attrs...)
	return append(dst, " }"...)
}

// appendFeedback renders a feedback body; proceeding feedback carries
// progress 0 of 1 like SWUpdate's.
func appendFeedback(dst []byte, id int64, now []byte, execution, finished, details string) []byte {
	dst = append(dst, `{ "id": `...)
	dst = strconv.AppendInt(dst, id, 10)
	dst = append(dst, `, "time": "`...)
	dst = append(dst, now...)
	dst = append(dst, `", "status": { "result": { `...)
	if execution == "proceeding" {
		dst = append(dst, `"progress": { "cnt" : 0, "of" : 1 }, `...)
	}
	dst = append(dst, `"finished": "`...)
	dst = append(dst, finished...)
	dst = append(dst, `" }, "execution": "`...)
	dst = append(dst, execution...)
	dst = append(dst, `", "details" : [ "`...)
	dst = append(dst, details...)
	return append(dst, `" ] } }`...)
}

// Answer shapes the device reads.
type link struct {
	Href string `json:"href"`
}

type pollLinks struct {
	Links struct {
		ConfigData     link `json:"configData"`
		DeploymentBase link `json:"deploymentBase"`
		CancelAction   link `json:"cancelAction"`
	} `json:"_links"`
}

type deploymentAnswer struct {
	ID         json.RawMessage `json:"id"`
	Deployment struct {
		Chunks []struct {
			Artifacts []artifact `json:"artifacts"`
		} `json:"chunks"`
	} `json:"deployment"`
}

type artifact struct {
	Filename string `json:"filename"`
	Size     int64  `json:"size"`
	Links    struct {
		Download     link `json:"download"`
		DownloadHTTP link `json:"download-http"`
	} `json:"_links"`
}

type cancelAnswer struct {
	ID json.RawMessage `json:"id"`
}

// actionID reads a JSON id that is a numeric string or a number (SWUpdate
// parses it as an int, so must we).
func actionID(raw json.RawMessage) (int64, bool) {
	n, err := strconv.ParseInt(string(bytes.Trim(raw, `"`)), 10, 64)
	return n, err == nil && n > 0
}
