package control

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/gosling-ota/gosling/artifacts"
	"github.com/gosling-ota/gosling/cache"
	"github.com/gosling-ota/gosling/schema"
)

// multipartSlack is what a multipart body may carry beyond the file itself:
// boundaries and part headers. The file's own limit is enforced by Ingest.
const multipartSlack = 1 << 20

// createSoftware adds software. The Content-Type picks the form:
// application/json registers a file hosted elsewhere; multipart/form-data
// streams the part named "file"; anything else is the raw .swu, named by
// ?filename=. Uploads are read once, straight into the artifact store.
func (s *Server) createSoftware(w http.ResponseWriter, r *http.Request, tenant string) error {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "application/json":
		return s.registerSoftware(w, r, tenant)
	case "multipart/form-data":
		return s.uploadMultipart(w, r, tenant)
	}
	return s.uploadRaw(w, r, tenant)
}

// uploadRaw ingests a request body that is the .swu itself.
func (s *Server) uploadRaw(w http.ResponseWriter, r *http.Request, tenant string) error {
	filename := r.URL.Query().Get("filename")
	if filename == "" {
		return schema.Errorf(schema.EINVALID, "missing ?filename= for a raw upload (or send multipart/form-data with a part named \"file\", or JSON to register a URL)")
	}
	if err := validFilename(filename); err != nil {
		return err
	}
	// A declared length over the limit is refused before reading a byte.
	if r.ContentLength > s.cfg.MaxUploadBytes {
		return s.tooLarge()
	}
	body := http.MaxBytesReader(w, r.Body, s.cfg.MaxUploadBytes)
	return s.ingest(w, r, tenant, filename, body)
}

// uploadMultipart ingests the part named "file" of a multipart/form-data
// body as it streams in: no ParseMultipartForm, so the file is neither
// buffered in memory nor spooled to a temporary file before the store
// writes it.
func (s *Server) uploadMultipart(w http.ResponseWriter, r *http.Request, tenant string) error {
	if r.ContentLength > s.cfg.MaxUploadBytes+multipartSlack {
		return s.tooLarge()
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxUploadBytes+multipartSlack)
	mr, err := r.MultipartReader()
	if err != nil {
		return schema.Errorf(schema.EINVALID, "multipart body: %v", err)
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return schema.Errorf(schema.EINVALID, "multipart body has no part named \"file\"")
		} else if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return s.tooLarge()
			}
			return schema.Errorf(schema.EINVALID, "multipart body: %v", err)
		}
		if part.FormName() != "file" {
			name := part.FormName()
			_ = part.Close()
			return schema.Errorf(schema.EINVALID, "multipart body: unknown part %q, want only \"file\"", name)
		}
		filename := r.URL.Query().Get("filename")
		if filename == "" {
			filename = part.FileName()
		}
		if filename == "" {
			return schema.Errorf(schema.EINVALID, "multipart part \"file\" has no filename; set one in its Content-Disposition or pass ?filename=")
		}
		if err := validFilename(filename); err != nil {
			return err
		}
		defer part.Close()
		return s.ingest(w, r, tenant, filename, part)
	}
}

// ingest stores one .swu and records it as software. On any failure after
// the blob was written, the blob is removed again unless it was there
// before or another request counts on it (see blobRefs), so a rejected
// upload leaves nothing on disk and nothing in the store.
func (s *Server) ingest(w http.ResponseWriter, r *http.Request, tenant, filename string, body io.Reader) error {
	ctx := r.Context()
	blob, man, err := s.ingestBlob(ctx, body)
	if err != nil {
		return s.ingestError(err)
	}
	// Released before the error answer is written (wrap writes it after
	// this returns), so a client told "rejected" finds nothing left behind.
	recorded := false
	defer func() { s.releaseBlob(ctx, blob, recorded) }()
	sw := &schema.Software{
		Tenant:      tenant,
		Name:        man.Name,
		Version:     man.Version,
		Description: man.Description,
		Hardware:    hardwareFromManifest(man.Hardware),
		Filename:    filename,
		Size:        blob.Size,
		SHA1:        blob.SHA1,
		MD5:         blob.MD5,
		SHA256:      blob.SHA256,
	}
	if sw.Version == "" {
		err = schema.Errorf(schema.EINVALID, "sw-description has no version")
	} else {
		err = s.store.CreateSoftware(ctx, sw)
	}
	if err != nil {
		return err // ECONFLICT (same version, overlapping hardware) says which software.
	}
	recorded = true
	s.publish(r, cache.KindCatalog, tenant, "")
	writeSoftware(w, http.StatusCreated, sw)
	return nil
}

// tooLarge is the answer for an upload over the limit.
func (s *Server) tooLarge() error {
	return schema.Errorf(schema.ETOOLARGE, "the upload is larger than the limit of %d bytes", s.cfg.MaxUploadBytes)
}

