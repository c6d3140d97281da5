package artifacts_test

import (
	"bytes"
	"fmt"
	"testing"
)

// member is one file of a test cpio archive.
type member struct {
	name string
	data []byte
}

// archiveOpts tweaks a test archive to provoke errors.
type archiveOpts struct {
	crc        bool // 070702 with checksums instead of 070701
	badSumOf   int  // index of a member whose checksum is off by one; -1 none
	noTrailer  bool
	blockAlign bool // pad to 512 bytes after the trailer, like cpio(1)
}

// MustArchive writes a cpio newc archive the way cpio -o -H newc|crc does
// and fails the test if a name is empty.
func MustArchive(tb testing.TB, o archiveOpts, members ...member) []byte {
	tb.Helper()
	var buf bytes.Buffer
	pad := func() {
		for buf.Len()%4 != 0 {
			buf.WriteByte(0)
		}
	}
	write := func(i int, m member, mode uint32) {
		if m.name == "" {
			tb.Fatalf("member %d has no name", i)
		}
		magic, check := "070701", uint32(0)
		if o.crc {
			magic = "070702"
			for _, b := range m.data {
				check += uint32(b)
			}
			if i == o.badSumOf {
				check++
			}
		}
		fmt.Fprintf(&buf, "%s%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
			magic, i+1, mode, 0, 0, 1, 1700000000, len(m.data), 0, 0, 0, 0, len(m.name)+1, check)
		buf.WriteString(m.name)
		buf.WriteByte(0)
		pad()
		buf.Write(m.data)
		pad()
	}
	for i, m := range members {
		write(i, m, 0o100644)
	}
	if !o.noTrailer {
		write(len(members), member{name: "TRAILER!!!"}, 0)
	}
	if o.blockAlign {
		for buf.Len()%512 != 0 {
			buf.WriteByte(0)
		}
	}
	return buf.Bytes()
}

// defaults returns archive options with no corruption.
func defaults(crc bool) archiveOpts { return archiveOpts{crc: crc, badSumOf: -1} }

const libconfigDesc = `software =
{
	version = "1.2.0";
	description = "Firmware " "update";
	hardware-compatibility: [ "1.0", "1.2" ];
	images: (
		{
			filename = "rootfs.ext4";
			sha256 = "abc";
		}
	);
};
`

// MustSWU builds a .swu with the given description and payloads.
func MustSWU(tb testing.TB, o archiveOpts, desc string, signed bool, payloads ...member) []byte {
	tb.Helper()
	ms := []member{{name: "sw-description", data: []byte(desc)}}
	if signed {
		ms = append(ms, member{name: "sw-description.sig", data: []byte("not really CMS")})
	}
	return MustArchive(tb, o, append(ms, payloads...)...)
}
