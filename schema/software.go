package schema

import (
	"context"
	"time"
)

// Hardware is one hardware-compatibility rule of a software: the revisions it
// accepts on a board ("" = any board). It mirrors artifacts.Hardware.
type Hardware struct {
	Board     string   `json:"board,omitempty"`
	Revisions []string `json:"revisions"`
}

// Software is one installable image: an uploaded .swu stored by content hash,
// or a file hosted elsewhere and registered by URL.
type Software struct {
	ID          int64      `json:"id"`
	Tenant      string     `json:"tenant"`
	Name        string     `json:"name,omitempty"`
	Version     string     `json:"version"`
	Description string     `json:"description,omitempty"`
	Hardware    []Hardware `json:"hardware"`
	Filename    string     `json:"filename"`
	Size        int64      `json:"size"`
	SHA1        string     `json:"sha1"`
	MD5         string     `json:"md5"`
	SHA256      string     `json:"sha256"`
	// URL is set for software hosted elsewhere; devices download from it.
	URL       string    `json:"url,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// SoftwareFilter selects software. Zero fields match everything.
type SoftwareFilter struct {
	Tenant string
	Offset int
	Limit  int // 0 means no limit
}

// SoftwareStore keeps software records (not their bytes: see artifacts.Store).
type SoftwareStore interface {
	// Software returns one software. Returns ENOTFOUND.
	Software(ctx context.Context, tenant string, id int64) (*Software, error)
	// SoftwareList returns software matching f, newest first by creation.
	SoftwareList(ctx context.Context, f SoftwareFilter) ([]*Software, error)
	// CreateSoftware inserts s and sets its ID and CreatedAt.
	// Returns ECONFLICT if the tenant already has the same version for
	// overlapping hardware (see HardwareOverlaps).
	CreateSoftware(ctx context.Context, s *Software) error
	// DeleteSoftware removes a software record and reports whether another
	// record still uses the same SHA256 (so the caller keeps the blob).
	// Returns ECONFLICT while a device, open action or rollout refers to it,
	// ENOTFOUND if it does not exist.
	DeleteSoftware(ctx context.Context, tenant string, id int64) (blobShared bool, err error)
}

// PrepareCreate checks software about to be created and fills in what
// CreateSoftware promises: a nil Hardware becomes an empty list. Returns
// EINVALID without a tenant or version. Whether the version clashes with
// another (HardwareOverlaps) is the store's to check, in the transaction
// that inserts.
func (s *Software) PrepareCreate() error {
	if s.Tenant == "" || s.Version == "" {
		return Errorf(EINVALID, "software tenant and version are required")
	}
	if s.Hardware == nil {
		s.Hardware = []Hardware{}
	}
	return nil
}
