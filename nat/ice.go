package nat

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
)

// ICEServer is one STUN or TURN server, in the form of the --ice-server,
// --ice-username and --ice-credential flags (DESIGN §4 contract).
type ICEServer struct {
	URL        string // stun:host:port, turn:host:port[?transport=udp|tcp], turns:host:port
	Username   string // TURN only
	Credential string // TURN only
}

// ICEConfig is how a call gathers and chooses candidates. The zero value
// gathers host candidates only (loopback included), which is enough for two
// clients on one machine or one LAN.
type ICEConfig struct {
	// Servers are the user's own servers (--ice-server): when given, they
	// are every call's servers and Source is not asked.
	Servers []ICEServer
	// Source, when Servers is empty, supplies each call's servers as the
	// call starts: the directory's supernodes with fresh credentials
	// (RelaySource). Nil: host candidates only.
	Source ICESource
	// RelayOnly forces every call through a TURN relay (--relay-only).
	RelayOnly bool
}

// ICESource supplies the ICE servers of the next call, best first. It
// must not block: calls ask it as they start.
type ICESource interface {
	ICEServers() []ICEServer
}

var errRelayOnlyWithoutTURN = errors.New("--relay-only needs at least one turn: or turns: ICE server among those given")

// Validate reports what is wrong with c, if anything.
func (c ICEConfig) Validate() error {
	hasTURN := false
	for _, s := range c.Servers {
		if _, err := ice.ParseURL(s.URL); err != nil {
			return fmt.Errorf("ice server %q: %w", s.URL, err)
		}
		if strings.HasPrefix(s.URL, "turn") {
			hasTURN = true
			if s.Username == "" || s.Credential == "" {
				return fmt.Errorf("ice server %q: a TURN server needs --ice-username and --ice-credential", s.URL)
			}
		}
	}
	// Without servers of the user's own, TURN comes from the directory.
	if c.RelayOnly && len(c.Servers) > 0 && !hasTURN {
		return errRelayOnlyWithoutTURN
	}
	return nil
}

// Configuration returns the PeerConnection configuration for the next
// call: the user's servers, or else those Source supplies now.
func (c ICEConfig) Configuration() webrtc.Configuration {
	cfg := webrtc.Configuration{}
	servers := c.Servers
	if len(servers) == 0 && c.Source != nil {
		servers = c.Source.ICEServers()
	}
	for _, s := range servers {
		server := webrtc.ICEServer{URLs: []string{s.URL}}
		if s.Username != "" || s.Credential != "" {
			server.Username = s.Username
			server.Credential = s.Credential
		}
		cfg.ICEServers = append(cfg.ICEServers, server)
	}
	if c.RelayOnly {
		cfg.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	return cfg
}

// PathLost tells the Source that a call lost its path while it went
// through the relay allocation at relayAddr (host:port; "" when the path
// was not relayed through one of ours). A RelaySource leaves that relay out
// of the next calls for a while: it died, or dropped the traffic.
func (c ICEConfig) PathLost(relayAddr string) {
	host, _, err := net.SplitHostPort(relayAddr)
	if err != nil {
		return
	}
	if p, ok := c.Source.(interface{ Penalize(host string) }); ok {
		p.Penalize(host)
	}
}

// relayAcceptanceWait is how long ICE waits for a direct pair before it
// settles for a relay, unless the policy is relay-only.
const relayAcceptanceWait = 500 * time.Millisecond

// Tune applies c's candidate and timing choices to a SettingEngine.
func (c ICEConfig) Tune(se *webrtc.SettingEngine) {
	// Two clients on one machine (tests, the embedded demo) only meet over
	// loopback; mDNS would hide host addresses behind names that loopback
	// peers cannot resolve.
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	// pion allocates over turn:…?transport=tcp only for TCP network types;
	// with no ICE-TCP mux configured, TCP adds no host candidates.
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6, webrtc.NetworkTypeTCP4})
	// pion waits 2 s before accepting a relay pair so that a better direct
	// pair can win. With relay-only there is nothing to wait for. Otherwise
	// 500 ms: in the NAT lab a hole-punched direct pair is valid ~220 ms
	// after checks start (its first check dies in the peer's router, the
	// retry 200 ms later gets through), so it still wins, and a relayed
	// call connects in ~620 ms instead of ~2 s (measured by TestNATGrid).
	// At 0 a relay pair, valid in ~20 ms, can beat the direct one.
	se.SetRelayAcceptanceMinWait(relayAcceptanceWait)
	if c.RelayOnly {
		se.SetRelayAcceptanceMinWait(0)
	}
	// The callee's checks usually reach the caller before its trickled
	// candidates do, so the caller first knows the callee's address as
	// peer-reflexive; pion then waits 1 s before accepting that direct pair,
	// which was half of every call's setup time on loopback.
	se.SetPrflxAcceptanceMinWait(0)
	// A path that dies must be noticed fast enough to restart ICE and have
	// audio back within 3 s: disconnected after 1.5 s without a packet
	// (keepalives every 0.5 s keep a silent, DTX path alive), failed 10 s
	// later, by when the call's restart has succeeded or given up.
	se.SetICETimeouts(1500*time.Millisecond, 10*time.Second, 500*time.Millisecond)
}
