package artifacts

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Store keeps artifacts on local disk, addressed by content:
// <dir>/sha256/<first two hex digits>/<sha256>. Files are written once and
// never modified, so readers need no locking and any number of processes
// may serve from the same directory. In-progress uploads live in <dir>/tmp
// (same file system, so the final rename is atomic).
type Store struct {
	dir string
}

// Blob describes a stored artifact. Digests are lowercase hex.
type Blob struct {
	SHA256 string
	SHA1   string
	MD5    string
	Size   int64
	// Existed reports that the content was already stored; the upload
	// was discarded and the existing file kept.
	Existed bool
}

const (
	blobDirName = "sha256"
	tmpDirName  = "tmp"

	// staleTempAge is how old a temp file must be before OpenStore deletes
	// it as the leftover of a crashed upload; younger ones may belong to a
	// running upload in another process sharing the directory.
	staleTempAge = 24 * time.Hour

	// blobPerm lets a co-located web server (the nginx CDN-origin example)
	// in the same group read blobs while keeping them private otherwise.
	blobPerm = 0o640
	dirPerm  = 0o750
)

// OpenStore opens (creating if needed) a store rooted at dir and removes
// temp files older than a day left behind by crashed uploads.
func OpenStore(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open store %q: %w", dir, err)
	}
	s := &Store{dir: abs}
	for _, d := range []string{filepath.Join(abs, blobDirName), s.tmpDir()} {
		if err := os.MkdirAll(d, dirPerm); err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
	}
	entries, err := os.ReadDir(s.tmpDir())
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > staleTempAge {
			_ = os.Remove(filepath.Join(s.tmpDir(), e.Name())) // best effort
		}
	}
	return s, nil
}

func (s *Store) tmpDir() string { return filepath.Join(s.dir, tmpDirName) }

// Path returns where the blob with this sha256 lives (whether or not it
// exists), or "" if sha256 is not 64 hex digits. Upper-case digits are
// accepted and normalized.
func (s *Store) Path(sha256 string) string {
	h, ok := normalizeSHA256(sha256)
	if !ok {
		return ""
	}
	return filepath.Join(s.dir, blobDirName, h[:2], h)
}

// Open opens a stored blob for reading. Errors wrap ErrInvalidHash or
// fs.ErrNotExist.
func (s *Store) Open(sha256 string) (*os.File, error) {
	p := s.Path(sha256)
	if p == "" {
		return nil, fmt.Errorf("open blob %q: %w", sha256, ErrInvalidHash)
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("open blob: %w", err)
	}
	return f, nil
}

// Remove deletes a stored blob. Removing a blob that does not exist is not
// an error, so garbage collection can be retried. Readers that already
// opened the blob keep reading it (POSIX unlink semantics).
func (s *Store) Remove(sha256 string) error {
	p := s.Path(sha256)
	if p == "" {
		return fmt.Errorf("remove blob %q: %w", sha256, ErrInvalidHash)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove blob: %w", err)
	}
	return nil
}

// Ingest stores an uploaded .swu in one pass over r: the bytes are written
// to a temp file, hashed (sha256, sha1, md5) and parsed by Inspect as they
// stream by, so the upload is neither buffered in memory nor read twice.
//
// maxSize bounds the upload (<= 0 means no bound). On any error — Inspect
// rejecting the image, more than maxSize bytes (ErrTooLarge), ctx done, a
// read or disk error — the temp file is removed and nothing is left in the
// store. On success the file is renamed into place; if that content is
// already stored, the temp file is dropped and Blob.Existed is true.
//
// ctx is checked between reads; a read blocked on a slow client is only
// interrupted by the connection's own deadline.
func (s *Store) Ingest(ctx context.Context, r io.Reader, maxSize int64) (blob *Blob, m *Manifest, err error) {
	tmp, err := os.CreateTemp(s.tmpDir(), "ingest-*")
	if err != nil {
		return nil, nil, fmt.Errorf("ingest: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()

	src := &ingestReader{ctx: ctx, r: r, max: maxSize}
	h256, h1, h5 := sha256.New(), sha1.New(), md5.New()
	// Everything Inspect reads passes through the tee into the file and the
	// hashes; Inspect reads to EOF, and the drain below catches anything it
	// might leave, so the digests always cover the whole upload.
	tee := io.TeeReader(src, io.MultiWriter(tmp, h256, h1, h5))
	m, err = Inspect(tee)
	if err == nil {
		_, err = io.Copy(io.Discard, tee)
	}
	if err != nil {
		// Report the reader's own failure (limit, cancellation) in
		// preference to the truncation Inspect saw as a consequence.
		if src.err != nil {
			return nil, nil, src.err
		}
		return nil, nil, fmt.Errorf("ingest: %w", err)
	}
	if err = tmp.Sync(); err != nil {
		return nil, nil, fmt.Errorf("ingest: %w", err)
	}
	if err = tmp.Close(); err != nil {
		return nil, nil, fmt.Errorf("ingest: %w", err)
	}
	blob = &Blob{
		SHA256: hexSum(h256),
		SHA1:   hexSum(h1),
		MD5:    hexSum(h5),
		Size:   src.n,
	}
	final := s.Path(blob.SHA256)
	if _, statErr := os.Stat(final); statErr == nil {
		blob.Existed = true
		_ = os.Remove(tmp.Name())
		return blob, m, nil
	}
	if err = os.Chmod(tmp.Name(), blobPerm); err != nil {
		return nil, nil, fmt.Errorf("ingest: %w", err)
	}
	if err = os.MkdirAll(filepath.Dir(final), dirPerm); err != nil {
		return nil, nil, fmt.Errorf("ingest: %w", err)
	}
	// Two concurrent uploads of the same content may both get here; the
	// second rename replaces identical bytes, which readers cannot notice.
	if err = os.Rename(tmp.Name(), final); err != nil {
		return nil, nil, fmt.Errorf("ingest: %w", err)
	}
	return blob, m, nil
}

func hexSum(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

// ingestReader enforces the size limit and the context, and remembers
// which of them stopped the upload.
type ingestReader struct {
	ctx context.Context
	r   io.Reader
	max int64
	n   int64
	err error
}

func (r *ingestReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if err := r.ctx.Err(); err != nil {
		r.err = fmt.Errorf("ingest: %w", err)
		return 0, r.err
	}
	if r.max > 0 {
		// Allow one byte past the limit so that a stream of exactly max
		// bytes succeeds and max+1 is detected.
		if left := r.max + 1 - r.n; int64(len(p)) > left {
			p = p[:left]
		}
	}
	n, err := r.r.Read(p)
	r.n += int64(n)
	if r.max > 0 && r.n > r.max {
		r.err = fmt.Errorf("ingest: %w: more than %d bytes", ErrTooLarge, r.max)
		return 0, r.err
	}
	if err != nil && !errors.Is(err, io.EOF) {
		r.err = fmt.Errorf("ingest: read upload: %w", err)
		return n, r.err
	}
	return n, err
}

// normalizeSHA256 validates a hex digest and lowercases it. Accepting only
// [0-9a-f]{64} is also what keeps "../" and separators out of blob paths.
func normalizeSHA256(h string) (string, bool) {
	if len(h) != 64 {
		return "", false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return "", false
		}
	}
	return strings.ToLower(h), true
}
