// Package bench is the harness behind `make bench`: it measures Gosling on
// this machine against yardsticks run in the same session and prints one
// table (and writes JSON). Every number is a measurement of real processes
// over loopback: `gosling serve`, `gosling control` and `gosling ddi` built
// from this module, throwaway Postgres and Redis (pgtest, redistest), the
// constant-answer baseline server (`gosling loadgen --baseline-listen`),
// nginx with sendfile, and the fleet simulator (loadtest.Run) as the client.
//
// Scenarios, each bounded in time and count:
//
//   - gobench: `go test -bench BenchmarkPoll -benchmem ./ddi/` (ns and
//     allocations per hit-path poll);
//   - poll: on `gosling serve` (SQLite, tofu TargetTokens): memory per
//     device while registering and polling N devices, saturation poll
//     throughput against the baseline server, p50/p99 latency at 50 % and
//     80 % of that saturation rate, and a perf profile of the saturated
//     server;
//   - topology: Postgres + Redis + `gosling control` + two `gosling ddi`:
//     invalidation latency (admin write → both frontlines answer with it),
//     rollout start on N devices (time and database statements from
//     pg_stat_statements, split into per-device and the rest), install
//     cycles (loadgen rollout wave: poll, action creation, deploymentBase,
//     proceeding, closed; feedback events per second);
//   - feedback: the same topology, N devices with an open action, then
//     closed loops (c=64 and c=128) POSTing SWUpdate-style proceeding
//     feedback to both frontlines: acknowledged (durable) feedback events
//     per second, p50/p99, and the feedback rows counted in Postgres;
//   - download: a 512 MiB .swu served by Gosling and by nginx (sendfile)
//     to 16 concurrent clients, whole and in 1 MiB ranges.
//
// The numbers are ratios against yardsticks wherever there is one, because
// the load generator shares the machine's cores with the server.
package bench
