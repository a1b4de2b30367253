package nat

import (
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/transport/v4/vnet"
	"github.com/pion/webrtc/v4"
)

// The NAT grid in process, on pion's virtual network: a WAN with a
// supernode and LANs behind virtual NATs of chosen mapping behaviour, and
// two PeerConnections tuned as Parley's calls are. It is deterministic
// where the kernel lab (cmd/parley's TestNATGrid) is real; vnet carries no
// TCP, so the UDP-blocked case lives only in the lab.

const vnetSupernodeIP = "1.2.3.4"

var (
	cone      = &vnet.NATType{MappingBehavior: vnet.EndpointIndependent, FilteringBehavior: vnet.EndpointAddrPortDependent}
	symmetric = &vnet.NATType{MappingBehavior: vnet.EndpointAddrPortDependent, FilteringBehavior: vnet.EndpointAddrPortDependent}
)

// vnetGrid is a WAN router with a supernode and the peers' networks.
type vnetGrid struct {
	wan   *vnet.Router
	peers [2]*vnet.Net
}

func newVNetGrid(t *testing.T, nats [2]*vnet.NATType, sameLAN bool) *vnetGrid {
	t.Helper()
	quiet := logging.NewDefaultLoggerFactory()
	quiet.DefaultLogLevel = logging.LogLevelError
	wan, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "0.0.0.0/0", LoggerFactory: quiet})
	if err != nil {
		t.Fatal(err)
	}
	snNet, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{vnetSupernodeIP}})
	if err != nil {
		t.Fatal(err)
	}
	if err := wan.AddNet(snNet); err != nil {
		t.Fatal(err)
	}
	g := &vnetGrid{wan: wan}
	var lans []*vnet.Router
	for i := range 2 {
		if sameLAN && i == 1 {
			break
		}
		lan, err := vnet.NewRouter(&vnet.RouterConfig{
			StaticIPs: []string{fmt.Sprintf("27.1.1.%d", i+1)}, CIDR: fmt.Sprintf("192.168.%d.0/24", i+1),
			NATType: nats[i], LoggerFactory: quiet,
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := wan.AddRouter(lan); err != nil {
			t.Fatal(err)
		}
		lans = append(lans, lan)
	}
	for i := range 2 {
		if g.peers[i], err = vnet.NewNet(&vnet.NetConfig{}); err != nil {
			t.Fatal(err)
		}
		if err := lans[min(i, len(lans)-1)].AddNet(g.peers[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := wan.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wan.Stop() })

	sn, err := NewSupernode(SupernodeConfig{
		Listen: vnetSupernodeIP + ":3478", PublicIP: netip.MustParseAddr(vnetSupernodeIP), AuthSecret: testSecret,
		Net: snNet, PionLogs: quiet, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sn.Close() })
	return g
}

// peer makes a PeerConnection on network n with Parley's ICE tuning and
// the supernode as STUN and TURN server.
func (g *vnetGrid) peer(t *testing.T, n *vnet.Net, user string) *webrtc.PeerConnection {
	t.Helper()
	username, password := TURNCredentials(testSecret, user, time.Now(), time.Hour)
	cfg := ICEConfig{Servers: []ICEServer{
		{URL: "stun:" + vnetSupernodeIP + ":3478"},
		{URL: "turn:" + vnetSupernodeIP + ":3478?transport=udp", Username: username, Credential: password},
	}}
	se := webrtc.SettingEngine{}
	cfg.Tune(&se)
	se.SetNet(n)
	quiet := logging.NewDefaultLoggerFactory()
	quiet.DefaultLogLevel = logging.LogLevelError
	se.LoggerFactory = quiet
	pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se)).NewPeerConnection(cfg.Configuration())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc
}