// ingestError explains why an upload is not an acceptable .swu. Format
// problems are the client's (400) and say exactly what is wrong; the
// artifact reader's own message follows for the details (line, member).
func (s *Server) ingestError(err error) error {
	var mbe *http.MaxBytesError
	detail := strings.TrimPrefix(err.Error(), "ingest: ")
	switch {
	case errors.Is(err, artifacts.ErrTooLarge), errors.As(err, &mbe):
		return s.tooLarge()
	case errors.Is(err, artifacts.ErrNotCPIO):
		return schema.Errorf(schema.EINVALID, "not a .swu: the file is not a cpio archive in newc format (magic 070701 or 070702) (%s)", detail)
	case errors.Is(err, artifacts.ErrNoDescription):
		return schema.Errorf(schema.EINVALID, "not a .swu: sw-description is missing or not the first member of the archive (%s)", detail)
	case errors.Is(err, artifacts.ErrBadDescription):
		return schema.Errorf(schema.EINVALID, "sw-description cannot be parsed (%s)", detail)
	case errors.Is(err, artifacts.ErrNoVersion):
		return schema.Errorf(schema.EINVALID, "sw-description has no version (%s)", detail)
	case errors.Is(err, artifacts.ErrTruncated):
		return schema.Errorf(schema.EINVALID, "the .swu is truncated: the archive ends before its trailer (%s)", detail)
	case errors.Is(err, artifacts.ErrChecksum):
		return schema.Errorf(schema.EINVALID, "the .swu is corrupt: a cpio member's checksum does not match (%s)", detail)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return schema.Errorf(schema.EINVALID, "the request body ended early")
	}
	if code := schema.ErrorCode(err); code != schema.EINTERNAL {
		return err
	}
	return fmt.Errorf("ingest upload: %w", err)
}

// hardwareFromManifest copies the manifest's hardware rules.
func hardwareFromManifest(hw []artifacts.Hardware) []schema.Hardware {
	out := make([]schema.Hardware, 0, len(hw))
	for _, h := range hw {
		out = append(out, schema.Hardware{Board: h.Board, Revisions: append([]string{}, h.Revisions...)})
	}
	return out
}

// softwareURLRequest registers software hosted elsewhere.
type softwareURLRequest struct {
	URL         string            `json:"url"`
	Name        string            `json:"name"`
	Version     string            `json:"version"`
	Description string            `json:"description"`
	Filename    string            `json:"filename"`
	Size        int64             `json:"size"`
	SHA1        string            `json:"sha1"`
	MD5         string            `json:"md5"`
	SHA256      string            `json:"sha256"`
	Hardware    []schema.Hardware `json:"hardware"`
}

var (
	sha1RE   = regexp.MustCompile(`^[0-9a-f]{40}$`)
	md5RE    = regexp.MustCompile(`^[0-9a-f]{32}$`)
	sha256RE = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// maxTextLen bounds names, versions and descriptions.
const maxTextLen = 256

// registerSoftware records a .swu that devices download from its own URL.
// Gosling never sees the bytes, so the caller vouches for size and hashes;
// sha1 is required because SWUpdate and rauc-hawkbit-updater verify only it.
func (s *Server) registerSoftware(w http.ResponseWriter, r *http.Request, tenant string) error {
	var req softwareURLRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	u, err := url.Parse(req.URL)
	if req.URL == "" {
		return schema.Errorf(schema.EINVALID, "url is required")
	} else if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return schema.Errorf(schema.EINVALID, "url %q: want an absolute http or https URL", req.URL)
	}
	if err := validVersion(req.Version); err != nil {
		return err
	}
	if err := validText("name", req.Name, maxTextLen); err != nil {
		return err
	}
	if err := validText("description", req.Description, 4096); err != nil {
		return err
	}
	if err := validFilename(req.Filename); err != nil {
		return err
	}
	if req.Size <= 0 {
		return schema.Errorf(schema.EINVALID, "size: want a positive number of bytes, got %d", req.Size)
	}
	req.SHA1, req.MD5, req.SHA256 = strings.ToLower(req.SHA1), strings.ToLower(req.MD5), strings.ToLower(req.SHA256)
	if !sha1RE.MatchString(req.SHA1) {
		return schema.Errorf(schema.EINVALID, "sha1: want 40 hex digits (SWUpdate verifies the download with it), got %q", req.SHA1)
	}
	if req.MD5 != "" && !md5RE.MatchString(req.MD5) {
		return schema.Errorf(schema.EINVALID, "md5: want 32 hex digits, got %q", req.MD5)
	}
	if req.SHA256 != "" && !sha256RE.MatchString(req.SHA256) {
		return schema.Errorf(schema.EINVALID, "sha256: want 64 hex digits, got %q", req.SHA256)
	}
	if err := validHardware(req.Hardware); err != nil {
		return err
	}
	if req.Hardware == nil {
		req.Hardware = []schema.Hardware{}
	}
	sw := &schema.Software{
		Tenant:      tenant,
		Name:        req.Name,
		Version:     req.Version,
		Description: req.Description,
		Hardware:    req.Hardware,
		Filename:    req.Filename,
		Size:        req.Size,
		SHA1:        req.SHA1,
		MD5:         req.MD5,
		SHA256:      req.SHA256,
		URL:         u.String(),
	}
	if err := s.store.CreateSoftware(r.Context(), sw); err != nil {
		return err
	}
	s.publish(r, cache.KindCatalog, tenant, "")
	writeSoftware(w, http.StatusCreated, sw)
	return nil
}

