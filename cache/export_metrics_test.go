package cache

// Test-only access to the bus wire format.

// DecodeInvalidation exposes decodeInvalidation.
var DecodeInvalidation = decodeInvalidation
