package ddi

import (
	"encoding/json"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gosling-ota/gosling/schema"
)

// The fast feedback reader is only correct if, whenever it answers, it
// answers exactly what parseFeedbackSlow does. These tests hold it to
// that on hand-picked bodies and under the fuzzer.

// fbSWUpdate is a typical SWUpdate 2022.12 log-flush report: the body the
// frontline sees most, and the one the benchmark reads.
const fbSWUpdate = `{"id":"123","time":"20261128T052800","status":{"result":{"finished":"none","progress":{"cnt":0,"of":1}},"execution":"proceeding","details":[` +
	`"[network_initializer] : Main loop daemon",` +
	`"[server_get_deployment_info] : Update action available",` +
	`"[server_process_update_artifact] : Iterating on artifacts",` +
	`"[channel_get_file] : Channel operation returned HTTP error code 200",` +
	`"[install_single_image] : Installing image rootfs.ext4.gz into /dev/mmcblk0p3"]}}`

// fbHawkBit is the same report as hawkBit's own clients send it.
const fbHawkBit = `{"id":"123","timestamp":1700000000000,"status":{"execution":"closed","result":{"finished":"success","progress":{"cnt":2,"of":5}},"code":200,"details":["a","b"]}}`

// fbDetails builds a report whose details array is lines, verbatim.
func fbDetails(lines ...string) string {
	return `{"status":{"execution":"proceeding","result":{"finished":"none"},"details":[` + strings.Join(lines, ",") + `]}}`
}

