package nat

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pion/logging"
	"github.com/pion/transport/v4"
	"github.com/pion/turn/v4"
	"golang.org/x/sys/unix"
)

// SupernodeConfig configures a Supernode. The zero value of every field but
// Listen, PublicIP and AuthSecret means its default.
type SupernodeConfig struct {
	// Listen is the UDP and TCP address (host:port) clients reach the
	// supernode on; port 0 picks one free for both.
	Listen string
	// PublicIP is the address relayed candidates carry: the one peers on
	// the Internet reach the relay ports on.
	PublicIP netip.Addr
	// AuthSecret verifies TURN REST credentials (coturn's
	// static-auth-secret): whoever holds it can make them (TURNCredentials).
	AuthSecret string
	// Realm is the TURN realm; "" → "parley".
	Realm string
	// AllowPeers are peer networks relayed to although DeniedPeers holds
	// them (a LAN's own supernode, tests on loopback).
	AllowPeers []netip.Prefix
	// MaxAllocationsPerUser and MaxKbpsPerUser are per-user quotas (the
	// user part of the TURN REST username); 0 is unlimited. The bandwidth
	// quota holds for each direction separately; packets beyond it are
	// dropped.
	MaxAllocationsPerUser int
	MaxKbpsPerUser        int
	// MaxAllocations and MaxKbps bound all users together (a volunteer
	// relay's caps); 0 is unlimited. MaxKbps holds for each direction.
	MaxAllocations int
	MaxKbps        int
	// RelayPortMin and RelayPortMax bound the relay ports; 0 → 61001 and
	// 65535, above Linux's ephemeral range (32768–60999) so that relays
	// never take a port the machine's own connections want.
	RelayPortMin, RelayPortMax uint16
	// UDPListeners is how many UDP sockets share the port (SO_REUSEPORT),
	// each with its own read loop; 0 → one per CPU.
	UDPListeners int
	// TLSListen, with TLS, also serves TURN over TLS on this host:port
	// (443 where allowed: networks that pass only HTTPS pass it).
	TLSListen string
	TLS       *tls.Config
	// Net is the network to use; nil is the real one. On another (pion's
	// vnet) the supernode serves UDP only.
	Net transport.Net
	// Now is the clock credentials are checked against; nil → time.Now.
	Now func() time.Time
	// PionLogs receives pion/turn's own logs; nil → pion's default
	// (errors only, on stderr).
	PionLogs logging.LoggerFactory
	Logger   *slog.Logger
}

func (c *SupernodeConfig) validate() error {
	switch {
	case c.Listen == "":
		return errors.New("nat: supernode needs a listen address")
	case !c.PublicIP.IsValid():
		return errors.New("nat: supernode needs its public IP")
	case c.AuthSecret == "":
		return errors.New("nat: supernode needs an auth secret")
	case c.MaxAllocationsPerUser < 0 || c.MaxKbpsPerUser < 0 || c.UDPListeners < 0 || c.MaxAllocations < 0 || c.MaxKbps < 0:
		return errors.New("nat: supernode quotas and listener count must be 0 or more")
	case (c.TLSListen == "") != (c.TLS == nil):
		return errors.New("nat: TURN over TLS needs both a listen address and a certificate")
	case c.RelayPortMin > c.RelayPortMax && c.RelayPortMax != 0:
		return fmt.Errorf("nat: relay ports %d-%d: min above max", c.RelayPortMin, c.RelayPortMax)
	}
	return nil
}

