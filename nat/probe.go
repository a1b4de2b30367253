package nat

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/pion/stun/v3"
)

// Mapping is how a NAT maps one local UDP port to public addresses
// (RFC 4787 §4.1).
type Mapping string

// The mapping behaviours a probe can tell apart.
const (
	// MappingNone: the public address is the local one (no NAT).
	MappingNone Mapping = "no-nat"
	// MappingEndpointIndependent: one public address for every
	// destination, so peers can reach each other directly.
	MappingEndpointIndependent Mapping = "endpoint-independent"
	// MappingEndpointDependent: a new public address per destination (a
	// symmetric NAT): calls to peers behind another such NAT need a relay.
	MappingEndpointDependent Mapping = "endpoint-dependent"
	// MappingUnknown: fewer than two STUN servers answered.
	MappingUnknown Mapping = "unknown"
)

// ProbeConfig says what to probe. Probe only reports; deciding what to do
// about it is the caller's business.
type ProbeConfig struct {
	// STUNServers are host:port STUN servers; two on different addresses
	// tell the mapping behaviour.
	STUNServers []string
	// TCPServers are host:port TURN servers whose TCP port is tried.
	TCPServers []string
	Timeout    time.Duration // per server; 0 → 2 s
}

// Report is what a probe found.
type Report struct {
	// Mapped holds the public address each STUN server saw, in the order
	// of ProbeConfig.STUNServers; invalid where a server did not answer.
	Mapped []netip.AddrPort
	// UDP reports whether any STUN server answered over UDP.
	UDP     bool
	Mapping Mapping
	// TCP holds, per TCP server, whether a connection could be made.
	TCP []bool
}

// Probe sends STUN binding requests to every server from one local UDP
// socket and compares the public addresses they saw, then tries each TCP
// server.
func Probe(ctx context.Context, cfg ProbeConfig) (Report, error) {
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	conn, err := net.ListenPacket("udp4", ":0")
	if err != nil {
		return Report{}, fmt.Errorf("nat: probe: %w", err)
	}
	defer conn.Close()
	r := Report{Mapping: MappingUnknown}
	for _, server := range cfg.STUNServers {
		mapped, err := bindingRequest(ctx, conn, server, cfg.Timeout)
		if err != nil {
			mapped = netip.AddrPort{}
		}
		r.Mapped = append(r.Mapped, mapped)
	}
	r.UDP, r.Mapping = classify(r.Mapped, localAddrs())
	for _, server := range cfg.TCPServers {
		d := net.Dialer{Timeout: cfg.Timeout}
		c, err := d.DialContext(ctx, "tcp", server)
		if err == nil {
			c.Close()
		}
		r.TCP = append(r.TCP, err == nil)
	}
	return r, ctx.Err()
}

// classify tells the mapping behaviour from the addresses STUN servers saw
// for one local socket.
func classify(mapped []netip.AddrPort, local map[netip.Addr]bool) (udp bool, m Mapping) {
	var seen []netip.AddrPort
	for _, a := range mapped {
		if a.IsValid() {
			seen = append(seen, a)
		}
	}
	switch {
	case len(seen) == 0:
		return false, MappingUnknown
	case local[seen[0].Addr()]:
		return true, MappingNone
	case len(seen) == 1:
		return true, MappingUnknown
	}
	for _, a := range seen[1:] {
		if a != seen[0] {
			return true, MappingEndpointDependent
		}
	}
	return true, MappingEndpointIndependent
}

func localAddrs() map[netip.Addr]bool {
	out := make(map[netip.Addr]bool)
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out[p.Addr().Unmap()] = true
		}
	}
	return out
}

var errNoMappedAddress = errors.New("no XOR-MAPPED-ADDRESS in the STUN response")

// bindingRequest asks server for conn's public address (RFC 8489 §6),
// retransmitting a few times within timeout.
func bindingRequest(ctx context.Context, conn net.PacketConn, server string, timeout time.Duration) (netip.AddrPort, error) {
	to, err := net.ResolveUDPAddr("udp4", server)
	if err != nil {
		return netip.AddrPort{}, err
	}
	req, err := stun.Build(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	if err != nil {
		return netip.AddrPort{}, err
	}
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 1500)
	for attempt := 0; time.Now().Before(deadline) && ctx.Err() == nil; attempt++ {
		if _, err := conn.WriteTo(req.Raw, to); err != nil {
			return netip.AddrPort{}, err
		}
		wait := time.Now().Add(250 * time.Millisecond << attempt)
		if wait.After(deadline) {
			wait = deadline
		}
		conn.SetReadDeadline(wait)
		for {
			n, _, err := conn.ReadFrom(buf)
			if err != nil {
				break // retransmit, or give up at the deadline
			}
			res := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
			if res.Decode() != nil || res.TransactionID != req.TransactionID {
				continue // a late answer to another server, or noise
			}
			var xor stun.XORMappedAddress
			if err := xor.GetFrom(res); err != nil {
				return netip.AddrPort{}, fmt.Errorf("%w: %w", errNoMappedAddress, err)
			}
			ip, _ := netip.AddrFromSlice(xor.IP)
			return netip.AddrPortFrom(ip.Unmap(), uint16(xor.Port)), nil
		}
	}
	return netip.AddrPort{}, fmt.Errorf("nat: no STUN answer from %s within %v", server, timeout)
}

// Verdict says in plain words what r means for calls.
func (r Report) Verdict() string {
	anyTCP := false
	for _, ok := range r.TCP {
		anyTCP = anyTCP || ok
	}
	switch {
	case len(r.Mapped) == 0:
		return "No STUN server to ask: give two with --ice-server stun:HOST:PORT to learn how your NAT behaves."
	case !r.UDP && anyTCP:
		return "UDP is blocked here: calls will use a TCP relay."
	case !r.UDP:
		return "UDP is blocked here and no relay answers over TCP: calls will fail."
	case r.Mapping == MappingNone:
		return "No NAT: you are directly reachable; calls go direct."
	case r.Mapping == MappingEndpointIndependent:
		return "Your NAT keeps one public address for every peer: most calls go direct."
	case r.Mapping == MappingEndpointDependent:
		return "Your NAT is symmetric (a new public address per peer): calls to peers behind similar NATs go through a relay."
	default:
		return "UDP works; give a second STUN server to learn how your NAT maps addresses."
	}
}
