package control_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// member is one file of a test cpio archive.
type member struct {
	name string
	data []byte
}

// mustCPIO writes a cpio newc archive ("070701", or "070702" with
// checksums when crc is set) the way cpio -o -H newc does, with the
// TRAILER!!! member.
func mustCPIO(tb testing.TB, crc bool, members ...member) []byte {
	tb.Helper()
	var buf bytes.Buffer
	pad := func() {
		for buf.Len()%4 != 0 {
			buf.WriteByte(0)
		}
	}
	write := func(ino int, m member, mode uint32) {
		if m.name == "" {
			tb.Fatalf("cpio member %d has no name", ino)
		}
		magic, check := "070701", uint32(0)
		if crc {
			magic = "070702"
			for _, b := range m.data {
				check += uint32(b)
			}
		}
		fmt.Fprintf(&buf, "%s%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
			magic, ino, mode, 0, 0, 1, 1700000000, len(m.data), 0, 0, 0, 0, len(m.name)+1, check)
		buf.WriteString(m.name)
		buf.WriteByte(0)
		pad()
		buf.Write(m.data)
		pad()
	}
	for i, m := range members {
		write(i+1, m, 0o100644)
	}
	write(len(members)+1, member{name: "TRAILER!!!"}, 0)
	return buf.Bytes()
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
		member{name: "sw-description", data: []byte(swDescription(version, revs...))},
		member{name: "rootfs.img", data: data})
}