// DeniedPeers are the networks a supernode refuses to relay to unless
// SupernodeConfig.AllowPeers holds them (DESIGN §4): a relay must not be a
// way into its own host or LAN.
var DeniedPeers = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("224.0.0.0/4"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("::/128"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("fc00::/7"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("ff00::/8"),
}

// Supernode is a STUN and TURN server (RFC 8489, RFC 8656) on UDP and TCP
// with TURN REST authentication, a peer deny list and per-user quotas.
type Supernode struct {
	cfg     SupernodeConfig
	log     *slog.Logger
	server  *turn.Server
	udpAddr net.Addr
	tcpAddr net.Addr // nil on a virtual network
	tlsAddr net.Addr // nil without TLS
	metrics metrics
	// up and down police MaxKbps; nil when unlimited.
	up, down *tokenBucket

	// mu guards the following fields.
	mu     sync.Mutex
	users  map[string]*userState // by user part of the username
	relays map[string]*relayConn // by relay address
	allocs map[string]*userState // by the allocation's five-tuple
}

// userState is one user's quota bookkeeping.
type userState struct {
	allocations int // guarded by Supernode.mu
	up, down    *tokenBucket
}

// NewSupernode starts a supernode; Close stops it.
func NewSupernode(cfg SupernodeConfig) (*Supernode, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Realm == "" {
		cfg.Realm = "parley"
	}
	if cfg.RelayPortMin == 0 {
		cfg.RelayPortMin = 61001
	}
	if cfg.RelayPortMax == 0 {
		cfg.RelayPortMax = 65535
	}
	if cfg.UDPListeners == 0 {
		cfg.UDPListeners = runtime.NumCPU()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Supernode{
		cfg:    cfg,
		log:    cfg.Logger.With("supernode", cfg.Listen),
		users:  make(map[string]*userState),
		relays: make(map[string]*relayConn),
		allocs: make(map[string]*userState),
	}
	if cfg.MaxKbps > 0 {
		s.up, s.down = newTokenBucket(cfg.MaxKbps, cfg.Now), newTokenBucket(cfg.MaxKbps, cfg.Now)
	}
	packetConns, listener, err := s.listen()
	if err != nil {
		return nil, err
	}
	host, _, _ := net.SplitHostPort(cfg.Listen)
	gen := &relayGenerator{
		s: s,
		RelayAddressGeneratorPortRange: turn.RelayAddressGeneratorPortRange{
			RelayAddress: net.IP(cfg.PublicIP.AsSlice()),
			Address:      orUnspecified(host),
			MinPort:      cfg.RelayPortMin,
			MaxPort:      cfg.RelayPortMax,
			MaxRetries:   50,
			Net:          cfg.Net,
		},
	}
	sc := turn.ServerConfig{
		Realm:         cfg.Realm,
		AuthHandler:   s.authenticate,
		QuotaHandler:  s.allowAllocation,
		LoggerFactory: cfg.PionLogs,
		EventHandler: turn.EventHandler{
			OnAllocationCreated: s.allocationCreated,
			OnAllocationDeleted: s.allocationDeleted,
		},
	}
	for _, pc := range packetConns {
		sc.PacketConnConfigs = append(sc.PacketConnConfigs, turn.PacketConnConfig{
			PacketConn: pc, RelayAddressGenerator: gen, PermissionHandler: s.permit,
		})
	}
	if listener != nil {
		sc.ListenerConfigs = []turn.ListenerConfig{{Listener: listener, RelayAddressGenerator: gen, PermissionHandler: s.permit}}
	}
	if cfg.TLS != nil {
		tl, err := tls.Listen("tcp", cfg.TLSListen, cfg.TLS)
		if err != nil {
			closeAll(packetConns, listener)
			return nil, fmt.Errorf("nat: supernode listen tls: %w", err)
		}
		s.tlsAddr = tl.Addr()
		sc.ListenerConfigs = append(sc.ListenerConfigs, turn.ListenerConfig{Listener: tl, RelayAddressGenerator: gen, PermissionHandler: s.permit})
	}
	if s.server, err = turn.NewServer(sc); err != nil {
		closeAll(packetConns, nil)
		for _, l := range sc.ListenerConfigs {
			l.Listener.Close()
		}
		return nil, fmt.Errorf("nat: start TURN server: %w", err)
	}
	return s, nil
}

func closeAll(pcs []net.PacketConn, l net.Listener) {
	for _, pc := range pcs {
		pc.Close()
	}
	if l != nil {
		l.Close()
	}
}

func orUnspecified(host string) string {
	if host == "" {
		return "0.0.0.0"
	}
	return host
}

// listen opens the UDP sockets and the TCP listener on one port.
func (s *Supernode) listen() ([]net.PacketConn, net.Listener, error) {
	if s.cfg.Net != nil {
		pc, err := s.cfg.Net.ListenPacket("udp4", s.cfg.Listen)
		if err != nil {
			return nil, nil, fmt.Errorf("nat: supernode listen: %w", err)
		}
		s.udpAddr = pc.LocalAddr()
		return []net.PacketConn{pc}, nil, nil
	}
	lc := net.ListenConfig{Control: reusePort}
	ctx := context.Background()
	// Port 0: the first socket picks the port, the rest join it; TCP may
	// find that port taken, so try a few.
	for attempt := 0; ; attempt++ {
		pcs, err := listenUDP(ctx, lc, s.cfg.Listen, s.cfg.UDPListeners)
		if err != nil {
			return nil, nil, err
		}
		s.udpAddr = pcs[0].LocalAddr()
		ln, err := lc.Listen(ctx, "tcp", s.udpAddr.String())
		if err == nil {
			s.tcpAddr = ln.Addr()
			return pcs, ln, nil
		}
		for _, pc := range pcs {
			pc.Close()
		}
		if _, port, _ := net.SplitHostPort(s.cfg.Listen); port != "0" || attempt == 5 {
			return nil, nil, fmt.Errorf("nat: supernode listen tcp: %w", err)
		}
	}
}

func listenUDP(ctx context.Context, lc net.ListenConfig, addr string, n int) ([]net.PacketConn, error) {
	var pcs []net.PacketConn
	for i := range n {
		pc, err := lc.ListenPacket(ctx, "udp", addr)
		if err != nil {
			for _, pc := range pcs {
				pc.Close()
			}
			return nil, fmt.Errorf("nat: supernode listen udp: %w", err)
		}
		if i == 0 {
			addr = pc.LocalAddr().String()
		}
		pcs = append(pcs, newBatchConn(pc))
	}
	return pcs, nil
}

// socketBuffer is the receive and send buffer of each listening socket: a
// few hundred ms of a thousand calls' packets, so that a scheduling hiccup
// of the read loop does not drop them (the default 208 KiB held ~4 ms at
// 800 calls, and bench relay lost 7 % of the packets at 400).
const socketBuffer = 8 << 20

// reusePort lets several sockets share the port (the kernel spreads clients
// over them by address hash, so one client stays on one socket) and gives
// each large buffers, past net.core.rmem_max where the process may.
func reusePort(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		for _, opt := range [][2]int{{unix.SO_RCVBUFFORCE, unix.SO_RCVBUF}, {unix.SO_SNDBUFFORCE, unix.SO_SNDBUF}} {
			if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, opt[0], socketBuffer) != nil {
				// Without CAP_NET_ADMIN: as much as rmem_max/wmem_max allow.
				unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, opt[1], socketBuffer)
			}
		}
	})
	return errors.Join(err, serr)
}

