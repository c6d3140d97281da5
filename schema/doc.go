// Package schema is Gosling's domain: the types that describe devices,
// software, actions and rollouts, the error codes shared by every API, the
// rules that decide what a device should run, and the store interfaces that
// persistence packages (schema/sqlite, later schema/postgres) implement.
//
// Like the root package of WTF Dial, schema imports no storage or transport
// package; everything above the store talks in these types.
package schema
