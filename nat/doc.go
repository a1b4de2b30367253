// Package nat is Parley's NAT traversal: the ICE configuration a call uses
// (STUN and TURN servers, relay-only policy, candidate and timing choices)
// and the supernode, a STUN/TURN relay (pion/turn) with TURN REST
// credentials (TURNCredentials), a deny list for peers on private networks,
// per-user and total quotas and Prometheus metrics.
//
// Relay selection: a RelaySource keeps the relays the directory hands out
// fresh, ranks them by measured round trip, and leaves out for a while one
// that lost a call's path (ICEConfig.PathLost). Probe reports how the
// local NAT maps addresses. The call package only ever sees an ICEConfig.
//
// The network-namespace NAT lab the tests prove paths with is natlab.
package nat