// UDPAddr is the address clients reach the supernode on over UDP.
func (s *Supernode) UDPAddr() net.Addr { return s.udpAddr }

// TCPAddr is the address for TURN over TCP; nil on a virtual network.
func (s *Supernode) TCPAddr() net.Addr { return s.tcpAddr }

// TLSAddr is the address for TURN over TLS; nil without TLS.
func (s *Supernode) TLSAddr() net.Addr { return s.tlsAddr }

// Allocations returns the number of live allocations.
func (s *Supernode) Allocations() int { return s.server.AllocationCount() }

// Close stops the supernode and frees its allocations.
func (s *Supernode) Close() error {
	if err := s.server.Close(); err != nil {
		return fmt.Errorf("nat: close supernode: %w", err)
	}
	return nil
}

// authenticate is the TURN AuthHandler: TURN REST credentials made with
// the auth secret, not yet expired.
func (s *Supernode) authenticate(username, realm string, src net.Addr) ([]byte, bool) {
	if _, err := parseTURNUsername(username, s.cfg.Now()); err != nil {
		s.metrics.authFailures.Add(1)
		s.log.Debug("turn auth refused", "from", src, "err", err)
		return nil, false
	}
	return turn.GenerateAuthKey(username, realm, turnPassword(s.cfg.AuthSecret, username)), true
}

