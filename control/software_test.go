package control_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gosling-ota/gosling/cache"
	"github.com/gosling-ota/gosling/control"
	"github.com/gosling-ota/gosling/schema"
)

func hexOf(sum []byte) string { return hex.EncodeToString(sum) }

func TestUploadSoftware(t *testing.T) {
	swu := mustSWU(t, "1.2.0", 1000, "1.0", "1.1")
	s1, s5, s256 := sha1.Sum(swu), md5.Sum(swu), sha256.Sum256(swu)
	tests := []struct {
		name   string
		upload func(e *env) response
	}{
		{"raw", func(e *env) response { return e.uploadRaw(t, "filename=image-1.2.0.swu", swu) }},
		{"multipart", func(e *env) response { return e.uploadMultipart(t, "", "image-1.2.0.swu", swu) }},
		{"multipart filename override", func(e *env) response {
			return e.uploadMultipart(t, "filename=image-1.2.0.swu", "upload.bin", swu)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			res := tt.upload(e)
			res.wantStatus(t, http.StatusCreated)
			var sw schema.Software
			res.decode(t, &sw)
			want := schema.Software{
				ID: sw.ID, Tenant: tenantA, Version: "1.2.0", Description: "test image",
				Hardware: []schema.Hardware{{Revisions: []string{"1.0", "1.1"}}},
				Filename: "image-1.2.0.swu", Size: int64(len(swu)),
				SHA1: hexOf(s1[:]), MD5: hexOf(s5[:]), SHA256: hexOf(s256[:]), CreatedAt: sw.CreatedAt,
			}
			if sw.ID <= 0 || sw.CreatedAt.IsZero() {
				t.Fatalf("id %d created_at %v: want both set", sw.ID, sw.CreatedAt)
			}
			if !equalSoftware(&sw, &want) {
				t.Fatalf("software\n got %+v\nwant %+v", sw, want)
			}
			if loc := res.header.Get("Location"); !strings.HasPrefix(loc, "/api/v1/software/") {
				t.Errorf("Location %q", loc)
			}
			files := e.blobFiles(t)
			if len(files) != 1 || !strings.HasSuffix(files[0], sw.SHA256) {
				t.Fatalf("artifact dir holds %v, want the one blob %s", files, sw.SHA256)
			}
			e.wantInvalidations(t, cache.Invalidation{Kind: cache.KindCatalog, Tenant: tenantA})

			// The stored record reads back the same through the API.
			var got schema.Software
			e.request(t, "GET", "/api/v1/software/"+itoa(sw.ID), "", nil).decode(t, &got)
			if !equalSoftware(&got, &want) {
				t.Fatalf("GET software\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

// equalSoftware compares two software by their JSON form, which is what
// clients see.
func equalSoftware(a, b *schema.Software) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// TestUploadRejected checks that every kind of bad upload is refused with a
// message that says what is wrong, and leaves nothing in the store or on
// disk.
func TestUploadRejected(t *testing.T) {
	good := mustSWU(t, "1.0", 4000, "1.0")
	descNotFirst := mustCPIO(t, false,
		member{Name: "rootfs.img", Data: []byte("payload")},
		member{Name: "sw-description", Data: []byte(swDescription("1.0"))})
	badSyntax := mustCPIO(t, false, member{Name: "sw-description", Data: []byte("software = { version = ; };")})
	noVersion := mustCPIO(t, false, member{Name: "sw-description", Data: []byte(swDescription(""))})
	big := mustSWU(t, "9.9", 64<<10)
	corrupt := bytes.Clone(good)
	corrupt[bytes.Index(corrupt, []byte("1.0.1.0."))] ^= 0xff // payload byte; its 070702 checksum no longer adds up

	tests := []struct {
		name   string
		send   func(e *env) response
		status int
		code   string
		msg    string
	}{
		{"not cpio", func(e *env) response {
			return e.uploadRaw(t, "filename=x.swu", bytes.Repeat([]byte("this is not an archive "), 50))
		}, 400, schema.EINVALID, "not a cpio archive"},
		{"not cpio multipart", func(e *env) response {
			return e.uploadMultipart(t, "", "x.swu", []byte("PK\x03\x04 a zip file"))
		}, 400, schema.EINVALID, "not a cpio archive"},
		{"empty body", func(e *env) response { return e.uploadRaw(t, "filename=x.swu", nil) }, 400, schema.EINVALID, ""},
		{"sw-description not first", func(e *env) response { return e.uploadRaw(t, "filename=x.swu", descNotFirst) },
			400, schema.EINVALID, "sw-description is missing or not the first member"},
		{"sw-description bad syntax", func(e *env) response { return e.uploadRaw(t, "filename=x.swu", badSyntax) },
			400, schema.EINVALID, "sw-description cannot be parsed"},
		{"no version", func(e *env) response { return e.uploadMultipart(t, "", "x.swu", noVersion) },
			400, schema.EINVALID, "sw-description has no version"},
		{"truncated", func(e *env) response { return e.uploadRaw(t, "filename=x.swu", good[:len(good)/2]) },
			400, schema.EINVALID, "truncated"},
		{"bad checksum", func(e *env) response { return e.uploadRaw(t, "filename=x.swu", corrupt) },
			400, schema.EINVALID, "checksum does not match"},
		{"raw without filename", func(e *env) response { return e.uploadRaw(t, "", good) },
			400, schema.EINVALID, "missing ?filename="},
		{"filename not .swu", func(e *env) response { return e.uploadRaw(t, "filename=image.bin", good) },
			400, schema.EINVALID, "must end in .swu"},
		{"filename with path", func(e *env) response { return e.uploadRaw(t, "filename=../x.swu", good) },
			400, schema.EINVALID, "plain file name"},
		{"multipart without file part", func(e *env) response {
			body := "--B\r\nContent-Disposition: form-data; name=\"version\"\r\n\r\n1.0\r\n--B--\r\n"
			return e.request(t, "POST", "/api/v1/software", "multipart/form-data; boundary=B", strings.NewReader(body))
		}, 400, schema.EINVALID, `unknown part "version"`},
		{"multipart empty", func(e *env) response {
			return e.request(t, "POST", "/api/v1/software", "multipart/form-data; boundary=B", strings.NewReader("--B--\r\n"))
		}, 400, schema.EINVALID, `no part named "file"`},
		{"oversized raw with length", func(e *env) response { return e.uploadRaw(t, "filename=x.swu", big) },
			413, schema.ETOOLARGE, "limit of 32768 bytes"},
		{"oversized raw chunked", func(e *env) response {
			// io.MultiReader hides the length, so the body is sent chunked
			// and the limit is found while streaming.
			return e.request(t, "POST", "/api/v1/software?filename=x.swu", "application/octet-stream", io.MultiReader(bytes.NewReader(big)))
		}, 413, schema.ETOOLARGE, "limit of 32768 bytes"},
		{"oversized multipart", func(e *env) response { return e.uploadMultipart(t, "", "x.swu", big) },
			413, schema.ETOOLARGE, "limit of 32768 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(c *control.Config) { c.MaxUploadBytes = 32 << 10 })
			tt.send(e).wantError(t, tt.status, tt.code, tt.msg)
			e.wantNoSoftware(t)
			e.wantInvalidations(t)
		})
	}
}

// TestUploadConflict checks 409 for a version that exists for overlapping
// hardware, and that the refused upload removes its blob but never the blob
// of the existing software.
func TestUploadConflict(t *testing.T) {
	tests := []struct {
		name   string
		first  []byte
		second []byte
		status int
	}{
		{"same file", mustSWU(t, "2.0", 500, "1.0"), mustSWU(t, "2.0", 500, "1.0"), 409},
		{"other file, overlapping revision", mustSWU(t, "2.0", 500, "1.0", "1.1"), mustSWU(t, "2.0", 700, "1.1"), 409},
		{"other file, no hardware rules", mustSWU(t, "2.0", 500, "1.0"), mustSWU(t, "2.0", 700), 409},
		{"other file, disjoint revisions", mustSWU(t, "2.0", 500, "1.0"), mustSWU(t, "2.0", 700, "2.0"), 201},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			first := e.mustUpload(t, "", "a.swu", tt.first)
			res := e.uploadRaw(t, "filename=b.swu", tt.second)
			if tt.status == 409 {
				res.wantError(t, 409, schema.ECONFLICT, "already exists")
			} else {
				res.wantStatus(t, tt.status)
			}
			list, _ := e.db.SoftwareList(context.Background(), schema.SoftwareFilter{Tenant: tenantA})
			files := e.blobFiles(t)
			wantRecords, wantFiles := 1, 1
			if tt.status == 201 {
				wantRecords, wantFiles = 2, 2
			}
			if len(list) != wantRecords || len(files) != wantFiles {
				t.Fatalf("%d records and files %v, want %d records and %d files", len(list), files, wantRecords, wantFiles)
			}
			if !slices.ContainsFunc(files, func(f string) bool { return strings.HasSuffix(f, first.SHA256) }) {
				t.Fatalf("the first software's blob is gone: %v", files)
			}
		})
	}
}

func TestRegisterSoftwareURL(t *testing.T) {
	sha1hex := strings.Repeat("ab", 20)
	valid := func() map[string]any {
		return map[string]any{
			"url": "https://cdn.example.com/fw/image-3.0.swu", "version": "3.0", "filename": "image-3.0.swu",
			"size": 1234, "sha1": sha1hex, "hardware": []map[string]any{{"board": "rpi4", "revisions": []string{"1.0"}}},
		}
	}
	e := newEnv(t)
	res := e.json(t, "POST", "/api/v1/software", valid())
	res.wantStatus(t, http.StatusCreated)
	var sw schema.Software
	res.decode(t, &sw)
	if sw.URL != "https://cdn.example.com/fw/image-3.0.swu" || sw.SHA1 != sha1hex || sw.Size != 1234 ||
		len(sw.Hardware) != 1 || sw.Hardware[0].Board != "rpi4" {
		t.Fatalf("registered %+v", sw)
	}
	e.wantInvalidations(t, cache.Invalidation{Kind: cache.KindCatalog, Tenant: tenantA})
	if files := e.blobFiles(t); len(files) != 0 {
		t.Fatalf("URL software wrote files %v", files)
	}

	tests := []struct {
		name   string
		mutate func(m map[string]any)
		msg    string
	}{
		{"relative url", func(m map[string]any) { m["url"] = "/fw/image.swu" }, "absolute http or https URL"},
		{"ftp url", func(m map[string]any) { m["url"] = "ftp://example.com/image.swu" }, "absolute http or https URL"},
		{"no url", func(m map[string]any) { delete(m, "url") }, "url is required"},
		{"no version", func(m map[string]any) { delete(m, "version") }, "version is required"},
		{"filename not swu", func(m map[string]any) { m["filename"] = "image.tar" }, "must end in .swu"},
		{"zero size", func(m map[string]any) { m["size"] = 0 }, "size: want a positive number"},
		{"no sha1", func(m map[string]any) { delete(m, "sha1") }, "sha1: want 40 hex digits"},
		{"short sha1", func(m map[string]any) { m["sha1"] = "abc" }, "sha1: want 40 hex digits"},
		{"bad md5", func(m map[string]any) { m["md5"] = "xyz" }, "md5: want 32 hex digits"},
		{"bad sha256", func(m map[string]any) { m["sha256"] = sha1hex }, "sha256: want 64 hex digits"},
		{"empty revisions", func(m map[string]any) { m["hardware"] = []map[string]any{{"board": "x", "revisions": []string{}}} }, "revisions must not be empty"},
		{"bad regexp", func(m map[string]any) { m["hardware"] = []map[string]any{{"revisions": []string{"#RE:("}}} }, "#RE:("},
		{"unknown field", func(m map[string]any) { m["signed"] = true }, `unknown field "signed"`},
		{"wrong type", func(m map[string]any) { m["size"] = "1234" }, `field "size"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := valid()
			m["version"] = "4.0" // never a conflict with the one above
			tt.mutate(m)
			e.json(t, "POST", "/api/v1/software", m).wantError(t, 400, schema.EINVALID, tt.msg)
		})
	}
	e.wantInvalidations(t)
}

func TestSoftwareListGetDelete(t *testing.T) {
	e := newEnv(t)
	a := e.mustUpload(t, "", "a.swu", mustSWU(t, "1.0", 300))
	b := e.mustUpload(t, "", "b.swu", mustSWU(t, "2.0", 300))
	// The same content in another tenant shares the blob.
	shared := e.mustUpload(t, "tenant="+tenantB, "b.swu", mustSWU(t, "2.0", 300))
	if shared.SHA256 != b.SHA256 || shared.Tenant != tenantB {
		t.Fatalf("tenant %s software %+v", tenantB, shared)
	}
	e.bus.take()

	var list struct {
		Items                []schema.Software
		Total, Offset, Limit int
	}
	e.request(t, "GET", "/api/v1/software", "", nil).decode(t, &list)
	if list.Total != 2 || len(list.Items) != 2 || list.Items[0].ID != b.ID || list.Items[1].ID != a.ID || list.Limit != 100 {
		t.Fatalf("list %+v, want b then a", list)
	}
	e.request(t, "GET", "/api/v1/software?offset=1&limit=1", "", nil).decode(t, &list)
	if list.Total != 2 || len(list.Items) != 1 || list.Items[0].ID != a.ID || list.Offset != 1 || list.Limit != 1 {
		t.Fatalf("page %+v, want a alone", list)
	}
	e.request(t, "GET", "/api/v1/software?limit=0", "", nil).wantError(t, 400, schema.EINVALID, "limit")
	e.request(t, "GET", "/api/v1/software/abc", "", nil).wantError(t, 400, schema.EINVALID, "positive integer")
	e.request(t, "GET", "/api/v1/software/999", "", nil).wantError(t, 404, schema.ENOTFOUND, "")
	// Tenants do not see each other's software.
	e.request(t, "GET", "/api/v1/software/"+itoa(shared.ID), "", nil).wantError(t, 404, schema.ENOTFOUND, "")

	// Deleting b keeps the blob the other tenant still uses.
	e.request(t, "DELETE", "/api/v1/software/"+itoa(b.ID), "", nil).wantStatus(t, 204)
	e.wantInvalidations(t, cache.Invalidation{Kind: cache.KindCatalog, Tenant: tenantA})
	if !hasBlob(e.blobFiles(t), b.SHA256) {
		t.Fatal("shared blob removed")
	}
	e.request(t, "DELETE", "/api/v1/software/"+itoa(shared.ID)+"?tenant="+tenantB, "", nil).wantStatus(t, 204)
	e.wantInvalidations(t, cache.Invalidation{Kind: cache.KindCatalog, Tenant: tenantB})
	if hasBlob(e.blobFiles(t), b.SHA256) {
		t.Fatal("blob kept after its last software was deleted")
	}
	e.request(t, "DELETE", "/api/v1/software/"+itoa(b.ID), "", nil).wantError(t, 404, schema.ENOTFOUND, "")
	e.request(t, "DELETE", "/api/v1/software/"+itoa(a.ID), "", nil).wantStatus(t, 204)
	e.wantNoSoftware(t)
}

// TestDeleteSoftwareInUse checks 409 while a rollout or an assigned device
// refers to the software, and that the blob stays until the delete works.
func TestDeleteSoftwareInUse(t *testing.T) {
	e := newEnv(t)
	sw := e.mustUpload(t, "", "a.swu", mustSWU(t, "1.0", 300))

	var ro schema.Rollout
	e.json(t, "POST", "/api/v1/rollouts", map[string]any{"name": "r", "software_id": sw.ID}).decode(t, &ro)
	e.request(t, "DELETE", "/api/v1/software/"+itoa(sw.ID), "", nil).wantError(t, 409, schema.ECONFLICT, "rollout")
	e.request(t, "DELETE", "/api/v1/rollouts/"+itoa(ro.ID), "", nil).wantStatus(t, 204)

	e.json(t, "POST", "/api/v1/devices", map[string]any{"id": "dev-1", "update_mode": "assigned", "software_id": sw.ID}).wantStatus(t, 201)
	e.bus.take()
	e.request(t, "DELETE", "/api/v1/software/"+itoa(sw.ID), "", nil).wantError(t, 409, schema.ECONFLICT, "dev-1")
	e.wantInvalidations(t)
	if !hasBlob(e.blobFiles(t), sw.SHA256) {
		t.Fatal("blob removed by a refused delete")
	}
	// Leaving update_mode assigned releases the software.
	e.json(t, "PATCH", "/api/v1/devices/dev-1", map[string]any{"update_mode": "latest"}).wantStatus(t, 200)
	e.request(t, "DELETE", "/api/v1/software/"+itoa(sw.ID), "", nil).wantStatus(t, 204)
	e.wantNoSoftware(t)
}

func hasBlob(files []string, sha string) bool {
	return slices.ContainsFunc(files, func(f string) bool { return strings.HasSuffix(f, sha) })
}
