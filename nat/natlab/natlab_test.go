package natlab

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// newLab builds a lab for one test and removes it when the test ends.
func newLab(t *testing.T, prefix string, cfg Config) *Lab {
	t.Helper()
	if err := Available(); err != nil {
		t.Skip(err.Error())
	}
	cfg.Prefix = prefix
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
		assertGone(t, prefix)
	})
	return l
}

func assertGone(t *testing.T, prefix string) {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, prefix) {
			t.Errorf("namespace %q is left behind", line)
		}
	}
}

// udpListen opens a UDP socket in h's namespace.
func udpListen(t *testing.T, h Host, addr string) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	err := h.Do(func() error {
		var err error
		c, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// mapped sends from c to server and returns the source address the server
// saw, or an invalid AddrPort if nothing arrived.
func mapped(t *testing.T, c, server *net.UDPConn) netip.AddrPort {
	t.Helper()
	to := server.LocalAddr().(*net.UDPAddr).AddrPort()
	for range 3 {
		if _, err := c.WriteToUDPAddrPort([]byte("ping"), to); err != nil {
			t.Fatal(err)
		}
		server.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		_, from, err := server.ReadFromUDPAddrPort(make([]byte, 64))
		if err == nil {
			return from
		}
	}
	return netip.AddrPort{}
}

func TestMappingBehaviour(t *testing.T) {
	l := newLab(t, "nlmap", Config{PublicAddrs: 2, LANs: []LAN{{NAT: Cone}, {NAT: Symmetric}, {NAT: UDPBlocked}}})
	s1 := udpListen(t, l.Public(), l.PublicAddr(0).String()+":3478")
	s2 := udpListen(t, l.Public(), l.PublicAddr(1).String()+":3478")

	tests := []struct {
		name         string
		lan          int
		wantArrive   bool
		wantSame     bool // one mapping for both servers
		wantPortKept bool
	}{
		{"cone-maps-endpoint-independently-keeping-the-port", 0, true, true, true},
		{"symmetric-maps-per-destination", 1, true, false, false},
		{"udp-blocked-passes-no-udp", 2, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := l.Host(tt.lan, 0)
			c := udpListen(t, h, h.IP.String()+":40000")
			m1, m2 := mapped(t, c, s1), mapped(t, c, s2)
			if !tt.wantArrive {
				if m1.IsValid() || m2.IsValid() {
					t.Fatalf("UDP got through: %v, %v", m1, m2)
				}
				return
			}
			if !m1.IsValid() || !m2.IsValid() {
				t.Fatalf("UDP did not get through: %v, %v", m1, m2)
			}
			if m1.Addr() != l.WAN(tt.lan) {
				t.Errorf("mapped address %v, want the router's WAN %v", m1.Addr(), l.WAN(tt.lan))
			}
			if (m1 == m2) != tt.wantSame {
				t.Errorf("mappings %v and %v: same = %v, want %v", m1, m2, m1 == m2, tt.wantSame)
			}
			if (m1.Port() == 40000) != tt.wantPortKept {
				t.Errorf("mapped port %d from 40000: kept = %v, want %v", m1.Port(), m1.Port() == 40000, tt.wantPortKept)
			}
		})
	}
}

func TestUDPBlockedPassesTCP(t *testing.T) {
	l := newLab(t, "nltcp", Config{LANs: []LAN{{NAT: UDPBlocked}}})
	var ln net.Listener
	if err := l.Public().Do(func() (err error) {
		ln, err = net.Listen("tcp4", l.PublicAddr(0).String()+":3478")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan netip.AddrPort, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		accepted <- c.RemoteAddr().(*net.TCPAddr).AddrPort()
		c.Close()
	}()
	err := l.Host(0, 0).Do(func() error {
		c, err := net.DialTimeout("tcp4", ln.Addr().String(), 3*time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	})
	if err != nil {
		t.Fatalf("TCP from behind a UDP-blocking NAT: %v", err)
	}
	if from := <-accepted; from.Addr() != l.WAN(0) {
		t.Errorf("TCP came from %v, want the router's WAN %v", from, l.WAN(0))
	}
}

// TestRouterDropsUnsolicited checks the home-router filtering: only the
// address a host sent to may answer on its mapping.
func TestRouterDropsUnsolicited(t *testing.T) {
	l := newLab(t, "nlflt", Config{PublicAddrs: 2, LANs: []LAN{{NAT: Cone}}})
	s1 := udpListen(t, l.Public(), l.PublicAddr(0).String()+":3478")
	s2 := udpListen(t, l.Public(), l.PublicAddr(1).String()+":3478")
	h := l.Host(0, 0)
	c := udpListen(t, h, h.IP.String()+":40000")
	m := mapped(t, c, s1)
	if !m.IsValid() {
		t.Fatal("no mapping")
	}
	tests := []struct {
		name   string
		from   *net.UDPConn
		wantIn bool
	}{
		{"answer-from-the-contacted-server-gets-in", s1, true},
		{"packet-from-another-address-is-dropped", s2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.from.WriteToUDPAddrPort([]byte("hello"), m); err != nil {
				t.Fatal(err)
			}
			c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			_, _, err := c.ReadFromUDPAddrPort(make([]byte, 64))
			var ne net.Error
			timedOut := errors.As(err, &ne) && ne.Timeout()
			if err != nil && !timedOut {
				t.Fatal(err)
			}
			if got := err == nil; got != tt.wantIn {
				t.Errorf("packet got in = %v, want %v", got, tt.wantIn)
			}
		})
	}
}

func TestLoss(t *testing.T) {
	l := newLab(t, "nlloss", Config{LANs: []LAN{{NAT: Cone, Loss: 0.3}}})
	s := udpListen(t, l.Public(), l.PublicAddr(0).String()+":3478")
	h := l.Host(0, 0)
	c := udpListen(t, h, h.IP.String()+":40000")
	const sent = 1000
	// Read as the packets come: a socket buffer holds only a few hundred.
	received := make(chan int)
	go func() {
		n := 0
		for {
			s.SetReadDeadline(time.Now().Add(time.Second))
			if _, _, err := s.ReadFromUDPAddrPort(make([]byte, 64)); err != nil {
				received <- n
				return
			}
			n++
		}
	}()
	to := s.LocalAddr().(*net.UDPAddr).AddrPort()
	for range sent {
		if _, err := c.WriteToUDPAddrPort([]byte("x"), to); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Microsecond)
	}
	got := <-received
	loss := 1 - float64(got)/sent
	t.Logf("loss %.3f over %d packets", loss, sent)
	// 30 % ± 5 points: the binomial's standard deviation is 1.4 points.
	if loss < 0.25 || loss > 0.35 {
		t.Errorf("loss %.3f, want 0.30 ± 0.05", loss)
	}
}

func TestSetupIsIdempotent(t *testing.T) {
	if err := Available(); err != nil {
		t.Skip(err.Error())
	}
	cfg := Config{Prefix: "nlidem", LANs: []LAN{{NAT: Cone, Hosts: 2}}}
	ctx := context.Background()
	first, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// A second lab with the same prefix (a rerun after a crash) replaces
	// the first instead of failing on its leftovers.
	second, err := New(ctx, cfg)
	if err != nil {
		first.Close()
		t.Fatal(err)
	}
	if err := second.Close(); err != nil {
		t.Fatal(err)
	}
	if err := second.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	assertGone(t, "nlidem")
}

func TestSetupFailureLeavesNothing(t *testing.T) {
	if err := Available(); err != nil {
		t.Skip(err.Error())
	}
	// A deadline that ends the build half-way through its commands.
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Millisecond)
	defer cancel()
	l, err := New(ctx, Config{Prefix: "nlfail", LANs: []LAN{{Hosts: 3}, {Hosts: 3}}})
	if err == nil {
		l.Close()
		t.Skip("the lab was built within 40 ms: no half-built lab to check")
	}
	assertGone(t, "nlfail")
}

