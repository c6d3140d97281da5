// Package control is Gosling's control plane HTTP surface: the admin API that
// operators and tooling use to upload software, provision and steer devices,
// follow their actions and run rollouts.
//
// The API is JSON over net/http, versioned under /api/v1, and described by a
// hand-written OpenAPI 3.1 document served at /api/v1/openapi.json. Every
// endpoint except that document and /healthz requires
// "Authorization: Bearer <admin token>". Each endpoint takes an optional
// ?tenant=NAME query parameter; it defaults to the first configured tenant.
//
// Writes go to the store first and are then announced on the cache bus, so
// DDI frontlines drop what they cached about the changed device, catalog or
// tenant.
package control
