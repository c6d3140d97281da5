package artifacts_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gosling-ota/gosling/artifacts"
)

// MustOpenStore opens a store in a fresh temp dir.
func MustOpenStore(tb testing.TB) (*artifacts.Store, string) {
	tb.Helper()
	dir := tb.TempDir()
	s, err := artifacts.OpenStore(dir)
	if err != nil {
		tb.Fatal(err)
	}
	return s, dir
}

// storedFiles lists every regular file under dir.
func storedFiles(tb testing.TB, dir string) []string {
	tb.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			out = append(out, p)
		}
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func TestStoreIngest(t *testing.T) {
	swu := MustSWU(t, archiveOpts{CRC: true, BlockAlign: true}, libconfigDesc, true,
		member{Name: "rootfs.ext4", Data: bytes.Repeat([]byte("gosling"), 50000)})
	s, dir := MustOpenStore(t)

	blob, m, err := s.Ingest(context.Background(), bytes.NewReader(swu), int64(len(swu)))
	if err != nil {
		t.Fatal(err)
	}
	sum256, sum1, sum5 := sha256.Sum256(swu), sha1.Sum(swu), md5.Sum(swu)
	want := artifacts.Blob{
		SHA256: hex.EncodeToString(sum256[:]), SHA1: hex.EncodeToString(sum1[:]),
		MD5: hex.EncodeToString(sum5[:]), Size: int64(len(swu)),
	}
	if *blob != want {
		t.Errorf("blob = %+v, want %+v", *blob, want)
	}
	if m.Version != "1.2.0" || !m.Signed || len(m.Files) != 1 {
		t.Errorf("manifest = %+v", m)
	}
	wantPath := filepath.Join(dir, "sha256", want.SHA256[:2], want.SHA256)
	if p := s.Path(strings.ToUpper(want.SHA256)); p != wantPath {
		t.Errorf("Path = %q, want %q", p, wantPath)
	}
	f, err := s.Open(want.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(f)
	f.Close()
	if !bytes.Equal(got, swu) {
		t.Error("stored bytes differ from upload")
	}

	// Same content again: kept once, reported as existing.
	blob2, _, err := s.Ingest(context.Background(), bytes.NewReader(swu), 0)
	if err != nil {
		t.Fatal(err)
	}
	if !blob2.Existed || blob2.SHA256 != want.SHA256 {
		t.Errorf("second ingest = %+v", blob2)
	}
	if files := storedFiles(t, dir); len(files) != 1 {
		t.Errorf("files after duplicate ingest: %v", files)
	}

	if err := s.Remove(want.SHA256); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(want.SHA256); err != nil {
		t.Errorf("second Remove: %v", err)
	}
	if _, err := s.Open(want.SHA256); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open after Remove: %v", err)
	}
}

func TestStoreIngestFailuresLeaveNothing(t *testing.T) {
	swu := MustSWU(t, defaults(true), libconfigDesc, false, member{Name: "p", Data: bytes.Repeat([]byte{7}, 100000)})
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		input   io.Reader
		max     int64
		wantErr error
	}{
		{"too large", context.Background(), bytes.NewReader(swu), int64(len(swu)) - 1, artifacts.ErrTooLarge},
		{"canceled", canceled, bytes.NewReader(swu), 0, context.Canceled},
		{"not cpio", context.Background(), strings.NewReader(strings.Repeat("x", 5000)), 0, artifacts.ErrNotCPIO},
		{"truncated", context.Background(), bytes.NewReader(swu[:len(swu)/2]), 0, artifacts.ErrTruncated},
		{"read error", context.Background(), io.MultiReader(bytes.NewReader(swu[:5000]), errReader{}), 0, errBoom},
		{"bad crc", context.Background(), bytes.NewReader(MustSWU(t, archiveOpts{CRC: true, BadSum: "p"}, libconfigDesc, false, member{Name: "p", Data: []byte("x")})), 0, artifacts.ErrChecksum},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, dir := MustOpenStore(t)
			blob, m, err := s.Ingest(tt.ctx, tt.input, tt.max)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if blob != nil || m != nil {
				t.Errorf("got blob %v manifest %v with error", blob, m)
			}
			if files := storedFiles(t, dir); len(files) != 0 {
				t.Errorf("left on disk: %v", files)
			}
		})
	}
}

var errBoom = errors.New("boom")

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errBoom }

func TestStoreRejectsBadHashes(t *testing.T) {
	s, _ := MustOpenStore(t)
	for _, h := range []string{"", "../../etc/passwd", strings.Repeat("a", 63), strings.Repeat("g", 64), strings.Repeat("a", 62) + "/.", strings.Repeat("a", 65)} {
		if p := s.Path(h); p != "" {
			t.Errorf("Path(%q) = %q", h, p)
		}
		if _, err := s.Open(h); !errors.Is(err, artifacts.ErrInvalidHash) {
			t.Errorf("Open(%q) err = %v", h, err)
		}
		if err := s.Remove(h); !errors.Is(err, artifacts.ErrInvalidHash) {
			t.Errorf("Remove(%q) err = %v", h, err)
		}
	}
}

func TestOpenStoreRemovesStaleTemps(t *testing.T) {
	_, dir := MustOpenStore(t)
	stale := filepath.Join(dir, "tmp", "ingest-stale")
	fresh := filepath.Join(dir, "tmp", "ingest-fresh")
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := mustTime(t, "2020-01-01T00:00:00Z")
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := artifacts.OpenStore(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale temp survived: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("fresh temp removed: %v", err)
	}
}