// fbRepeat builds n copies of the JSON string s.
func fbRepeat(n int, s string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// fbFastCases are bodies the fast path must read, and read as the slow
// path does.
var fbFastCases = []struct{ name, body string }{
	{"swupdate typical", fbSWUpdate},
	{"hawkbit", fbHawkBit},
	{"swupdate spaced (SWUPDATE.md)", `{ "id": 1, "time": "20261128T020752", "status": { "result": { "progress": { "cnt" : 0, "of" : 1 }, "finished": "none" }, "execution": "proceeding", "details" : [ "Installing Update Chunk Artifacts." ] } }`},
	{"swupdate cancel ack", `{ "id": 1, "time": "20261128T020752", "status": { "result": { "finished": "success" }, "execution": "closed", "details" : [ "cancellation acknowledged." ] } }`},
	{"swupdate configData body", `{ "id": "", "time": "20261128T020752", "status": { "result": { "finished": "success" }, "execution": "closed", "details" : [ "" ] }, "data" : { "sw_version": "0.9.0","hw_revision": "1.0","hw_model": "devboard" } }`},
	{"keys reordered", `{"status":{"details":["x"],"code":"7","result":{"progress":{"of":5,"cnt":2},"finished":"failure"},"execution":"closed"},"timestamp":1,"id":9}`},
	{"whitespace everywhere", "\r\n\t { \"status\" \t:\n{ \"execution\"\r: \"proceeding\" , \"result\" : { \"finished\" : \"none\" , \"progress\" : { \"cnt\" : 1 , \"of\" : 2 } } , \"details\" : [ \"a\" , \"b\" ] } } \n"},
	{"unknown nested keys", `{"data":{"a":[1,{"b":null,"c":[[],{}]}],"d":"\u00e9\"","e":-1.5e-3},"status":{"x":{"execution":"no"},"execution":"closed","result":{"y":[true,false],"finished":"success","progress":{"z":{},"cnt":1,"of":1}},"details":[]},"extra":null}`},
	{"unknown key with escape inside unknown object", `{"data":{"k\u00e9y":1},"status":{"execution":"closed","result":{"finished":"success"}}}`},
	{"escapes in details", fbDetails(`"a\"b"`, `"back\\slash"`, `"\/slash"`, `"\b\f\n\r\t"`, `"end\\"`)},
	{"raw unicode", fbDetails(`"Größe ✓ 🚀"`, `"日本語"`)},
	{"u escapes", fbDetails(`"\u00e9\u00E9"`, `"\ud83d\ude80"`, `"\u0000nul"`, `"\u2028"`)},
	{"lone and broken surrogates", fbDetails(`"\ud800"`, `"\udc00"`, `"\ud800\u0041"`, `"\ud800\ud800\udc00"`, `"\ud83d"`, `"x\udfff\ud800"`)},
	{"empty details", fbDetails()},
	{"empty string detail", fbDetails(`""`)},
	{"details absent", `{"status":{"execution":"downloaded","result":{"finished":"none"}}}`},
	{"details null", `{"status":{"execution":"downloaded","result":{"finished":"none"},"details":null}}`},
	{"details lone string", `{"status":{"execution":"closed","result":{"finished":"failure"},"details":"one line"}}`},
	{"details lone empty string", `{"status":{"execution":"closed","result":{"finished":"failure"},"details":""}}`},
	{"details lone true", `{"status":{"execution":"closed","result":{"finished":"failure"},"details":true}}`},
	{"details lone false", `{"status":{"execution":"closed","result":{"finished":"failure"},"details":false}}`},
	{"non-string details", fbDetails(`1`, `2.50`, `-0`, `1e400`, `1E+2`, `true`, `false`, `null`, `"s"`)},
	{"string numbers", `{"status":{"execution":"proceeding","result":{"finished":"none","progress":{"cnt":"3","of":"7"}},"code":"200"}}`},
	{"floats", `{"status":{"execution":"proceeding","result":{"finished":"none","progress":{"cnt":2.9,"of":-1.5}},"code":2e2}}`},
	{"quoted float", `{"status":{"execution":"proceeding","result":{"finished":"none","progress":{"cnt":"1e3","of":" 5"}},"code":"-7.9"}}`},
	{"huge numbers", `{"status":{"execution":"proceeding","result":{"finished":"none","progress":{"cnt":123456789012345678,"of":1234567890123456789}},"code":-99999999999999999999}}`},
	{"odd progress values", `{"status":{"execution":"proceeding","result":{"finished":"none","progress":{"cnt":null,"of":true}},"code":null}}`},
	{"progress half", `{"status":{"execution":"proceeding","result":{"finished":"none","progress":{"of":{"a":1}}}}}`},
	{"progress one side", `{"status":{"execution":"proceeding","result":{"finished":"none","progress":{"of":4}}}}`},
	{"progress empty", `{"status":{"execution":"proceeding","result":{"finished":"none","progress":{}}}}`},
	{"progress null", `{"status":{"execution":"proceeding","result":{"finished":"none","progress":null}}}`},
	{"code object", `{"status":{"execution":"closed","result":{"finished":"failure"},"code":{"x":1}}}`},
	{"code string junk", `{"status":{"execution":"closed","result":{"finished":"failure"},"code":"\"5\""}}`},
	{"exactly maxDetails", fbDetails(fbRepeat(maxDetails, `"l"`)...)},
	{"one over maxDetails", fbDetails(fbRepeat(maxDetails+1, `"l"`)...)},
	{"objects past maxDetails", fbDetails(append(fbRepeat(maxDetails, `"l"`), `{"a":[1]}`, `[2]`)...)},
	{"huge details", fbDetails(fbRepeat(150, `"`+strings.Repeat("x", 5000)+`"`)...)},
	{"line at the limit", fbDetails(`"` + strings.Repeat("y", maxDetailBytes) + `"`)},
	{"line one over", fbDetails(`"` + strings.Repeat("y", maxDetailBytes+1) + `"`)},
	{"long multibyte line", fbDetails(`"x` + strings.Repeat("é", 3000) + `"`)},
	{"long escaped line", fbDetails(`"` + strings.Repeat(`\u00e9\n`, 2000) + `"`)},
	{"long emoji line", fbDetails(`"ab` + strings.Repeat("🚀", 1100) + `"`)},
	{"long escaped emoji line", fbDetails(`"abc` + strings.Repeat(`\ud83d\ude80`, 1100) + `"`)},
	{"escape across the limit", fbDetails(`"` + strings.Repeat("y", maxDetailBytes-1) + `\u00e9\n\u00e9"`)},
	{"escape at the limit", fbDetails(`"` + strings.Repeat("y", maxDetailBytes) + `\n"`)},
	{"long line of escapes", fbDetails(`"` + strings.Repeat(`\"`, 3*maxDetailBytes) + `"`)},
	{"long line and short lines", fbDetails(`"a"`, `"`+strings.Repeat("z", 9000)+`"`, `"b"`)},
	{"time empty uses timestamp", `{"time":"","timestamp":1700000000000,"status":{"execution":"closed","result":{"finished":"success"}}}`},
	{"time null uses timestamp", `{"time":null,"timestamp":"2024-01-01T00:00:00Z","status":{"execution":"closed","result":{"finished":"success"}}}`},
	{"time escaped", `{"time":"2026\u002d11\/28","status":{"execution":"closed","result":{"finished":"success"}}}`},
	{"time number", `{"time":20261128,"status":{"execution":"closed","result":{"finished":"success"}}}`},
	{"time object", `{"time":{ "a" : [1, "b"] },"status":{"execution":"closed","result":{"finished":"success"}}}`},
	{"time object with escapes", `{"time":{"a":"\n\u00e9"},"status":{"execution":"closed","result":{"finished":"success"}}}`},
	{"timestamp array with escapes", `{"time":"","timestamp":["\\"],"status":{"execution":"closed","result":{"finished":"success"}}}`},
	{"time true", `{"time":true,"status":{"execution":"closed","result":{"finished":"success"}}}`},
	{"timestamp empty string", `{"timestamp":"","status":{"execution":"closed","result":{"finished":"success"}}}`},
	{"time 64 bytes", `{"time":"` + strings.Repeat("t", maxDeviceTime) + `","status":{"execution":"closed","result":{"finished":"success"}}}`},
	{"time and details", `{"time":"T1","status":{"execution":"closed","result":{"finished":"success"},"details":["a","` + strings.Repeat("q", 5000) + `","b"]}}`},
	{"execution mixed case", `{"status":{"execution":"Closed","result":{"finished":"SUCCESS"}}}`},
	{"execution padded", `{"status":{"execution":" closed\t","result":{"finished":"none "}}}`},
	{"execution escaped", `{"status":{"execution":"clos\u0065d","result":{"finished":"n\u006fne"}}}`},
	{"unknown execution", `{"status":{"execution":"exploded","result":{"finished":"none"}}}`},
	{"unknown finished", `{"status":{"execution":"closed","result":{"finished":"maybe"}}}`},
	{"empty execution", `{"status":{"execution":"","result":{"finished":"none"}}}`},
	{"id object", `{"id":{"a":[1,2,{"b":"c"}]},"status":{"execution":"closed","result":{"finished":"none"}}}`},
	{"known names nested elsewhere", `{"data":{"status":1,"Status":2,"execution":3},"status":{"execution":"closed","result":{"finished":"none"}}}`},
	{"unknown names near known ones", `{"stat":1,"statuses":2,"status":{"exec":1,"execution":"closed","result":{"finish":1,"finished":"none","progress":{"count":1,"of":1}}}}`},
}

// fbDeclineCases are bodies the fast path must leave to the slow path.
var fbDeclineCases = []struct{ name, body string }{
	{"empty", ``},
	{"blank", " \n"},
	{"not json", `hello`},
	{"null", `null`},
	{"array", `[]`},
	{"string", `"status"`},
	{"no status", `{"id":1}`},
	{"status null", `{"status":null}`},
	{"status string", `{"status":"closed"}`},
	{"no execution", `{"status":{"result":{"finished":"none"}}}`},
	{"execution null", `{"status":{"execution":null,"result":{"finished":"none"}}}`},
	{"execution number", `{"status":{"execution":5,"result":{"finished":"none"}}}`},
	{"no result", `{"status":{"execution":"closed"}}`},
	{"result null", `{"status":{"execution":"closed","result":null}}`},
	{"result array", `{"status":{"execution":"closed","result":[]}}`},
	{"no finished", `{"status":{"execution":"closed","result":{}}}`},
	{"finished true", `{"status":{"execution":"closed","result":{"finished":true}}}`},
	{"progress array", `{"status":{"execution":"closed","result":{"finished":"none","progress":[1,2]}}}`},
	{"progress number", `{"status":{"execution":"closed","result":{"finished":"none","progress":5}}}`},
	{"raw newline", "{ \"id\": 1, \"time\": \"20261128T020752\", \"status\": { \"result\": { \"finished\": \"failure\" }, \"execution\": \"closed\", \"details\" : [ \"No artifact download URL reported by server.\n\" ] } }"},
	{"raw tab and control char", "{\"id\":1,\"status\":{\"result\":{\"finished\":\"failure\"},\"execution\":\"closed\",\"details\":[\"a\tb\r\nc\x01d\"]}}"},
	{"unescaped quotes", `{"id":1,"status":{"result":{"finished":"failure"},"execution":"closed","details":["ERROR : HASH mismatch : "rootfs" differs"]}}`},
	{"stray backslash", `{"status":{"result":{"finished":"failure"},"execution":"closed","details":["C:\temp\x"]}}`},
	{"hopeless", "{\"status\":{\"result\":{\"finished\":\"failure\"},\"execution\":\"closed\",\"details\":[\"ERROR : Checksum does not match: \"x\", \"y\n\" ]"},
	{"bad \\u", `{"status":{"execution":"closed","result":{"finished":"none"},"details":["\u12"]}}`},
	{"single quote escape", `{"status":{"execution":"closed","result":{"finished":"none"},"details":["\'"]}}`},
	{"trailing garbage", fbHawkBit + `x`},
	{"two objects", fbHawkBit + `{}`},
	{"truncated", fbHawkBit[:len(fbHawkBit)-1]},
	{"trailing comma object", `{"status":{"execution":"closed","result":{"finished":"none"},}}`},
	{"trailing comma array", fbDetails(`"a"`, ``)},
	{"missing comma", `{"status":{"execution":"closed" "result":{"finished":"none"}}}`},
	{"missing colon", `{"status":{"execution" "closed","result":{"finished":"none"}}}`},
	{"single quotes", `{'status':{"execution":"closed","result":{"finished":"none"}}}`},
	{"leading zero", `{"x":01,"status":{"execution":"closed","result":{"finished":"none"}}}`},
	{"bare dot", `{"x":1.,"status":{"execution":"closed","result":{"finished":"none"}}}`},
	{"leading dot", `{"x":.5,"status":{"execution":"closed","result":{"finished":"none"}}}`},
	{"bare minus", `{"x":-,"status":{"execution":"closed","result":{"finished":"none"}}}`},
	{"empty exponent", `{"x":1e,"status":{"execution":"closed","result":{"finished":"none"}}}`},
	{"NaN", `{"x":NaN,"status":{"execution":"closed","result":{"finished":"none"}}}`},
	{"bad literal", `{"x":tru,"status":{"execution":"closed","result":{"finished":"none"}}}`},
	{"literal run-on", `{"x":truex,"status":{"execution":"closed","result":{"finished":"none"}}}`},
	{"BOM", "\ufeff" + fbHawkBit},
	{"duplicate status", `{"status":{"execution":"closed","result":{"finished":"none"}},"status":{"execution":"closed","result":{"finished":"none"}}}`},
	{"duplicate execution", `{"status":{"execution":"closed","execution":"proceeding","result":{"finished":"none"}}}`},
	{"duplicate details", `{"status":{"execution":"closed","result":{"finished":"none"},"details":["a"],"details":["b"]}}`},
	{"duplicate time", `{"time":"a","time":"b","status":{"execution":"closed","result":{"finished":"none"}}}`},
	{"duplicate cnt", `{"status":{"execution":"closed","result":{"finished":"none","progress":{"cnt":1,"cnt":2}}}}`},
	{"case variant Status", `{"Status":{"execution":"closed","result":{"finished":"none"}}}`},
	{"case variant beside", `{"status":{"execution":"closed","result":{"finished":"none"}},"STATUS":{"code":1}}`},
	{"case variant EXECUTION", `{"status":{"EXECUTION":"closed","result":{"finished":"none"}}}`},
	{"case variant Details", `{"status":{"execution":"closed","result":{"finished":"none"},"Details":["x"]}}`},
	{"case variant Of", `{"status":{"execution":"closed","result":{"finished":"none","progress":{"Of":3}}}}`},
	{"long s folds to status", `{"ſtatus":{"execution":"closed","result":{"finished":"none"}}}`},
	{"long s folds to timestamp", `{"status":{"execution":"closed","result":{"finished":"none"}},"id":1,"timeſtamp":2}`},
	{"escaped known name", `{"st\u0061tus":{"execution":"closed","result":{"finished":"none"}}}`},
	{"escaped unknown name", `{"d\u0061ta":1,"status":{"execution":"closed","result":{"finished":"none"}}}`},
	{"invalid utf8 in details", fbDetails("\"a\xffb\"")},
	{"invalid utf8 elsewhere", "{\"data\":\"\xc3\",\"status\":{\"execution\":\"closed\",\"result\":{\"finished\":\"none\"}}}"},
	{"object detail", fbDetails(`"a"`, `{"b":1}`)},
	{"array detail", fbDetails(`["b"]`)},
	{"details lone number", `{"status":{"execution":"closed","result":{"finished":"none"},"details":1.50}}`},
	{"details lone object", `{"status":{"execution":"closed","result":{"finished":"none"},"details":{"a":"b"}}}`},
	{"time too long", `{"time":"` + strings.Repeat("t", maxDeviceTime+1) + `","status":{"execution":"closed","result":{"finished":"none"}}}`},
	{"deep nesting", `{"x":` + strings.Repeat("[", fbMaxDepth+10) + strings.Repeat("]", fbMaxDepth+10) + `,"status":{"execution":"closed","result":{"finished":"none"}}}`},
	{"too deep for encoding/json", `{"x":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `,"status":{"execution":"closed","result":{"finished":"none"}}}`},
}

// fastMatchesSlow reports whether the fast path answered for body and, if
// it did, fails t unless its answer is exactly the slow path's.
func fastMatchesSlow(t testing.TB, body []byte) bool {
	t.Helper()
	raw, ok := fastParseFeedback(body)
	if !ok {
		return false
	}
	got, gerr := finishFeedback(raw)
	want, werr := parseFeedbackSlow(body)
	if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(gerr, werr) {
		t.Errorf("body %q:\nfast %s, %v\nslow %s, %v", body, fbString(got), gerr, fbString(want), werr)
	}
	if !json.Valid(body) {
		t.Errorf("fast path answered for invalid JSON %q", body)
	}
	return true
}

// fbString renders a feedback readably for failure messages (%+v would
// print pointers).
func fbString(fb *schema.Feedback) string {
	if fb == nil {
		return "<nil>"
	}
	b, _ := json.Marshal(fb)
	return string(b)
}

func TestFastParseFeedbackMatchesSlow(t *testing.T) {
	for _, tc := range fbFastCases {
		t.Run(tc.name, func(t *testing.T) {
			if !fastMatchesSlow(t, []byte(tc.body)) {
				t.Errorf("fast path declined %q", tc.body)
			}
		})
	}
}

func TestFastParseFeedbackDeclines(t *testing.T) {
	for _, tc := range fbDeclineCases {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(tc.body)
			if fb, ok := fastParseFeedback(body); ok {
				t.Errorf("fast path answered %s for %q", fbString(fb), tc.body)
			}
			got, gerr := parseFeedback(body)
			want, werr := parseFeedbackSlow(body)
			if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(gerr, werr) {
				t.Errorf("parseFeedback %s, %v; slow %s, %v", fbString(got), gerr, fbString(want), werr)
			}
		})
	}
}

// TestFastParseFeedbackAllocs pins the allocation budget the fast path
// exists for: the Feedback (with its Progress and Code), the details
// slice and one string for every line and the device time.
func TestFastParseFeedbackAllocs(t *testing.T) {
	body := []byte(fbSWUpdate)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := parseFeedback(body); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 3 {
		t.Errorf("%v allocations per parse, want at most 3", allocs)
	}
}

func FuzzParseFeedback(f *testing.F) {
	for _, tc := range fbFastCases {
		if len(tc.body) < 4096 {
			f.Add([]byte(tc.body))
		}
	}
	for _, tc := range fbDeclineCases {
		if len(tc.body) < 4096 {
			f.Add([]byte(tc.body))
		}
	}
	g := fbGen{rand.New(rand.NewPCG(3, 4))}
	for range 64 {
		if body := g.feedback(); len(body) < 4096 {
			f.Add([]byte(body))
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fastMatchesSlow(t, body)
	})
}

func BenchmarkParseFeedback(b *testing.B) {
	body := []byte(fbSWUpdate)
	for _, bc := range []struct {
		name  string
		parse func([]byte) (*schema.Feedback, error)
	}{
		{"slow", parseFeedbackSlow},
		{"fast", parseFeedback},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := bc.parse(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// fbGen writes random feedback-shaped JSON: the known members with values
// of every type, in any order, among unknown ones, with random spacing
// and now and then a duplicate or a case-variant name. The fuzzer mutates
// bytes and rarely builds such bodies; this explores the shapes the fast
// path answers for.
type fbGen struct{ r *rand.Rand }

// pick returns one of xs.
func (g fbGen) pick(xs ...string) string { return xs[g.r.IntN(len(xs))] }

// ws returns random JSON whitespace, usually none.
func (g fbGen) ws() string {
	if g.r.IntN(3) > 0 {
		return ""
	}
	return g.pick(" ", "\n", "\t", "\r\n  ", "  ")
}

// str returns a random JSON string, escapes and non-ASCII included.
func (g fbGen) str() string {
	var b strings.Builder
	b.WriteByte('"')
	for range g.r.IntN(6) {
		b.WriteString(g.pick("a", "Closed", "none", "proceeding", " ", "é", "🚀", `\"`, `\\`, `\/`, `\n`, `\t`,
			`\u00e9`, `\ud83d\ude80`, `\ud800`, `\udc00x`, `\u0041`, "1", "2.5", "-3", "1e3", "\u2028"))
	}
	b.WriteByte('"')
	return b.String()
}

