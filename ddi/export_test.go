package ddi

// Test-only access to internals, for the external ddi_test package.

// ParseFeedback exposes parseFeedback to the lenient-parsing tests.
var ParseFeedback = parseFeedback

// ParseConfigData exposes parseConfigData.
var ParseConfigData = parseConfigData

// WaitCache waits until ristretto's buffered writes are applied, so a test
// can rely on the next poll being a hit.
func (s *Server) WaitCache() { s.devices.wait() }
