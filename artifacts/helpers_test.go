package artifacts_test

import (
	"testing"

	"github.com/gosling-ota/gosling/artifacts/artifactstest"
)

// member and archiveOpts are artifactstest's, named as these tests use them.
type (
	member      = artifactstest.Member
	archiveOpts = artifactstest.Options
)

// MustArchive writes a cpio archive (see artifactstest.CPIO).
func MustArchive(tb testing.TB, o archiveOpts, members ...member) []byte {
	tb.Helper()
	return artifactstest.CPIO(tb, o, members...)
}

// defaults returns archive options with no corruption.
func defaults(crc bool) archiveOpts { return archiveOpts{CRC: crc} }

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
	ms := []member{{Name: "sw-description", Data: []byte(desc)}}
	if signed {
		ms = append(ms, member{Name: "sw-description.sig", Data: []byte("not really CMS")})
	}
	return MustArchive(tb, o, append(ms, payloads...)...)
}
