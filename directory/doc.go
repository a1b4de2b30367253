// Package directory is Parley's presence and signalling service and its Go
// client.
//
// A Server authenticates users by their Ed25519 keys (the first key to claim
// a username owns it), answers lookups, pushes presence changes to the
// sessions that looked a user up, and relays call signalling (offer, answer,
// candidate, ringing, accept, reject, busy, hangup) between online users. It
// speaks versioned JSON frames over a WebSocket at /v1/ws, specified in
// docs/protocol.md. Its state lives in NATS (see NATS): accounts in a
// JetStream key-value bucket, presence and signalling on subjects, so that
// several Servers on one NATS cluster serve one user base; by default an
// embedded NATS server runs inside the process.
//
// A Client (Dial) logs in, looks users up, sends signals and receives
// signals and presence updates on channels. It does not reconnect on its
// own: when Done is closed, Err says why, and the caller may Dial again.
//
// One session per user: a newer login of the same user takes the session
// over, and the older connection is closed with status 4001 (ErrReplaced).
package directory
