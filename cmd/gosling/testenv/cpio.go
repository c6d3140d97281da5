package testenv

import (
	"bytes"
	"fmt"
)

// cpioMember is one file of a .swu archive.
type cpioMember struct {
	name string
	data []byte
}

// writeCPIO packs members, in order, into a cpio "newc with CRC" archive
// (magic 070702), the format SWUpdate reads and verifies: each member is a
// 110-byte ASCII header (magic and thirteen 8-digit hex fields), the
// NUL-terminated name padded to a multiple of 4, and the data padded to a
// multiple of 4. The "CRC" is the 32-bit sum of the data bytes. A member
// named TRAILER!!! ends the archive, padded to a 512-byte block.
func writeCPIO(members []cpioMember) []byte {
	var buf bytes.Buffer
	for i, m := range members {
		writeCPIOMember(&buf, uint32(i+1), 0o100644, m.name, m.data)
	}
	writeCPIOMember(&buf, 0, 0, "TRAILER!!!", nil)
	// Like cpio(1), pad the archive to a whole 512-byte block.
	for buf.Len()%512 != 0 {
		buf.WriteByte(0)
	}
	return buf.Bytes()
}

func writeCPIOMember(buf *bytes.Buffer, ino, mode uint32, name string, data []byte) {
	var sum uint32
	for _, b := range data {
		sum += uint32(b)
	}
	fmt.Fprintf(buf, "070702%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		ino, mode,
		0, 0, // uid, gid
		1,          // nlink
		1767225600, // mtime: fixed, so that equal specs give equal bytes
		len(data),
		0, 0, 0, 0, // dev and rdev major/minor
		len(name)+1, // name size including the NUL
		sum,
	)
	buf.WriteString(name)
	buf.WriteByte(0)
	pad4(buf)
	buf.Write(data)
	pad4(buf)
}

// pad4 pads buf with NULs to a multiple of 4; the header counts from the
// start of the archive, and every member starts aligned.
func pad4(buf *bytes.Buffer) {
	for buf.Len()%4 != 0 {
		buf.WriteByte(0)
	}
}