// userOf returns the quota holder of a TURN REST username.
func userOf(username string) string {
	_, user, _ := strings.Cut(username, ":")
	return user
}

// allowAllocation is the TURN QuotaHandler. Two allocations racing for a
// user's last slot may both pass: the quota is a bound on abuse, not an
// exact count.
func (s *Supernode) allowAllocation(username, _ string, src net.Addr) bool {
	if limit := s.cfg.MaxAllocations; limit > 0 && s.server.AllocationCount() >= limit {
		s.metrics.quotaRefusals.Add(1)
		s.log.Info("relay full", "allocations", limit, "from", src)
		return false
	}
	if s.cfg.MaxAllocationsPerUser == 0 {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.users[userOf(username)]; u != nil && u.allocations >= s.cfg.MaxAllocationsPerUser {
		s.metrics.quotaRefusals.Add(1)
		s.log.Info("allocation quota reached", "user", userOf(username), "from", src)
		return false
	}
	return true
}

// permit is the TURN PermissionHandler: no relaying into denied networks.
func (s *Supernode) permit(client net.Addr, peer net.IP) bool {
	ip, ok := netip.AddrFromSlice(peer)
	if !ok || !s.peerAllowed(ip.Unmap()) {
		s.metrics.peerRefusals.Add(1)
		s.log.Debug("peer refused", "client", client, "peer", peer)
		return false
	}
	return true
}

func (s *Supernode) peerAllowed(ip netip.Addr) bool {
	for _, p := range s.cfg.AllowPeers {
		if p.Contains(ip) {
			return true
		}
	}
	for _, p := range DeniedPeers {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

func fiveTuple(src, dst net.Addr, protocol string) string {
	return protocol + " " + src.String() + " " + dst.String()
}

func (s *Supernode) allocationCreated(src, dst net.Addr, protocol, username, _ string, relay net.Addr, _ int) {
	s.metrics.allocationsTotal.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	name := userOf(username)
	u := s.users[name]
	if u == nil {
		u = &userState{}
		if kbps := s.cfg.MaxKbpsPerUser; kbps > 0 {
			u.up, u.down = newTokenBucket(kbps, s.cfg.Now), newTokenBucket(kbps, s.cfg.Now)
		}
		s.users[name] = u
	}
	u.allocations++
	s.allocs[fiveTuple(src, dst, protocol)] = u
	if rc := s.relays[relay.String()]; rc != nil {
		rc.user.Store(u)
	}
}

func (s *Supernode) allocationDeleted(src, dst net.Addr, protocol, username, _ string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := fiveTuple(src, dst, protocol)
	u := s.allocs[key]
	if u == nil {
		return
	}
	delete(s.allocs, key)
	if u.allocations--; u.allocations == 0 {
		delete(s.users, userOf(username))
	}
}

// relayGenerator makes relay sockets in the port range and wraps them to
// count and police what they carry.
type relayGenerator struct {
	turn.RelayAddressGeneratorPortRange
	s *Supernode
}

func (g *relayGenerator) AllocatePacketConn(network string, requestedPort int) (net.PacketConn, net.Addr, error) {
	pc, addr, err := g.RelayAddressGeneratorPortRange.AllocatePacketConn(network, requestedPort)
	if err != nil {
		return nil, nil, err
	}
	rc := &relayConn{PacketConn: pc, s: g.s, key: addr.String()}
	g.s.mu.Lock()
	g.s.relays[rc.key] = rc
	g.s.mu.Unlock()
	return rc, addr, nil
}
