// Package cache keeps DDI frontlines' answers fresh: the invalidation bus on
// which the control plane (and frontlines themselves) announce writes, and the
// caches that listen to it.
//
// On the embedded default the bus is in-process (LocalBus); the production
// topology carries the same Invalidation messages over Redis pub/sub
// (RedisBus), and puts a shared Redis cache (Store, the L2) between each
// frontline's in-memory L1 and the database.
//
// # Order of a write
//
// A writer commits to the database through Store, which deletes the
// affected Redis entries before returning; then it publishes on the Bus,
// and each frontline drops its L1 entries and reloads them from Redis or
// the database. Reversing the two steps would let a frontline refill its
// L1 from an L2 entry that is about to be deleted.
//
// # Staleness
//
// Typically a write is visible everywhere after one pub/sub hop. Pub/sub
// loses messages while a subscriber is disconnected; RedisBus then tells
// its subscribers to drop everything (KindAll) once it has resubscribed.
// If invalidations are lost outright (Redis unreachable from the writer
// while the frontlines can still read it), entries expire: the worst case
// is Store's TTL (default 60 s) plus the frontline's L1 TTL.
package cache
