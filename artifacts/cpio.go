package artifacts

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// The cpio "newc" format: a 110-byte ASCII header (6-byte magic and thirteen
// 8-digit hex fields), the NUL-terminated name, padding to a multiple of 4,
// the data, padding to a multiple of 4. The archive ends with a member named
// TRAILER!!!; writers usually pad the file to a 512-byte block after it.
const (
	magicNewc   = "070701"
	magicCRC    = "070702"
	headerSize  = 110
	trailerName = "TRAILER!!!"

	// maxNameSize bounds the name we buffer per member (PATH_MAX on Linux);
	// SWUpdate itself only accepts short names.
	maxNameSize = 4096
)

// cpioMember is the part of a member header Inspect needs.
type cpioMember struct {
	name string
	size int64
}

// cpioReader walks a newc archive as a stream. It never seeks and never
// allocates according to a size field: data is only read, checksummed and
// handed on (Read) or discarded (next).
type cpioReader struct {
	r   *bufio.Reader
	off int64 // bytes consumed from r, used for alignment and error messages

	hdr     [headerSize]byte
	nameBuf [maxNameSize]byte

	// open is true from a member's header until its data, checksum and
	// padding have been consumed.
	open bool

	// State of the current member's data.
	remaining int64
	crc       bool
	check     uint32
	sum       uint32
	name      string
}

func newCPIOReader(r io.Reader) *cpioReader {
	return &cpioReader{r: bufio.NewReaderSize(r, 64<<10)}
}

// readFull reads exactly len(b) bytes, turning a premature end of stream
// into ErrTruncated and keeping other read errors (a canceled context, a
// size limit) visible to errors.Is.
func (c *cpioReader) readFull(b []byte) error {
	n, err := io.ReadFull(c.r, b)
	c.off += int64(n)
	if err == nil {
		return nil
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: stream ends at offset %d", ErrTruncated, c.off)
	}
	return fmt.Errorf("read cpio at offset %d: %w", c.off, err)
}

// skipPadding consumes the zero bytes that align the stream to 4 bytes.
func (c *cpioReader) skipPadding() error {
	var pad [3]byte
	n := (4 - c.off%4) % 4
	return c.readFull(pad[:n])
}

// next finishes the current member (draining and verifying its data) and
// reads the next header and name. It returns the trailer like any member;
// callers stop there.
func (c *cpioReader) next() (cpioMember, error) {
	if c.open {
		if _, err := io.Copy(io.Discard, c); err != nil {
			return cpioMember{}, err
		}
	}
	start := c.off
	if err := c.readFull(c.hdr[:]); err != nil {
		if start == 0 && errors.Is(err, ErrTruncated) {
			// An empty or tiny stream is not an archive at all.
			return cpioMember{}, fmt.Errorf("%w: %d bytes", ErrNotCPIO, c.off)
		}
		return cpioMember{}, err
	}
	magic := string(c.hdr[:6])
	if magic != magicNewc && magic != magicCRC {
		return cpioMember{}, fmt.Errorf("%w: bad magic %q at offset %d", ErrNotCPIO, c.hdr[:6], start)
	}
	// Field order after the magic: ino mode uid gid nlink mtime filesize
	// devmajor devminor rdevmajor rdevminor namesize check.
	var fields [13]uint32
	for i := range fields {
		v, ok := parseHex8(c.hdr[6+8*i : 14+8*i])
		if !ok {
			return cpioMember{}, fmt.Errorf("%w: bad header field %d at offset %d", ErrNotCPIO, i, start)
		}
		fields[i] = v
	}
	size, nameSize, check := int64(fields[6]), fields[11], fields[12]
	if nameSize == 0 || nameSize > maxNameSize {
		return cpioMember{}, fmt.Errorf("%w: name size %d at offset %d", ErrNotCPIO, nameSize, start)
	}
	name := c.nameBuf[:nameSize]
	if err := c.readFull(name); err != nil {
		return cpioMember{}, err
	}
	if name[nameSize-1] != 0 {
		return cpioMember{}, fmt.Errorf("%w: name not NUL-terminated at offset %d", ErrNotCPIO, start)
	}
	if err := c.skipPadding(); err != nil {
		return cpioMember{}, err
	}
	c.name = string(name[:nameSize-1])
	c.remaining = size
	c.crc = magic == magicCRC
	c.check = check
	c.sum = 0
	c.open = true
	if size == 0 {
		if err := c.endMember(); err != nil {
			return cpioMember{}, err
		}
	}
	return cpioMember{name: c.name, size: size}, nil
}

// Read reads the current member's data and returns io.EOF at its end, after
// the checksum has been verified.
func (c *cpioReader) Read(p []byte) (int, error) {
	if c.remaining == 0 {
		if c.open {
			if err := c.endMember(); err != nil {
				return 0, err
			}
		}
		return 0, io.EOF
	}
	if int64(len(p)) > c.remaining {
		p = p[:c.remaining]
	}
	n, err := c.r.Read(p)
	c.off += int64(n)
	c.remaining -= int64(n)
	if c.crc {
		for _, b := range p[:n] {
			c.sum += uint32(b)
		}
	}
	if c.remaining == 0 {
		if err := c.endMember(); err != nil {
			return n, err
		}
		return n, nil
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			return n, fmt.Errorf("%w: member %q ends at offset %d", ErrTruncated, c.name, c.off)
		}
		return n, fmt.Errorf("read cpio member %q: %w", c.name, err)
	}
	return n, nil
}

// endMember verifies the checksum and skips the data padding once.
func (c *cpioReader) endMember() error {
	c.open = false
	if c.crc && c.sum != c.check {
		return fmt.Errorf("%w: member %q: header %08x, data %08x", ErrChecksum, c.name, c.check, c.sum)
	}
	return c.skipPadding()
}

// drain consumes whatever follows the trailer (block padding) so that a
// caller hashing the stream through a TeeReader sees every byte.
func (c *cpioReader) drain() error {
	n, err := io.Copy(io.Discard, c.r)
	c.off += n
	if err != nil {
		return fmt.Errorf("read after cpio trailer: %w", err)
	}
	return nil
}

// parseHex8 parses exactly eight hexadecimal digits; strconv would accept
// signs and prefixes that are not valid in a cpio header.
func parseHex8(b []byte) (uint32, bool) {
	var v uint32
	for _, ch := range b {
		var d byte
		switch {
		case '0' <= ch && ch <= '9':
			d = ch - '0'
		case 'a' <= ch && ch <= 'f':
			d = ch - 'a' + 10
		case 'A' <= ch && ch <= 'F':
			d = ch - 'A' + 10
		default:
			return 0, false
		}
		v = v<<4 | uint32(d)
	}
	return v, true
}
