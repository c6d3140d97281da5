package artifacts

import (
	"bytes"
	"fmt"
	"io"
)

const (
	descriptionName = "sw-description"
	signatureName   = "sw-description.sig"

	// MaxDescriptionSize bounds sw-description. Real ones are a few KiB;
	// the bound keeps a hostile upload from making us buffer a huge member.
	MaxDescriptionSize = 1 << 20
)

// Manifest is what Gosling needs to know about a .swu image.
type Manifest struct {
	// Name and Description are software.name and software.description,
	// empty when absent.
	Name        string
	Description string
	// Version is software.version (see ParseDescription for fallbacks).
	Version string
	// Hardware lists the hardware-compatibility entries, at most one per
	// board; empty means the image declares no compatibility at all.
	Hardware []Hardware
	// Files are the archive members after sw-description and its
	// signature, in archive order. ParseDescription leaves it empty.
	Files []File
	// Signed reports that sw-description.sig is the second member, which
	// is where SWUpdate looks for the signature.
	Signed bool
}

// File is one payload member of a .swu archive.
type File struct {
	Name string
	Size int64
}

// Inspect reads a whole .swu stream and returns its manifest.
//
// The stream must be a cpio newc (070701) or newc-with-CRC (070702) archive
// whose first member is sw-description; 070702 checksums are verified for
// every member. On success r has been read to EOF, including any padding
// after the trailer, so a caller hashing r through a TeeReader sees every
// byte. On error reading stops where the error was found.
//
// Errors wrap ErrNotCPIO, ErrNoDescription, ErrBadDescription, ErrNoVersion,
// ErrTruncated or ErrChecksum; read errors from r are wrapped unchanged.
// Memory use is bounded by MaxDescriptionSize plus one entry per member.
func Inspect(r io.Reader) (*Manifest, error) {
	cr := newCPIOReader(r)
	first, err := cr.next()
	if err != nil {
		return nil, err
	}
	if first.name != descriptionName {
		return nil, fmt.Errorf("%w: first member is %q", ErrNoDescription, first.name)
	}
	if first.size > MaxDescriptionSize {
		return nil, fmt.Errorf("%w: sw-description is %d bytes, limit %d", ErrBadDescription, first.size, MaxDescriptionSize)
	}
	// Grow with the data actually read instead of trusting the header size:
	// a 20-byte stream claiming a 1 MiB member costs nothing.
	var desc bytes.Buffer
	if _, err := desc.ReadFrom(cr); err != nil {
		return nil, err
	}
	m, err := ParseDescription(desc.Bytes())
	if err != nil {
		return nil, err
	}
	for i := 1; ; i++ {
		mem, err := cr.next()
		if err != nil {
			return nil, err
		}
		if mem.name == trailerName {
			break
		}
		if i == 1 && mem.name == signatureName {
			m.Signed = true
			continue
		}
		m.Files = append(m.Files, File{Name: mem.name, Size: mem.size})
	}
	if err := cr.drain(); err != nil {
		return nil, err
	}
	return m, nil
}
