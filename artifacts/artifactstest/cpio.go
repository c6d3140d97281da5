// Package artifactstest writes cpio archives (and so .swu files) for tests,
// the way cpio -o -H newc|crc does, including the damaged kinds a reader
// must refuse.
package artifactstest

import (
	"bytes"
	"fmt"
	"testing"
)

// Member is one file of an archive.
type Member struct {
	Name string
	Data []byte
}

// Options shape an archive; the zero value is a well-formed newc archive.
type Options struct {
	CRC bool // 070702 with checksums instead of 070701
	// BadSum names a member whose checksum is off by one (with CRC).
	BadSum     string
	NoTrailer  bool // no TRAILER!!! member
	BlockAlign bool // pad to 512 bytes after the trailer, like cpio(1)
}

// CPIO returns the archive of members, in order; it fails the test if a
// member has no name.
func CPIO(tb testing.TB, o Options, members ...Member) []byte {
	tb.Helper()
	var buf bytes.Buffer
	pad := func() {
		for buf.Len()%4 != 0 {
			buf.WriteByte(0)
		}
	}
	write := func(ino int, m Member, mode uint32) {
		if m.Name == "" {
			tb.Fatalf("cpio member %d has no name", ino)
		}
		magic, check := "070701", uint32(0)
		if o.CRC {
			magic = "070702"
			for _, b := range m.Data {
				check += uint32(b)
			}
			if o.BadSum != "" && m.Name == o.BadSum {
				check++
			}
		}
		fmt.Fprintf(&buf, "%s%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
			magic, ino, mode, 0, 0, 1, 1700000000, len(m.Data), 0, 0, 0, 0, len(m.Name)+1, check)
		buf.WriteString(m.Name)
		buf.WriteByte(0)
		pad()
		buf.Write(m.Data)
		pad()
	}
	for i, m := range members {
		write(i+1, m, 0o100644)
	}
	if !o.NoTrailer {
		write(len(members)+1, Member{Name: "TRAILER!!!"}, 0)
	}
	if o.BlockAlign {
		for buf.Len()%512 != 0 {
			buf.WriteByte(0)
		}
	}
	return buf.Bytes()
}