// scalar returns a random JSON scalar.
func (g fbGen) scalar() string {
	switch g.r.IntN(4) {
	case 0:
		return g.str()
	case 1:
		return g.pick("0", "-0", "1", "7", "-12", "2.9", "-1.5", "1e3", "1E+2", "2e-1", "123456789012345678",
			"1234567890123456789", "99999999999999999999", "1e400", "0.0")
	case 2:
		return g.pick("true", "false")
	}
	return "null"
}

// value returns a random JSON value, nested up to depth.
func (g fbGen) value(depth int) string {
	if depth <= 0 || g.r.IntN(3) > 0 {
		return g.scalar()
	}
	var b strings.Builder
	n := g.r.IntN(4)
	if g.r.IntN(2) == 0 {
		b.WriteString("[" + g.ws())
		for i := range n {
			if i > 0 {
				b.WriteString("," + g.ws())
			}
			b.WriteString(g.value(depth-1) + g.ws())
		}
		b.WriteString("]")
		return b.String()
	}
	b.WriteString("{" + g.ws())
	for i := range n {
		if i > 0 {
			b.WriteString("," + g.ws())
		}
		b.WriteString(g.pick(`"a"`, `"status"`, `"k\u00e9"`, `"details"`) + g.ws() + ":" + g.ws() + g.value(depth-1) + g.ws())
	}
	b.WriteString("}")
	return b.String()
}

