// Package nat is Parley's NAT traversal: the ICE configuration a call uses
// (STUN and TURN servers, relay-only policy, candidate and timing choices).
//
// The supernode relay, relay selection, NAT probing and the network-namespace
// NAT lab (natlab) join this package with the supernode issue; the call
// package only ever sees an ICEConfig.
package nat
