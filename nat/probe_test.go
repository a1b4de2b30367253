package nat

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"github.com/parley-voip/parley/nat/natlab"
)

func TestClassify(t *testing.T) {
	a := netip.MustParseAddrPort("203.0.113.9:4000")
	b := netip.MustParseAddrPort("203.0.113.9:4001")
	local := map[netip.Addr]bool{netip.MustParseAddr("10.0.0.2"): true}
	tests := []struct {
		name    string
		mapped  []netip.AddrPort
		wantUDP bool
		want    Mapping
	}{
		{"no-answers", []netip.AddrPort{{}, {}}, false, MappingUnknown},
		{"one-answer", []netip.AddrPort{a, {}}, true, MappingUnknown},
		{"same-mapping-twice", []netip.AddrPort{a, a}, true, MappingEndpointIndependent},
		{"mapping-per-server", []netip.AddrPort{a, b}, true, MappingEndpointDependent},
		{"public-address-is-local", []netip.AddrPort{netip.MustParseAddrPort("10.0.0.2:5000")}, true, MappingNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			udp, m := classify(tt.mapped, local)
			if udp != tt.wantUDP || m != tt.want {
				t.Errorf("classify = %v, %s; want %v, %s", udp, m, tt.wantUDP, tt.want)
			}
		})
	}
}

// TestProbeInNATLab probes from behind each kind of kernel NAT, against two
// supernodes on the lab's public segment.
func TestProbeInNATLab(t *testing.T) {
	if err := natlab.Available(); err != nil {
		t.Skip(err.Error())
	}
	lab, err := natlab.New(context.Background(), natlab.Config{Prefix: "npr", PublicAddrs: 2,
		LANs: []natlab.LAN{{NAT: natlab.Cone}, {NAT: natlab.Symmetric}, {NAT: natlab.UDPBlocked}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := lab.Close(); err != nil {
			t.Error(err)
		}
	})
	var servers []string
	for i := range 2 {
		addr := lab.PublicAddr(i).String() + ":3478"
		var sn *Supernode
		if err := lab.Public().Do(func() (err error) {
			sn, err = NewSupernode(SupernodeConfig{Listen: addr, PublicIP: lab.PublicAddr(i), AuthSecret: testSecret,
				UDPListeners: 1, Logger: slog.New(slog.DiscardHandler)})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sn.Close() })
		servers = append(servers, addr)
	}
	tests := []struct {
		name        string
		lan         int
		wantUDP     bool
		wantMapping Mapping
		wantVerdict string
	}{
		{"cone-is-endpoint-independent", 0, true, MappingEndpointIndependent, "most calls go direct"},
		{"symmetric-is-endpoint-dependent", 1, true, MappingEndpointDependent, "symmetric"},
		{"udp-blocked-falls-back-to-tcp", 2, false, MappingUnknown, "UDP is blocked here: calls will use a TCP relay"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Report
			err := lab.Host(tt.lan, 0).Do(func() (err error) {
				r, err = Probe(context.Background(), ProbeConfig{STUNServers: servers, TCPServers: servers[:1]})
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("mapped %v, tcp %v: %s", r.Mapped, r.TCP, r.Verdict())
			if r.UDP != tt.wantUDP || r.Mapping != tt.wantMapping {
				t.Errorf("UDP %v, mapping %s; want %v, %s", r.UDP, r.Mapping, tt.wantUDP, tt.wantMapping)
			}
			if len(r.TCP) != 1 || !r.TCP[0] {
				t.Errorf("TCP to the supernode: %v, want reachable", r.TCP)
			}
			if !strings.Contains(r.Verdict(), tt.wantVerdict) {
				t.Errorf("verdict %q does not say %q", r.Verdict(), tt.wantVerdict)
			}
		})
	}
}
