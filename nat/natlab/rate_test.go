package natlab

import (
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// throughput sends 100-byte datagrams from → to (at dst) at about 256
// kbit/s of IP packets for a second and returns the kbit/s of IP packets
// (payload plus 28 bytes of IPv4 and UDP headers) that arrived.
func throughput(t *testing.T, from, to *net.UDPConn, dst netip.AddrPort) float64 {
	t.Helper()
	const (
		payload  = 100
		packet   = payload + 20 + 8
		interval = 4 * time.Millisecond
		sendFor  = time.Second
	)
	var (
		wg       sync.WaitGroup
		received int
	)
	wg.Go(func() {
		buf := make([]byte, 1500)
		to.SetReadDeadline(time.Now().Add(sendFor + 300*time.Millisecond))
		for {
			if _, _, err := to.ReadFromUDPAddrPort(buf); err != nil {
				return
			}
			received++
		}
	})
	msg := make([]byte, payload)
	tick := time.NewTicker(interval)
	for end := time.Now().Add(sendFor); time.Now().Before(end); <-tick.C {
		if _, err := from.WriteToUDPAddrPort(msg, dst); err != nil {
			t.Fatal(err)
		}
	}
	tick.Stop()
	wg.Wait()
	return float64(received*packet*8) / sendFor.Seconds() / 1000
}

func TestSetRate(t *testing.T) {
	l := newLab(t, "nlrate", Config{LANs: []LAN{{NAT: Cone}}})
	h := l.Host(0, 0)
	host := udpListen(t, h, h.IP.String()+":40000")
	server := udpListen(t, l.Public(), l.PublicAddr(0).String()+":3478")
	m := mapped(t, host, server)
	if !m.IsValid() {
		t.Fatal("no mapping")
	}
	up := func() float64 { return throughput(t, host, server, server.LocalAddr().(*net.UDPAddr).AddrPort()) }
	down := func() float64 { return throughput(t, server, host, m) }

	const capKbps = 96
	if got := up(); got < 200 {
		t.Fatalf("uncapped: %.0f kbit/s went up, want all ~256", got)
	}
	if err := l.SetRate(t.Context(), 0, Rate{Kbps: capKbps}); err != nil {
		t.Fatal(err)
	}
	// The bucket's first full packet's worth of tokens passes at once.
	for name, got := range map[string]float64{"up": up(), "down": down()} {
		if got < 0.8*capKbps || got > 1.3*capKbps {
			t.Errorf("capped at %d kbit/s: %.0f kbit/s went %s", capKbps, got, name)
		}
	}
	upStats, downStats, err := l.RateStats(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("capped: up %+v, down %+v", upStats, downStats)
	if upStats.Drops == 0 || downStats.Drops == 0 || upStats.Packets == 0 || downStats.Packets == 0 {
		t.Errorf("the buckets passed %d and %d packets and dropped %d and %d, want some of each", upStats.Packets, downStats.Packets, upStats.Drops, downStats.Drops)
	}

	if err := l.SetRate(t.Context(), 0, Rate{}); err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]float64{"up": up(), "down": down()} {
		if got < 200 {
			t.Errorf("cap lifted: %.0f kbit/s went %s, want all ~256", got, name)
		}
	}
	if upStats, downStats, err = l.RateStats(t.Context(), 0); err != nil || upStats != (QueueStats{}) || downStats != (QueueStats{}) {
		t.Errorf("cap lifted: stats %+v, %+v, %v; want none", upStats, downStats, err)
	}
	if err := l.SetRate(t.Context(), 0, Rate{}); err != nil {
		t.Errorf("lifting twice: %v", err)
	}
	for _, bad := range []struct {
		lan int
		r   Rate
	}{{1, Rate{Kbps: 24}}, {-1, Rate{}}, {0, Rate{Kbps: -24}}} {
		if err := l.SetRate(t.Context(), bad.lan, bad.r); err == nil {
			t.Errorf("SetRate(LAN %d, %+v) of a one-LAN lab: no error", bad.lan, bad.r)
		}
	}
	if _, _, err := l.RateStats(t.Context(), 1); err == nil {
		t.Error("RateStats of LAN 1 of a one-LAN lab: no error")
	}
}

// TestLANRateKbps caps a LAN's upstream from the start, with SetRate's
// bucket: its rate holds upstream, and downstream is left alone.
func TestLANRateKbps(t *testing.T) {
	const capKbps = 96
	l := newLab(t, "nlrkb", Config{LANs: []LAN{{NAT: Cone, RateKbps: capKbps}}})
	h := l.Host(0, 0)
	host := udpListen(t, h, h.IP.String()+":40000")
	server := udpListen(t, l.Public(), l.PublicAddr(0).String()+":3478")
	m := mapped(t, host, server)
	if !m.IsValid() {
		t.Fatal("no mapping")
	}
	if got := throughput(t, host, server, server.LocalAddr().(*net.UDPAddr).AddrPort()); got < 0.8*capKbps || got > 1.3*capKbps {
		t.Errorf("capped at %d kbit/s: %.0f kbit/s went up", capKbps, got)
	}
	if got := throughput(t, server, host, m); got < 200 {
		t.Errorf("%.0f kbit/s came down, want all ~256 (the cap is upstream only)", got)
	}
}
