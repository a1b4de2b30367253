package nat

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/pion/stun/v3"
)

// TestSupernodeCaps checks a volunteer relay's caps, which bound all its
// users together.
func TestSupernodeCaps(t *testing.T) {
	t.Run("max-allocations", func(t *testing.T) {
		s := startSupernode(t, SupernodeConfig{MaxAllocations: 1})
		relay, err := turnClient(t, s, false, testSecret, "alice", time.Hour).Allocate()
		if err != nil {
			t.Fatal(err)
		}
		defer relay.Close()
		if _, err := turnClient(t, s, false, testSecret, "bob", time.Hour).Allocate(); err == nil {
			t.Error("bob's allocation succeeded on a relay capped at 1")
		}
	})
	t.Run("max-kbps", func(t *testing.T) {
		// As TestSupernodeBandwidthQuota, shared by two users: 16 kbit/s
		// passes about 4 of 40 500-byte packets sent within 0.1 s.
		s := startSupernode(t, SupernodeConfig{AllowPeers: []netip.Prefix{loopback}, MaxKbps: 16})
		var got int
		for _, user := range []string{"alice", "bob"} {
			relay, err := turnClient(t, s, false, testSecret, user, time.Hour).Allocate()
			if err != nil {
				t.Fatal(err)
			}
			defer relay.Close()
			got += roundTrips(t, relay, echoPeer(t).LocalAddr(), 20, 500)
		}
		if got < 2 || got > 6 {
			t.Errorf("%d of 40 packets relayed under a 16 kbit/s cap, want about 4", got)
		}
	})
}

// TestRelaySourceRanks ranks the directory's relays: one that answers
// STUN before one that does not, and a penalized one last.
func TestRelaySourceRanks(t *testing.T) {
	live := startSupernode(t, SupernodeConfig{}).UDPAddr().String()
	// On another address: relays are told apart by host.
	pc, err := net.ListenPacket("udp4", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	silent := pc.LocalAddr().String() // reads nothing, answers nothing
	defer pc.Close()
	relays := func(hosts ...string) []ICEServer {
		var out []ICEServer
		for _, h := range hosts {
			out = append(out, ICEServer{URL: "stun:" + h}, ICEServer{URL: "turn:" + h + "?transport=udp", Username: "u", Credential: "p"})
		}
		return out
	}
	stop := make(chan struct{})
	fetches := 0
	src, err := StartRelaySource(t.Context(), RelaySourceConfig{
		Fetch: func(context.Context) ([]ICEServer, time.Duration, error) {
			fetches++
			return relays(silent, live), time.Hour, nil // least loaded first: the silent one
		},
		Stop:         stop,
		ProbeTimeout: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		close(stop)
		<-src.Done()
	}()
	if fetches != 1 {
		t.Errorf("%d fetches at start, want 1", fetches)
	}
	if got, want := src.ICEServers(), relays(live, silent); !slices.Equal(got, want) {
		t.Errorf("ranked %v, want the answering relay first: %v", got, want)
	}
	liveHost, _, _ := net.SplitHostPort(live)
	ICEConfig{Source: src}.PathLost(live) // a call through it lost its path
	if got, want := src.ICEServers(), relays(silent); !slices.Equal(got, want) {
		t.Errorf("servers %v after a lost path, want the penalized relay left out: %v", got, want)
	}
	src.Penalize(liveHost)
	ICEConfig{Source: src}.PathLost(silent)
	if got, want := src.ICEServers(), relays(silent, live); !slices.Equal(got, want) {
		t.Errorf("servers %v with every relay penalized, want them all, the first penalized last: %v", got, want)
	}
}

func TestRelaySourceFetchFails(t *testing.T) {
	_, err := StartRelaySource(t.Context(), RelaySourceConfig{
		Fetch: func(context.Context) ([]ICEServer, time.Duration, error) { return nil, 0, fmt.Errorf("directory gone") },
		Stop:  make(chan struct{}),
	})
	if err == nil {
		t.Fatal("StartRelaySource succeeded without servers")
	}
}

// slowSTUN is a STUN server on loopback that answers binding requests
// after delay, standing in for a relay that far away.
func slowSTUN(t *testing.T, addr string, delay time.Duration) string {
	t.Helper()
	pc := udpServer(t, addr, func(pc net.PacketConn, p []byte, from net.Addr) {
		req := &stun.Message{Raw: append([]byte(nil), p...)}
		if req.Decode() != nil {
			return
		}
		udp := from.(*net.UDPAddr)
		res, err := stun.Build(req, stun.BindingSuccess, &stun.XORMappedAddress{IP: udp.IP, Port: udp.Port}, stun.Fingerprint)
		if err == nil {
			time.AfterFunc(delay, func() { pc.WriteTo(res.Raw, from) })
		}
	})
	return pc.LocalAddr().String()
}

// TestRelaySourceRanksByRoundTrip gives the near relay the lead over a far
// one the directory listed first (as less loaded).
func TestRelaySourceRanksByRoundTrip(t *testing.T) {
	far, near := slowSTUN(t, "127.0.0.1:0", 80*time.Millisecond), slowSTUN(t, "127.0.0.2:0", 0)
	stop := make(chan struct{})
	src, err := StartRelaySource(t.Context(), RelaySourceConfig{
		Fetch: func(context.Context) ([]ICEServer, time.Duration, error) {
			return []ICEServer{{URL: "stun:" + far}, {URL: "stun:" + near}}, time.Hour, nil
		},
		Stop: stop,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		close(stop)
		<-src.Done()
	}()
	if got := src.ICEServers(); len(got) != 2 || got[0].URL != "stun:"+near {
		t.Errorf("ranked %v, want the near relay %s first", got, near)
	}
}

func TestUDPTarget(t *testing.T) {
	tests := []struct {
		name, url, want string
		ok              bool
	}{
		{"stun", "stun:203.0.113.7:3478", "203.0.113.7:3478", true},
		{"turn-default-udp", "turn:203.0.113.7:3478", "203.0.113.7:3478", true},
		{"turn-over-udp", "turn:203.0.113.7:3478?transport=udp", "203.0.113.7:3478", true},
		{"turn-over-tcp", "turn:203.0.113.7:3478?transport=tcp", "", false},
		{"turns", "turns:203.0.113.7:443?transport=tcp", "", false},
		{"ipv6", "stun:[2001:db8::7]:3478", "[2001:db8::7]:3478", true},
		{"garbage", "stun:", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, ok := UDPTarget(tt.url); got != tt.want || ok != tt.ok {
				t.Errorf("UDPTarget(%q) = %q, %v; want %q, %v", tt.url, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestRefreshWait(t *testing.T) {
	tests := []struct {
		name      string
		ttl, want time.Duration
	}{
		{"half-of-a-short-life", 4 * time.Minute, 2 * time.Minute},
		{"at-least-10s", time.Second, 10 * time.Second},
		{"at-most-5min-so-new-relays-and-secrets-are-seen", 12 * time.Hour, 5 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := refreshWait(tt.ttl); got != tt.want {
				t.Errorf("refreshWait(%v) = %v, want %v", tt.ttl, got, tt.want)
			}
		})
	}
}
