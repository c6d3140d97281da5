// Package control is Gosling's control plane: the admin API that operators
// and tooling use to upload software, provision and steer devices, follow
// their actions and run rollouts, and the rollout engine that moves staged
// rollouts through their waves (see engine.go for its rules).
//
// The API is JSON over net/http, versioned under /api/v1, and described by a
// hand-written OpenAPI 3.1 document served at /api/v1/openapi.json. Every
// endpoint except that document, /healthz and /metrics requires
// "Authorization: Bearer <admin token>". Each endpoint takes an optional
// ?tenant=NAME query parameter; it defaults to the first configured tenant.
//
// Writes go to the store first and are then announced on the cache bus, so
// DDI frontlines drop what they cached about the changed device, catalog or
// tenant. The same bus feeds the Server-Sent Events streams (an action's
// live log, a rollout's events), which also re-read the store periodically
// because the bus may lose messages.
//
// Lifecycle: New builds the server (and registers its metrics on
// Config.Registerer); Handler serves the API; Run runs the rollout engine
// until its context ends. Run exactly one engine per deployment: the
// `gosling control` process (a single process, not replicas) or
// `gosling serve`.
package control
