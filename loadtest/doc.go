// Package loadtest simulates a fleet of hawkBit DDI devices against a
// Gosling (or any DDI) server and measures what it sees.
//
// One Run drives up to millions of virtual devices from a fixed pool of
// workers. A device is only an index: its controller id is the configured
// prefix followed by the index, its TargetToken is derived from the id
// (TokenFor), whether its installs fail is a hash of the seed and the
// index, and its next poll time lives in a min-heap of 8-byte entries (or,
// in the open model, in nothing at all: arrivals walk the fleet round
// robin). Each visit of a device behaves like SWUpdate's suricatta: poll,
// PUT configData when asked, follow deploymentBase (feedback proceeding,
// optional download, closed success or failure) or cancelAction.
//
// Every worker owns its statistics (counts, errors by kind, log-linear
// latency histograms); they are merged into a Report when Run ends. Run
// always ends by itself: after Config.Duration, after Config.MaxRequests
// requests, or, with Config.RegisterOnly, after one visit per device.
//
// Targets must be loopback addresses unless Config.AllowRemote is set.
// The k6/ directory holds equivalent scripts for k6; baseline/ holds the
// constant-answer server that poll throughput is compared against.
package loadtest
