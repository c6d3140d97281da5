// Package testenv runs Gosling's end-to-end tests against real processes: a
// `gosling serve` built from this module, Debian's swupdate client as the
// device, .swu images built and signed on the fly, and a loopback HTTP proxy
// that can break a download half-way.
//
// Everything a helper starts is stopped, and everything it creates is
// removed, by tb.Cleanup; helpers named MustX, and all others that take a
// testing.TB, fail the test instead of returning an error. Test binaries that
// use BuildGosling or Signer call Run from TestMain so that the directory
// shared by the whole binary (the gosling executable, the signing key) is
// removed at exit:
//
//	func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }
//
// The observed behaviour of the swupdate client these helpers drive is
// described in /work/shared/ddi/SWUPDATE.md.
package testenv
