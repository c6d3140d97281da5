package ddi

// Test-only access to internals, for the external ddi_test package.

// ParseFeedback exposes parseFeedback to the lenient-parsing tests.
var ParseFeedback = parseFeedback

// ParseConfigData exposes parseConfigData.
var ParseConfigData = parseConfigData

// WaitCache waits until buffered cache writes are applied, so a test can
// rely on the next poll being a hit. The device cache applies writes
// synchronously, so there is nothing to wait for; it stays for the tests
// written against a buffered cache.
func (s *Server) WaitCache() {}