// connect runs offer/answer (candidates gathered up front) and waits for
// a message to cross the data channel each way; it returns how long the
// connection took and each side's selected candidate pair.
func connect(t *testing.T, offerer, answerer *webrtc.PeerConnection) (time.Duration, [2]*webrtc.ICECandidatePair) {
	t.Helper()
	got := make(chan string, 2)
	answerer.OnDataChannel(func(dc *webrtc.DataChannel) {
		dc.OnMessage(func(m webrtc.DataChannelMessage) {
			got <- "answerer heard " + string(m.Data)
			dc.SendText("pong")
		})
	})
	dc, err := offerer.CreateDataChannel("check", nil)
	if err != nil {
		t.Fatal(err)
	}
	dc.OnOpen(func() { dc.SendText("ping") })
	dc.OnMessage(func(m webrtc.DataChannelMessage) { got <- "offerer heard " + string(m.Data) })

	start := time.Now()
	offer, err := offerer.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(offerer)
	if err := offerer.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	if err := answerer.SetRemoteDescription(*offerer.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	answer, err := answerer.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered = webrtc.GatheringCompletePromise(answerer)
	if err := answerer.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	if err := offerer.SetRemoteDescription(*answerer.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case msg := <-got:
			t.Log(msg)
		case <-time.After(15 * time.Second):
			t.Fatal("no message crossed the data channel within 15 s")
		}
	}
	took := time.Since(start)
	var pairs [2]*webrtc.ICECandidatePair
	for i, pc := range []*webrtc.PeerConnection{offerer, answerer} {
		if pairs[i], err = pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair(); err != nil || pairs[i] == nil {
			t.Fatalf("no selected pair: %v", err)
		}
	}
	return took, pairs
}

func TestVNetGrid(t *testing.T) {
	tests := []struct {
		name    string
		nats    [2]*vnet.NATType
		sameLAN bool
		// wantRelay: nil records whatever ICE found.
		wantRelay             *bool
		wantLocal, wantRemote []webrtc.ICECandidateType
	}{
		{"cone-to-cone-goes-direct", [2]*vnet.NATType{cone, cone}, false, ptr(false),
			[]webrtc.ICECandidateType{webrtc.ICECandidateTypeHost, webrtc.ICECandidateTypeSrflx},
			[]webrtc.ICECandidateType{webrtc.ICECandidateTypeSrflx, webrtc.ICECandidateTypePrflx}},
		{"cone-to-symmetric-is-recorded", [2]*vnet.NATType{cone, symmetric}, false, nil, nil, nil},
		{"symmetric-to-symmetric-is-relayed", [2]*vnet.NATType{symmetric, symmetric}, false, ptr(true), nil, nil},
		{"same-lan-goes-host-to-host", [2]*vnet.NATType{cone, cone}, true, ptr(false),
			[]webrtc.ICECandidateType{webrtc.ICECandidateTypeHost},
			[]webrtc.ICECandidateType{webrtc.ICECandidateTypeHost, webrtc.ICECandidateTypePrflx}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newVNetGrid(t, tt.nats, tt.sameLAN)
			took, pairs := connect(t, g.peer(t, g.peers[0], "alice"), g.peer(t, g.peers[1], "bob"))
			t.Logf("%s: offerer %s/%s, answerer %s/%s, connected in %v", tt.name,
				pairs[0].Local.Typ, pairs[0].Remote.Typ, pairs[1].Local.Typ, pairs[1].Remote.Typ, took.Round(time.Millisecond))
			for _, p := range pairs {
				relayed := p.Local.Typ == webrtc.ICECandidateTypeRelay || p.Remote.Typ == webrtc.ICECandidateTypeRelay
				if tt.wantRelay != nil && relayed != *tt.wantRelay {
					t.Errorf("pair %s/%s: relayed %v, want %v", p.Local.Typ, p.Remote.Typ, relayed, *tt.wantRelay)
				}
				if tt.wantLocal != nil && (!slices.Contains(tt.wantLocal, p.Local.Typ) || !slices.Contains(tt.wantRemote, p.Remote.Typ)) {
					t.Errorf("pair %s/%s, want local among %v, remote among %v", p.Local.Typ, p.Remote.Typ, tt.wantLocal, tt.wantRemote)
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
