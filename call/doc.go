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
package call
