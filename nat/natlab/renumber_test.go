package natlab

import (
	"testing"
)

// TestChangeWAN renumbers a router mid-flow: the flow's packets leave
// from the new address, and the old address is gone.
func TestChangeWAN(t *testing.T) {
	l := newLab(t, "nlwan", Config{LANs: []LAN{{NAT: Cone}}})
	server := udpListen(t, l.Public(), l.PublicAddr(0).String()+":3478")
	h := l.Host(0, 0)
	c := udpListen(t, h, h.IP.String()+":40000")
	before := mapped(t, c, server)
	if before.Addr() != l.WAN(0) {
		t.Fatalf("mapped %v before, want the WAN %v", before, l.WAN(0))
	}
	next, err := l.ChangeWAN(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if next == before.Addr() || l.WAN(0) != next {
		t.Fatalf("ChangeWAN = %v, WAN %v; want a new address, reported", next, l.WAN(0))
	}
	if after := mapped(t, c, server); after.Addr() != next {
		t.Errorf("the same flow mapped to %v after renumbering, want the new WAN %v", after, next)
	}
	if back, err := l.ChangeWAN(t.Context(), 0); err != nil || back != before.Addr() {
		t.Errorf("renumbering again = %v, %v; want the first address back", back, err)
	}
}
