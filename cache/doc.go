// Package cache keeps DDI frontlines' answers fresh: the invalidation bus on
// which the control plane (and frontlines themselves) announce writes, and the
// caches that listen to it.
//
// On the embedded default the bus is in-process (LocalBus); the production
// topology carries the same Invalidation messages over Redis pub/sub.
package cache
