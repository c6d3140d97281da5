package artifacts_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gosling-ota/gosling/artifacts"
)

func TestInspect(t *testing.T) {
	payload := member{Name: "rootfs.ext4", Data: bytes.Repeat([]byte{0xfe}, 1001)}
	script := member{Name: "post.lua", Data: []byte("print(1)")}
	good := MustSWU(t, defaults(true), libconfigDesc, true, payload, script)

	tests := []struct {
		name    string
		input   []byte
		want    *artifacts.Manifest
		wantErr error
	}{
		{
			name:  "crc signed",
			input: good,
			want: &artifacts.Manifest{
				Version: "1.2.0", Description: "Firmware update", Signed: true,
				Hardware: []artifacts.Hardware{{Board: "", Revisions: []string{"1.0", "1.2"}}},
				Files:    []artifacts.File{{Name: "rootfs.ext4", Size: 1001}, {Name: "post.lua", Size: 8}},
			},
		},
		{
			name:  "newc unsigned block padded",
			input: MustSWU(t, archiveOpts{BlockAlign: true}, libconfigDesc, false, payload),
			want: &artifacts.Manifest{
				Version: "1.2.0", Description: "Firmware update",
				Hardware: []artifacts.Hardware{{Board: "", Revisions: []string{"1.0", "1.2"}}},
				Files:    []artifacts.File{{Name: "rootfs.ext4", Size: 1001}},
			},
		},
		{
			name:  "json description, sig not second",
			input: MustSWU(t, defaults(true), `{"software":{"version":"2.0.0-rc1","name":"demo"}}`, false, payload, member{Name: "sw-description.sig", Data: []byte("x")}),
			want: &artifacts.Manifest{
				Version: "2.0.0-rc1", Name: "demo",
				Files: []artifacts.File{{Name: "rootfs.ext4", Size: 1001}, {Name: "sw-description.sig", Size: 1}},
			},
		},
		{name: "empty", input: nil, wantErr: artifacts.ErrNotCPIO},
		{name: "not cpio", input: []byte(strings.Repeat("PK\x03\x04 zip file ", 20)), wantErr: artifacts.ErrNotCPIO},
		{name: "tar-ish", input: make([]byte, 1024), wantErr: artifacts.ErrNotCPIO},
		{name: "description not first", input: MustArchive(t, defaults(false), payload, member{Name: "sw-description", Data: []byte(libconfigDesc)}), wantErr: artifacts.ErrNoDescription},
		{name: "only trailer", input: MustArchive(t, defaults(false)), wantErr: artifacts.ErrNoDescription},
		{name: "bad crc in payload", input: MustSWU(t, archiveOpts{CRC: true, BadSum: payload.Name}, libconfigDesc, true, payload), wantErr: artifacts.ErrChecksum},
		{name: "bad crc in description", input: MustSWU(t, archiveOpts{CRC: true, BadSum: "sw-description"}, libconfigDesc, false), wantErr: artifacts.ErrChecksum},
		{name: "truncated in payload", input: good[:len(good)-700], wantErr: artifacts.ErrTruncated},
		{name: "truncated in header", input: good[:50], wantErr: artifacts.ErrNotCPIO},
		{name: "truncated in description", input: good[:200], wantErr: artifacts.ErrTruncated},
		{name: "no trailer", input: MustSWU(t, archiveOpts{NoTrailer: true}, libconfigDesc, false, payload), wantErr: artifacts.ErrTruncated},
		{name: "missing version", input: MustSWU(t, defaults(true), `software = { description = "x"; };`, false), wantErr: artifacts.ErrNoVersion},
		{name: "bad description", input: MustSWU(t, defaults(true), "software = { version = 1.0.0; };", false), wantErr: artifacts.ErrBadDescription},
		{name: "huge description claim", input: []byte("070701" + strings.Repeat("00000000", 6) + "7fffffff" + strings.Repeat("00000000", 4) + "0000000f" + "00000000" + "sw-description\x00\x00\x00\x00"), wantErr: artifacts.ErrBadDescription},
		{name: "huge name claim", input: []byte("070701" + strings.Repeat("00000000", 11) + "7fffffff" + "00000000"), wantErr: artifacts.ErrNotCPIO},
		{name: "bad hex in header", input: []byte("070701" + strings.Repeat("0000000g", 13)), wantErr: artifacts.ErrNotCPIO},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &countingReader{r: bytes.NewReader(tt.input)}
			got, err := artifacts.Inspect(r)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			if r.n != int64(len(tt.input)) {
				t.Errorf("consumed %d of %d bytes", r.n, len(tt.input))
			}
		})
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// TestInspectCPIOTool cross-checks the test archive writer's assumptions
// against GNU cpio's own output (.ci/run installs cpio).
func TestInspectCPIOTool(t *testing.T) {
	cpio, err := exec.LookPath("cpio")
	if err != nil {
		t.Fatal("cpio(1) is needed: apt-get install cpio")
	}
	for _, format := range []string{"newc", "crc"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			files := map[string][]byte{
				"sw-description":     []byte(libconfigDesc),
				"sw-description.sig": []byte("sig"),
				"rootfs.ext4":        bytes.Repeat([]byte{1, 2, 3}, 3333),
				"a":                  nil,
			}
			for name, data := range files {
				if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			cmd := exec.Command(cpio, "--quiet", "-o", "-H", format)
			cmd.Dir = dir
			cmd.Stdin = strings.NewReader("sw-description\nsw-description.sig\nrootfs.ext4\na\n")
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("cpio: %v", err)
			}
			m, err := artifacts.Inspect(bytes.NewReader(out))
			if err != nil {
				t.Fatal(err)
			}
			want := []artifacts.File{{Name: "rootfs.ext4", Size: 9999}, {Name: "a", Size: 0}}
			if !m.Signed || !reflect.DeepEqual(m.Files, want) || m.Version != "1.2.0" {
				t.Errorf("got %+v", m)
			}
			if format == "crc" {
				// Flip one payload byte: GNU cpio's checksum must catch it.
				i := bytes.Index(out, []byte{1, 2, 3, 1, 2, 3})
				out[i] ^= 0xff
				if _, err := artifacts.Inspect(bytes.NewReader(out)); !errors.Is(err, artifacts.ErrChecksum) {
					t.Errorf("corrupted: err = %v, want ErrChecksum", err)
				}
			}
		})
	}
}