// object returns an object with members built by the given functions,
// shuffled, some left out, some unknown, rarely duplicated or renamed.
func (g fbGen) object(members map[string]func() string) string {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(members)) { // map order would make runs differ
		val := members[name]
		if g.r.IntN(20) == 0 {
			continue
		}
		if g.r.IntN(100) == 0 {
			name = strings.ToUpper(name[:1]) + name[1:]
		}
		parts = append(parts, `"`+name+`"`+g.ws()+":"+g.ws()+val())
		if g.r.IntN(100) == 0 {
			parts = append(parts, `"`+name+`":`+val())
		}
	}
	for range g.r.IntN(2) {
		parts = append(parts, g.pick(`"data"`, `"x"`, `"stat"`)+":"+g.value(3))
	}
	g.r.Shuffle(len(parts), func(i, j int) { parts[i], parts[j] = parts[j], parts[i] })
	return "{" + g.ws() + strings.Join(parts, g.ws()+","+g.ws()) + g.ws() + "}"
}

// feedback returns a random feedback body.
func (g fbGen) feedback() string {
	usual := func(xs ...string) func() string {
		return func() string {
			if g.r.IntN(12) == 0 {
				return g.value(2)
			}
			return `"` + g.pick(xs...) + `"`
		}
	}
	number := func() string {
		if g.r.IntN(2) == 0 {
			return strconv.Itoa(g.r.IntN(300) - 10)
		}
		return g.value(1)
	}
	details := func() string {
		if g.r.IntN(6) == 0 {
			return g.value(2)
		}
		n := g.r.IntN(5)
		if g.r.IntN(20) == 0 {
			n = maxDetails - 2 + g.r.IntN(5)
		}
		lines := make([]string, n)
		for i := range lines {
			if g.r.IntN(8) == 0 {
				lines[i] = g.value(1)
			} else {
				lines[i] = g.str()
			}
		}
		return "[" + g.ws() + strings.Join(lines, ","+g.ws()) + "]"
	}
	return g.ws() + g.object(map[string]func() string{
		"id":        func() string { return g.value(1) },
		"time":      func() string { return g.pick(`"20261128T052800"`, `""`, "null", "17", g.value(1)) },
		"timestamp": func() string { return g.pick("1700000000000", `""`, "null", g.value(1)) },
		"status": func() string {
			if g.r.IntN(30) == 0 {
				return g.value(1)
			}
			return g.object(map[string]func() string{
				"execution": usual("closed", "proceeding", "canceled", "Closed", " rejected", "exploded", ""),
				"code":      number,
				"details":   details,
				"result": func() string {
					if g.r.IntN(30) == 0 {
						return g.value(1)
					}
					return g.object(map[string]func() string{
						"finished": usual("success", "failure", "none", "NONE", "maybe"),
						"progress": func() string {
							if g.r.IntN(10) == 0 {
								return g.value(1)
							}
							return g.object(map[string]func() string{"cnt": number, "of": number})
						},
					})
				},
			})
		},
	}) + g.ws()
}

func TestFastParseFeedbackRandom(t *testing.T) {
	g := fbGen{rand.New(rand.NewPCG(1, 2))}
	n, answered := 20000, 0
	if testing.Short() {
		n = 2000
	}
	for range n {
		body := []byte(g.feedback())
		if g.r.IntN(10) == 0 { // and some damage
			body[g.r.IntN(len(body))] = g.pick(`"`, `\`, "\n", ",", "}", "x", "\xff")[0]
		}
		if fastMatchesSlow(t, body) {
			answered++
		}
		if t.Failed() {
			return
		}
	}
	if answered < n/4 {
		t.Errorf("the fast path answered only %d of %d bodies", answered, n)
	}
	t.Logf("the fast path answered %d of %d bodies", answered, n)
}