// validFilename accepts a plain file name ending in .swu: SWUpdate ignores
// artifacts with any other suffix, and the name becomes a URL path segment
// and a Content-Disposition value on the DDI side.
func validFilename(name string) error {
	if name == "" {
		return schema.Errorf(schema.EINVALID, "filename is required")
	}
	if len(name) > maxTextLen || name != path.Base(name) || strings.ContainsAny(name, "/\\\"") || name == ".swu" {
		return schema.Errorf(schema.EINVALID, "filename %q: want a plain file name (no path, no quotes, at most %d bytes)", name, maxTextLen)
	}
	for _, c := range name {
		if c < ' ' || c == 0x7f {
			return schema.Errorf(schema.EINVALID, "filename %q: control characters are not allowed", name)
		}
	}
	if !strings.HasSuffix(name, ".swu") {
		return schema.Errorf(schema.EINVALID, "filename %q: must end in .swu (SWUpdate ignores other artifacts)", name)
	}
	return nil
}

// validVersion requires a version without blanks: it is compared, shown and
// matched against what devices report as sw_version.
func validVersion(v string) error {
	if v == "" {
		return schema.Errorf(schema.EINVALID, "version is required")
	}
	if len(v) > maxTextLen || strings.ContainsFunc(v, func(c rune) bool { return c <= ' ' || c == 0x7f }) {
		return schema.Errorf(schema.EINVALID, "version %q: want at most %d characters without spaces or control characters", v, maxTextLen)
	}
	return nil
}

// validText bounds a free-text field.
func validText(field, v string, max int) error {
	if len(v) > max {
		return schema.Errorf(schema.EINVALID, "%s: at most %d bytes, got %d", field, max, len(v))
	}
	return nil
}

// validHardware checks hardware rules: every rule lists at least one
// revision (an empty list would match nothing), and "#RE:" revisions are
// regular expressions that compile.
func validHardware(hw []schema.Hardware) error {
	for i, h := range hw {
		if len(h.Revisions) == 0 {
			return schema.Errorf(schema.EINVALID, "hardware[%d]: revisions must not be empty", i)
		}
		for _, rev := range h.Revisions {
			if rev == "" {
				return schema.Errorf(schema.EINVALID, "hardware[%d]: empty revision", i)
			}
			if p, ok := strings.CutPrefix(rev, "#RE:"); ok {
				if _, err := regexp.Compile(p); err != nil {
					return schema.Errorf(schema.EINVALID, "hardware[%d]: revision %q: %v", i, rev, err)
				}
			}
		}
	}
	return nil
}

// writeSoftware answers one software, with lists never null.
func writeSoftware(w http.ResponseWriter, status int, sw *schema.Software) {
	if status == http.StatusCreated {
		w.Header().Set("Location", "/api/v1/software/"+strconv.FormatInt(sw.ID, 10)+"?tenant="+url.QueryEscape(sw.Tenant))
	}
	writeJSON(w, status, normalizeSoftware(sw))
}

func normalizeSoftware(sw *schema.Software) *schema.Software {
	if sw.Hardware == nil {
		sw.Hardware = []schema.Hardware{}
	}
	for i := range sw.Hardware {
		if sw.Hardware[i].Revisions == nil {
			sw.Hardware[i].Revisions = []string{}
		}
	}
	return sw
}

// listSoftware answers the tenant's software, newest first, paged.
func (s *Server) listSoftware(w http.ResponseWriter, r *http.Request, tenant string) error {
	p, err := parsePage(r)
	if err != nil {
		return err
	}
	all, err := s.store.SoftwareList(r.Context(), schema.SoftwareFilter{Tenant: tenant})
	if err != nil {
		return err
	}
	for _, sw := range all {
		normalizeSoftware(sw)
	}
	writeJSON(w, http.StatusOK, pageSlice(all, p))
	return nil
}

// getSoftware answers one software.
func (s *Server) getSoftware(w http.ResponseWriter, r *http.Request, tenant string) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	sw, err := s.store.Software(r.Context(), tenant, id)
	if err != nil {
		return err
	}
	writeSoftware(w, http.StatusOK, sw)
	return nil
}

// deleteSoftware removes a software record and, for uploads, its blob unless
// another record shares it. The store refuses (409) while a device, open
// action or rollout refers to the software.
func (s *Server) deleteSoftware(w http.ResponseWriter, r *http.Request, tenant string) error {
	ctx := r.Context()
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	sw, err := s.store.Software(ctx, tenant, id)
	if err != nil {
		return err
	}
	shared, err := s.store.DeleteSoftware(ctx, tenant, id)
	if err != nil {
		return err // ECONFLICT names what still refers to the software.
	}
	if sw.URL == "" && !shared {
		s.dropBlob(ctx, sw.SHA256)
	}
	s.publish(r, cache.KindCatalog, tenant, "")
	w.WriteHeader(http.StatusNoContent)
	return nil
}
