package control

import (
	"context"
	"io"
	"log/slog"
	"sync"

	"github.com/gosling-ota/gosling/artifacts"
	"github.com/gosling-ota/gosling/schema"
)

// blobRefs tracks which stored blobs requests still count on, so that
// removing a blob (after a failed upload or a deleted software) never pulls
// it from under a concurrent upload of the same content.
//
// Blob.Existed alone cannot decide: two concurrent uploads of one file both
// see it missing, both report Existed false, and the loser of the version
// check would remove the winner's blob. So a removal is only a request
// (pending); it runs when no Ingest is in flight and no request holds the
// blob between Ingest and its store write, and only if no software record
// still refers to the blob. Under constant concurrent uploads a removal
// waits for the next quiet moment; a blob is never removed while in use.
type blobRefs struct {
	mu        sync.Mutex
	ingesting int                 // Ingest calls in progress
	holds     map[string]int      // sha256 → requests between Ingest and their store write
	pending   map[string]struct{} // sha256 → removal asked for
}

// ingestBlob runs Blobs.Ingest and, on success, holds the blob until
// releaseBlob. The hold is taken in the same critical section that ends the
// in-flight count, so there is no moment where a fresh blob is unaccounted.
func (s *Server) ingestBlob(ctx context.Context, r io.Reader) (*artifacts.Blob, *artifacts.Manifest, error) {
	b := &s.blobRefs
	b.mu.Lock()
	b.ingesting++
	b.mu.Unlock()

	blob, man, err := s.blobs.Ingest(ctx, r, s.cfg.MaxUploadBytes)

	b.mu.Lock()
	defer b.mu.Unlock()
	b.ingesting--
	if err == nil {
		if b.holds == nil {
			b.holds = make(map[string]int)
		}
		b.holds[blob.SHA256]++
	}
	s.collectLocked(ctx)
	return blob, man, err
}

// releaseBlob ends the hold taken by ingestBlob. recorded says whether the
// request stored a software record for the blob; if not and the blob is
// new, its removal is asked for.
func (s *Server) releaseBlob(ctx context.Context, blob *artifacts.Blob, recorded bool) {
	b := &s.blobRefs
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.holds[blob.SHA256]--; b.holds[blob.SHA256] <= 0 {
		delete(b.holds, blob.SHA256)
	}
	if !recorded && !blob.Existed {
		b.requestLocked(blob.SHA256)
	}
	s.collectLocked(ctx)
}

// dropBlob asks for the removal of a blob whose last record was deleted.
func (s *Server) dropBlob(ctx context.Context, sha256 string) {
	b := &s.blobRefs
	b.mu.Lock()
	defer b.mu.Unlock()
	b.requestLocked(sha256)
	s.collectLocked(ctx)
}

func (b *blobRefs) requestLocked(sha256 string) {
	if b.pending == nil {
		b.pending = make(map[string]struct{})
	}
	b.pending[sha256] = struct{}{}
}

// collectLocked removes the pending blobs that nothing counts on any more;
// blobRefs.mu must be held. It runs on the request's goroutine, so a failed
// upload has left nothing behind by the time it is answered (unless another
// upload is still running).
func (s *Server) collectLocked(ctx context.Context) {
	b := &s.blobRefs
	if b.ingesting > 0 || len(b.pending) == 0 {
		return
	}
	// The answer may already be on its way; the client leaving must not
	// stop the clean-up half-way.
	ctx = context.WithoutCancel(ctx)
	for sha := range b.pending {
		if b.holds[sha] > 0 {
			continue // its holder asks again when it lets go
		}
		delete(b.pending, sha)
		used, err := s.blobReferenced(ctx, sha)
		if err != nil {
			// Keeping an orphan wastes space; removing a used blob breaks
			// devices. Keep it.
			s.logger.ErrorContext(ctx, "check blob references failed; blob kept", slog.String("sha256", sha), slog.Any("err", err))
			continue
		}
		if used {
			continue
		}
		if err := s.blobs.Remove(sha); err != nil {
			s.logger.ErrorContext(ctx, "remove blob failed", slog.String("sha256", sha), slog.Any("err", err))
		}
	}
}

// blobReferenced reports whether an uploaded software of any configured
// tenant refers to the blob. Blobs are shared across tenants, and the
// store has no lookup by hash, so this lists each tenant's software; it
// runs only on the rare paths that remove blobs.
func (s *Server) blobReferenced(ctx context.Context, sha256 string) (bool, error) {
	for _, t := range s.cfg.Tenants {
		list, err := s.store.SoftwareList(ctx, schema.SoftwareFilter{Tenant: t})
		if err != nil {
			return false, err
		}
		for _, sw := range list {
			if sw.SHA256 == sha256 && sw.URL == "" {
				return true, nil
			}
		}
	}
	return false, nil
}
