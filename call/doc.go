// Package call runs Parley's voice calls: signalling through the directory,
// one pion PeerConnection per call, and the media session on top of it.
//
// A Phone is one logged-in user's endpoint: it routes the directory's
// signalling to its calls, places outgoing calls (Dial) and offers incoming
// ones (Incoming). Each Call is an actor: a single goroutine owns its
// PeerConnection and state, and pion's callbacks, the directory's messages
// and the user's commands only post events to it. A call goes dialing →
// ringing → connecting → active → ended (State); every change is an Event.
//
// Signalling (kinds of directory.Signal, payloads JSON; docs/protocol.md §11):
//
//	caller                                  callee (every device)
//	offer {sdp, leg, key, sig}    ──────▶   (rings)
//	                              ◀──────   ringing {leg}
//	                              ◀──────   answer {sdp, leg, key, sig}   or reject / busy {leg}
//	accept {leg}                  ──────▶   (the other devices stop: answered-elsewhere)
//	candidate {…, leg}            ◀─────▶   candidate {…, leg}            (trickled ICE, RFC 8838)
//	hangup {leg}                  ◀─────▶   hangup {leg}                  (either side, any time)
//
// Offers and answers are signed with the sender's identity key and checked
// against the key pinned for the peer (Pins), so a directory cannot swap
// the DTLS fingerprint unseen; both sides show a short authentication
// string (SAS) derived from the two fingerprints. The caller ends a ringing
// call refused only when none of the callee's devices rings any more. Two
// users calling each other at once keep the call with the smaller ID.
//
// Once connected, a control DataChannel carries hold, mute and the hang-up
// peer to peer, so a call outlives its directory and still ends cleanly.
// When a connected call's path fails, the offerer restarts ICE: a new offer
// (with fresh ICE credentials) under the same call ID, answered like the
// first; the call ends "peer-lost" if no path is back within 5 s, or at
// once if the directory says the peer is offline. A peer's DTLS close is
// taken as its hang-up.
package call
