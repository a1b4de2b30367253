// Package call runs Parley's voice calls: signalling through the directory,
// one pion PeerConnection per call, and the media session on top of it.
//
// A Phone is one logged-in user's endpoint: it routes the directory's
// signalling to its calls, places outgoing calls (Dial) and offers incoming
// ones (Incoming). Each Call is an actor: a single goroutine owns its
// PeerConnection and state, and pion's callbacks, the directory's messages
// and the user's commands only post events to it.
//
// Signalling (kinds of directory.Signal, payloads JSON):
//
//	caller                         callee
//	offer {sdp}          ──────▶   (rings)
//	                     ◀──────   ringing
//	                     ◀──────   answer {sdp}      or reject / busy
//	candidate {…}        ◀─────▶   candidate {…}     (trickled ICE, RFC 8838)
//	hangup               ◀─────▶   hangup            (either side, any time)
//
// When a connected call's path fails, the caller restarts ICE: a new offer
// (with fresh ICE credentials) under the same call ID, answered like the
// first; the call ends "peer-lost" if no path is back within 10 s. A peer's
// DTLS close is taken as its hang-up, so a call ends cleanly even when the
// directory has gone.
package call
