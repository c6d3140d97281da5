// Package artifacts reads, stores and serves SWUpdate update images (.swu).
//
// It covers four concerns that only depend on each other through plain values:
//
//   - Inspect and ParseDescription read a .swu stream (a cpio archive whose
//     first member is sw-description, in libconfig or JSON syntax) into a
//     Manifest: version, hardware compatibility and the payload members.
//   - CompareVersions orders versions the way SWUpdate does, with SemVer and
//     plain text as fallbacks.
//   - Store keeps blobs on local disk, addressed by their sha256, and ingests
//     an upload in one pass: hashing, parsing and writing the same bytes.
//   - ServeFile answers GET and HEAD for a stored blob on fasthttp with the
//     HTTP semantics download clients rely on (ranges, validators, exact
//     Content-Length).
//
// The package imports no other Gosling package, so the store, the DDI
// frontline and the control plane can all depend on it.
package artifacts
