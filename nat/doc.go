// Package nat is Parley's NAT traversal: the ICE configuration a call uses
// (STUN and TURN servers, relay-only policy, candidate and timing choices)
// and the supernode, a STUN/TURN relay (pion/turn) with TURN REST
// credentials (TURNCredentials), a deny list for peers on private networks,
// per-user quotas and Prometheus metrics.
//
// The network-namespace NAT lab the tests prove paths with is natlab.
// Relay selection and NAT probing join this package later; the call
// package only ever sees an ICEConfig.
package nat
