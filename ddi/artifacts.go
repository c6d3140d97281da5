package ddi

import (
	"context"
	"errors"
	"io/fs"
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/gosling-ota/gosling/artifacts"
	"github.com/gosling-ota/gosling/schema"
)

// moduleSoftware returns the software with id moduleID if the device may
// download it: the software of its open action, of its last closed action,
// or the one it installed last. Anything else is 404, so a device cannot
// enumerate the tenant's images.
func (s *Server) moduleSoftware(req request, moduleID int64) (*schema.Software, error) {
	if a := req.e.action(); a != nil && a.SoftwareID == moduleID {
		return req.e.ext.sw, nil
	}
	var sw *schema.Software
	err := s.withTimeout(func(ctx context.Context) error {
		e := req.e
		allowed := e.prof.Value().installedID == moduleID
		if !allowed && e.lastActionID != 0 {
			a, err := s.store.Action(ctx, req.ts.name, e.id(), e.lastActionID)
			if err != nil && schema.ErrorCode(err) != schema.ENOTFOUND {
				return err
			}
			allowed = err == nil && a.SoftwareID == moduleID
		}
		if !allowed {
			return schema.Errorf(schema.ENOTFOUND, "software module %d is not assigned to this device", moduleID)
		}
		var err error
		sw, err = s.software(ctx, req.ts, moduleID)
		return err
	})
	return sw, err
}

// handleArtifactList is GET …/softwaremodules/{moduleId}/artifacts.
func (s *Server) handleArtifactList(ctx *fasthttp.RequestCtx) {
	req, sw, base, ok := s.module(ctx)
	if !ok {
		return
	}
	s.writeJSON(ctx, []artifactJSON{artifactOf(base, req.e.path(), sw)})
}

// handleDownload is GET/HEAD …/softwaremodules/{moduleId}/artifacts/{filename}
// and its .MD5SUM. Downloads create no status rows, whatever the number of
// Range requests (hawkBit's rauc streaming trouble).
func (s *Server) handleDownload(ctx *fasthttp.RequestCtx) {
	_, sw, _, ok := s.module(ctx)
	if !ok {
		return
	}
	name := param(ctx, pFilename)
	if name == sw.Filename {
		s.serveBlob(ctx, sw)
		return
	}
	if base, ok := trimSuffixFold(name, ".MD5SUM"); ok && base == sw.Filename {
		// md5sum(1) format, as hawkBit serves it.
		ctx.SetStatusCode(fasthttp.StatusOK)
		ctx.SetContentType("text/plain; charset=utf-8")
		ctx.Response.Header.Set(fasthttp.HeaderContentDisposition, `attachment;filename="`+sanitizeFilename(name)+`"`)
		body := sw.MD5 + "  " + sw.Filename
		if ctx.IsHead() {
			ctx.Response.ResetBody()
			ctx.Response.Header.SetContentLength(len(body))
			ctx.Response.SkipBody = true
			return
		}
		ctx.SetBodyString(body)
		return
	}
	s.notFound(ctx, "no artifact "+strconv.Quote(name)+" in software module "+strconv.FormatInt(sw.ID, 10))
}

// module authenticates and resolves the requested software module.
func (s *Server) module(ctx *fasthttp.RequestCtx) (request, *schema.Software, string, bool) {
	req, ok := s.authenticate(ctx)
	if !ok {
		return request{}, nil, "", false
	}
	base, ok := s.baseString(ctx)
	if !ok {
		s.badRequest(ctx, "a valid Host header is required")
		return request{}, nil, "", false
	}
	id, ok := idParam(ctx, pModule)
	if !ok {
		s.notFound(ctx, "unknown software module")
		return request{}, nil, "", false
	}
	sw, err := s.moduleSoftware(req, id)
	if err != nil {
		s.writeError(ctx, err)
		return request{}, nil, "", false
	}
	return req, sw, base, true
}

// serveBlob sends the stored file with Range/ETag/HEAD support.
func (s *Server) serveBlob(ctx *fasthttp.RequestCtx, sw *schema.Software) {
	f, err := s.blobs.Open(sw.SHA256)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, artifacts.ErrInvalidHash) {
		// Software registered by URL has no local copy; its download
		// links point elsewhere.
		s.notFound(ctx, "artifact "+strconv.Quote(sw.Filename)+" is not stored here")
		return
	}
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		s.writeError(ctx, err)
		return
	}
	// ServeFile owns f from here on and closes it.
	artifacts.ServeFile(ctx, f, artifacts.FileInfo{
		Size:        fi.Size(),
		ModTime:     fi.ModTime(),
		ETag:        sw.SHA256,
		Filename:    sw.Filename,
		ContentType: "application/octet-stream",
	})
}

// sanitizeFilename keeps a filename safe inside a quoted header value.
func sanitizeFilename(name string) string {
	out := make([]byte, 0, len(name))
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c < 0x20 || c == 0x7f || c == '"' || c == '\\' {
			c = '_'
		}
		out = append(out, c)
	}
	return string(out)
}
