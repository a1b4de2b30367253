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
// The Server also keeps a registry of relays, in NATS too: operator
// supernodes register over HTTP (SupernodeRegistrar), users' volunteer
// relays through their session (Client.RegisterRelay); a client asks for
// its ICE servers (Client.ICEServers) and gets up to three, least loaded
// first, with TURN REST credentials for each.
//
// A Client (Dial) logs in, looks users up, manages contacts and status,
// sends signals and receives signals, presence and contact updates on
// channels. With ClientConfig.Reconnect it logs in again on its own, with
// jittered exponential backoff, after the connection is lost or the
// directory shuts down, keeping its channels.
//
// One session per user: a newer login of the same user takes the session
// over, and the older connection is closed with status 4001 (ErrReplaced).
// Control sessions (ClientConfig.Control), which tools use to manage
// contacts and status, sit beside it without taking it over.
package directory