func TestOwns(t *testing.T) {
	l := &Lab{cfg: Config{Prefix: "ab"}}
	tests := []struct {
		name string
		want bool
	}{
		{"abpub", true},
		{"abr1", true},
		{"abr12", true},
		{"abh1a", true},
		{"abh12b", true},
		{"abi3", true},
		{"abi", false},
		{"abc", false},
		{"abcpub", false},
		{"abr", false},
		{"abh1", false},
		{"abrx", false},
		{"xabpub", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := l.owns(tt.name); got != tt.want {
				t.Errorf("owns(%q) = %v, want %v", tt.name, got, tt.want)
			}
		})
	}
}

// echoServer answers every UDP packet in h's namespace with itself.
func echoServer(t *testing.T, h Host, addr string) *net.UDPConn {
	t.Helper()
	s := udpListen(t, h, addr)
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := s.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			s.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	return s
}

func TestDelayAndJitter(t *testing.T) {
	l := newLab(t, "nldly", Config{LANs: []LAN{
		{NAT: Cone, Delay: 40 * time.Millisecond},
		{NAT: Cone, Delay: 40 * time.Millisecond, Jitter: 20 * time.Millisecond},
	}})
	echo := echoServer(t, l.Public(), l.PublicAddr(0).String()+":7")
	tests := []struct {
		name               string
		lan                int
		wantMin, wantMax   time.Duration // of every round trip
		wantSpreadAtLeast  time.Duration // max - min
		wantSpreadLessThan time.Duration
	}{
		// 40 ms each way; the bridge and scheduling add a little.
		// (Timers on a busy machine add up to a few tens of ms.)
		{"delay-holds-each-way", 0, 78 * time.Millisecond, 120 * time.Millisecond, 0, 30 * time.Millisecond},
		// 40 ± 20 ms each way: round trips from 40 to 120 ms, spread wide.
		{"jitter-spreads-round-trips", 1, 40 * time.Millisecond, 150 * time.Millisecond, 35 * time.Millisecond, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := l.Host(tt.lan, 0)
			c := udpListen(t, h, h.IP.String()+":40000")
			to := echo.LocalAddr().(*net.UDPAddr).AddrPort()
			lo, hi := time.Hour, time.Duration(0)
			// The first round trip also waits for ARP across the bridge.
			for i := range 31 {
				start := time.Now()
				if _, err := c.WriteToUDPAddrPort([]byte("ping"), to); err != nil {
					t.Fatal(err)
				}
				c.SetReadDeadline(time.Now().Add(time.Second))
				if _, _, err := c.ReadFromUDPAddrPort(make([]byte, 64)); err != nil {
					t.Fatalf("no echo: %v", err)
				}
				if rtt := time.Since(start); i > 0 {
					lo, hi = min(lo, rtt), max(hi, rtt)
				}
			}
			t.Logf("round trips %v..%v", lo, hi)
			if lo < tt.wantMin || hi > tt.wantMax {
				t.Errorf("round trips %v..%v, want within %v..%v", lo, hi, tt.wantMin, tt.wantMax)
			}
			if spread := hi - lo; spread < tt.wantSpreadAtLeast || spread >= tt.wantSpreadLessThan {
				t.Errorf("spread %v, want in [%v, %v)", spread, tt.wantSpreadAtLeast, tt.wantSpreadLessThan)
			}
		})
	}
	// TCP crosses the userspace bridge too (clients log in over it).
	var ln net.Listener
	if err := l.Public().Do(func() (err error) {
		ln, err = net.Listen("tcp4", l.PublicAddr(0).String()+":8000")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.Copy(c, c)
			c.Close()
		}
	}()
	err := l.Host(0, 0).Do(func() error {
		c, err := net.DialTimeout("tcp4", ln.Addr().String(), 3*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		msg := bytes.Repeat([]byte("parley "), 20000) // many segments
		go c.Write(msg)
		got := make([]byte, len(msg))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = io.ReadFull(c, got)
		return err
	})
	if err != nil {
		t.Errorf("TCP through the delaying bridge: %v", err)
	}
}
