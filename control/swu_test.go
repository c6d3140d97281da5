package control_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/gosling-ota/gosling/artifacts/artifactstest"
)

// member is one file of a test archive.
type member = artifactstest.Member

// mustCPIO writes a cpio newc archive ("070701", or "070702" with
// checksums when crc is set) with the TRAILER!!! member.
func mustCPIO(tb testing.TB, crc bool, members ...member) []byte {
	tb.Helper()
	return artifactstest.CPIO(tb, artifactstest.Options{CRC: crc}, members...)
}

// swDescription renders a libconfig sw-description with a version and a
// hardware-compatibility list (none when revs is empty).
func swDescription(version string, revs ...string) string {
	var b strings.Builder
	b.WriteString("software =\n{\n")
	if version != "" {
		fmt.Fprintf(&b, "\tversion = %q;\n", version)
	}
	b.WriteString("\tdescription = \"test image\";\n")
	if len(revs) > 0 {
		q := make([]string, len(revs))
		for i, r := range revs {
			q[i] = fmt.Sprintf("%q", r)
		}
		fmt.Fprintf(&b, "\thardware-compatibility: [ %s ];\n", strings.Join(q, ", "))
	}
	b.WriteString("\timages: (\n\t\t{\n\t\t\tfilename = \"rootfs.img\";\n\t\t\ttype = \"raw\";\n\t\t\tdevice = \"/dev/null\";\n\t\t}\n\t);\n};\n")
	return b.String()
}

// mustSWU builds a .swu: sw-description first, then a payload of the given
// size (its bytes depend on version, so different versions differ in
// content).
func mustSWU(tb testing.TB, version string, payload int, revs ...string) []byte {
	tb.Helper()
	data := bytes.Repeat([]byte(version+"."), payload/(len(version)+1)+1)[:payload]
	return mustCPIO(tb, true,
		member{Name: "sw-description", Data: []byte(swDescription(version, revs...))},
		member{Name: "rootfs.img", Data: data})
}
