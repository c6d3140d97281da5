package artifacts

import "errors"

// Errors returned by Inspect and ParseDescription. They are wrapped with
// details (offsets, line numbers, member names), so test with errors.Is.
var (
	// ErrNotCPIO means the stream is not a cpio "newc" (070701) or
	// "newc with CRC" (070702) archive, or a header in it is malformed.
	ErrNotCPIO = errors.New("not a cpio newc archive")
	// ErrNoDescription means the first archive member is not sw-description.
	ErrNoDescription = errors.New("sw-description is not the first member")
	// ErrBadDescription means sw-description cannot be parsed or lacks the
	// software section; the wrapping error names the line and the problem.
	ErrBadDescription = errors.New("invalid sw-description")
	// ErrNoVersion means sw-description has no software version.
	ErrNoVersion = errors.New("sw-description has no version")
	// ErrTruncated means the stream ended inside a member or before the
	// TRAILER!!! member.
	ErrTruncated = errors.New("truncated cpio archive")
	// ErrChecksum means a 070702 member's data does not add up to the
	// checksum in its header.
	ErrChecksum = errors.New("cpio checksum mismatch")
)

// Errors returned by Store.
var (
	// ErrTooLarge means an ingested stream exceeded the size limit.
	ErrTooLarge = errors.New("artifact too large")
	// ErrInvalidHash means a sha256 argument is not 64 hexadecimal digits.
	ErrInvalidHash = errors.New("invalid sha256 hex digest")
)

// Errors returned by ParseRange.
var (
	// ErrUnsatisfiable means a syntactically valid Range header selects no
	// byte of the representation; answer 416 with "Content-Range: bytes */size".
	ErrUnsatisfiable = errors.New("range not satisfiable")
	// ErrInvalidRange means the Range header is malformed or uses another
	// unit; RFC 9110 says to ignore such a header and send the whole file.
	ErrInvalidRange = errors.New("invalid range header")
	// ErrTooManyRanges means the header asks for more than MaxRanges ranges.
	ErrTooManyRanges = errors.New("too many ranges")
)
