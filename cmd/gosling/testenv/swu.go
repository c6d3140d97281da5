package testenv

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// SWUSpec describes a .swu image for BuildSWU. Its zero value plus a Version
// is a valid, signed image with a "dummy" payload that any board accepts.
type SWUSpec struct {
	// Version is sw-description's software version.
	Version string
	// Board, when set, puts the hardware rules and the payload in a
	// software.<Board> section (SWUpdate picks the section of the board
	// given by -H board:rev); otherwise they sit at the root of software.
	Board string
	// Revisions are the accepted hardware revisions (hardware-compatibility).
	// Default: ["1.0"]. SWUpdate refuses images without any.
	Revisions []string
	// Payload is the payload member's content. Default: a few bytes (see
	// PayloadBytes).
	Payload []byte
	// PayloadName is the payload member's name. Default: "payload.bin".
	PayloadName string
	// Path, when set, installs the payload with the "rawfile" handler as the
	// file Path/PayloadName (Path should be an existing directory, e.g.
	// t.TempDir()). When empty, the "dummy" handler installs nothing.
	Path string
	// Unsigned leaves out sw-description.sig. Debian's swupdate is built
	// for signed images and refuses unsigned ones; images are signed by
	// default (with Signer's certificate).
	Unsigned bool
	// BadHash writes a wrong sha256 for the payload into sw-description;
	// SWUpdate then fails the install with "HASH mismatch".
	BadHash bool
	// JSON writes sw-description in JSON syntax instead of libconfig.
	JSON bool
}

// PayloadFile returns where the rawfile handler writes the payload, or ""
// for the dummy handler.
func (s SWUSpec) PayloadFile() string {
	if s.Path == "" {
		return ""
	}
	return filepath.Join(s.Path, s.payloadName())
}

// PayloadBytes returns the payload the image carries: Payload, or the
// default derived from Version.
func (s SWUSpec) PayloadBytes() []byte {
	if s.Payload == nil {
		return []byte("gosling test payload " + s.Version + "\n")
	}
	return s.Payload
}

func (s SWUSpec) payloadName() string {
	if s.PayloadName == "" {
		return "payload.bin"
	}
	return s.PayloadName
}

// BuildSWU returns a .swu image: a cpio newc-CRC archive of sw-description,
// sw-description.sig (a CMS signature made with openssl by Signer's key,
// unless Unsigned) and the payload.
func BuildSWU(tb testing.TB, spec SWUSpec) []byte {
	tb.Helper()
	if spec.Version == "" {
		tb.Fatal("testenv: SWUSpec.Version is required")
	}
	if spec.Revisions == nil {
		spec.Revisions = []string{"1.0"}
	}
	spec.Payload = spec.PayloadBytes()
	desc := swDescription(spec)
	members := []cpioMember{{name: "sw-description", data: desc}}
	if !spec.Unsigned {
		members = append(members, cpioMember{name: "sw-description.sig", data: sign(tb, desc)})
	}
	members = append(members, cpioMember{name: spec.payloadName(), data: spec.Payload})
	return writeCPIO(members)
}

// swDescription renders the spec's sw-description.
func swDescription(spec SWUSpec) []byte {
	sum := sha256.Sum256(spec.Payload)
	hash := hex.EncodeToString(sum[:])
	if spec.BadHash {
		sum[0] ^= 0xff
		hash = hex.EncodeToString(sum[:])
	}
	entry := map[string]string{"filename": spec.payloadName(), "sha256": hash}
	list := "images"
	if spec.Path != "" {
		list = "files" // the files list defaults to the rawfile handler
		entry["path"] = spec.PayloadFile()
	} else {
		entry["type"] = "dummy"
	}
	if spec.JSON {
		section := map[string]any{
			"hardware-compatibility": spec.Revisions,
			list:                     []map[string]string{entry},
		}
		sw := map[string]any{"version": spec.Version, "description": "gosling test image"}
		if spec.Board != "" {
			sw[spec.Board] = section
		} else {
			for k, v := range section {
				sw[k] = v
			}
		}
		b, err := json.MarshalIndent(map[string]any{"software": sw}, "", "\t")
		if err != nil {
			panic(err) // only strings and lists of strings
		}
		return append(b, '\n')
	}

	var b strings.Builder
	fmt.Fprintf(&b, "software =\n{\n\tversion = %s;\n\tdescription = \"gosling test image\";\n", libconfigString(spec.Version))
	indent := "\t"
	if spec.Board != "" {
		fmt.Fprintf(&b, "\t%s = {\n", spec.Board)
		indent = "\t\t"
	}
	quoted := make([]string, len(spec.Revisions))
	for i, r := range spec.Revisions {
		quoted[i] = libconfigString(r)
	}
	fmt.Fprintf(&b, "%shardware-compatibility = [ %s ];\n", indent, strings.Join(quoted, ", "))
	fmt.Fprintf(&b, "%s%s: (\n%s\t{\n", indent, list, indent)
	for _, k := range []string{"filename", "type", "path", "sha256"} {
		if v, ok := entry[k]; ok {
			fmt.Fprintf(&b, "%s\t\t%s = %s;\n", indent, k, libconfigString(v))
		}
	}
	fmt.Fprintf(&b, "%s\t}\n%s);\n", indent, indent)
	if spec.Board != "" {
		b.WriteString("\t};\n")
	}
	b.WriteString("}\n")
	return []byte(b.String())
}

// libconfigString quotes s as a libconfig string (same escapes as JSON for
// the characters tests use).
func libconfigString(s string) string {
	q, _ := json.Marshal(s)
	return string(q)
}

// signer is the self-signed certificate and key shared by the test binary.
var signer struct {
	once      sync.Once
	cert, key string
	err       error
}

// Signer returns the paths of a self-signed certificate (CN=gosling-test,
// no extended key usage, so it passes swupdate's default
// --cert-purpose emailProtection) and its private key. They are generated
// with openssl once per test binary; give the certificate to swupdate -k.
func Signer(tb testing.TB) (certPEM, keyPEM string) {
	tb.Helper()
	dir := sharedDir(tb)
	signer.once.Do(func() {
		cert, key := filepath.Join(dir, "signer.pem"), filepath.Join(dir, "signer.key")
		out, err := exec.Command("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
			"-subj", "/CN=gosling-test", "-days", "2", "-keyout", key, "-out", cert).CombinedOutput()
		if err != nil {
			signer.err = fmt.Errorf("openssl req: %v\n%s", err, out)
			return
		}
		signer.cert, signer.key = cert, key
	})
	if signer.err != nil {
		tb.Fatalf("testenv: %v", signer.err)
	}
	return signer.cert, signer.key
}

// sign returns the detached CMS signature (DER) of desc that swupdate
// expects in sw-description.sig.
func sign(tb testing.TB, desc []byte) []byte {
	tb.Helper()
	cert, key := Signer(tb)
	dir := tb.TempDir()
	in, out := filepath.Join(dir, "sw-description"), filepath.Join(dir, "sw-description.sig")
	if err := os.WriteFile(in, desc, 0o644); err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	msg, err := exec.Command("openssl", "cms", "-sign", "-in", in, "-out", out,
		"-signer", cert, "-inkey", key, "-outform", "DER", "-nosmimecap", "-binary").CombinedOutput()
	if err != nil {
		tb.Fatalf("testenv: openssl cms -sign: %v\n%s", err, msg)
	}
	sig, err := os.ReadFile(out)
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	return sig
}
