package nat

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"log/slog"
	"math/big"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/turn/v4"
)

const testSecret = "s3cret"

var loopback = netip.MustParsePrefix("127.0.0.0/8")

func startSupernode(t *testing.T, cfg SupernodeConfig) *Supernode {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	cfg.PublicIP = netip.MustParseAddr("127.0.0.1")
	if cfg.AuthSecret == "" {
		cfg.AuthSecret = testSecret
	}
	cfg.Logger = slog.New(slog.DiscardHandler)
	s, err := NewSupernode(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// turnClient is a TURN client over UDP (or TCP) with REST credentials
// made with secret for user.
func turnClient(t *testing.T, s *Supernode, tcp bool, secret, user string, ttl time.Duration) *turn.Client {
	t.Helper()
	username, password := TURNCredentials(secret, user, time.Now(), ttl)
	cfg := &turn.ClientConfig{
		STUNServerAddr: s.UDPAddr().String(),
		TURNServerAddr: s.UDPAddr().String(),
		Username:       username,
		Password:       password,
		Realm:          "parley",
		RTO:            100 * time.Millisecond,
	}
	if tcp {
		conn, err := net.Dial("tcp", s.TCPAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		cfg.Conn = turn.NewSTUNConn(conn)
		cfg.TURNServerAddr = s.TCPAddr().String()
	} else {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		cfg.Conn = pc
	}
	c, err := turn.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		cfg.Conn.Close()
	})
	return c
}

// echoPeer is a UDP peer that answers every packet with the same bytes.
func echoPeer(t *testing.T) net.PacketConn {
	t.Helper()
	return udpServer(t, "127.0.0.1:0", func(pc net.PacketConn, p []byte, from net.Addr) { pc.WriteTo(p, from) })
}

// udpServer hands every packet that reaches a UDP socket on addr to
// handle, until the test ends.
func udpServer(t *testing.T, addr string, handle func(pc net.PacketConn, p []byte, from net.Addr)) net.PacketConn {
	t.Helper()
	pc, err := net.ListenPacket("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			handle(pc, buf[:n], from)
		}
	}()
	return pc
}

// roundTrips sends n packets through relay to peer and counts the echoes;
// a write the relay refuses ends the sending.
func roundTrips(t *testing.T, relay net.PacketConn, peer net.Addr, n, size int) int {
	t.Helper()
	got := make(chan int)
	go func() {
		count := 0
		buf := make([]byte, 1500)
		for {
			relay.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			if _, _, err := relay.ReadFrom(buf); err != nil {
				got <- count
				return
			}
			count++
		}
	}()
	msg := bytes.Repeat([]byte{'x'}, size)
	for range n {
		if _, err := relay.WriteTo(msg, peer); err != nil {
			t.Logf("relay write: %v", err) // a refused permission
			break
		}
		time.Sleep(time.Millisecond)
	}
	return <-got
}

func TestSupernodeRelays(t *testing.T) {
	tests := []struct {
		name string
		tcp  bool
	}{
		{"turn-over-udp", false},
		{"turn-over-tcp", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startSupernode(t, SupernodeConfig{AllowPeers: []netip.Prefix{loopback}})
			c := turnClient(t, s, tt.tcp, testSecret, "alice", time.Hour)
			if mapped, err := c.SendBindingRequest(); err != nil || !strings.HasPrefix(mapped.String(), "127.0.0.1:") {
				t.Fatalf("STUN binding: %v, %v", mapped, err)
			}
			relay, err := c.Allocate()
			if err != nil {
				t.Fatal(err)
			}
			defer relay.Close()
			port := relay.LocalAddr().(*net.UDPAddr).Port
			if port < 61001 {
				t.Errorf("relay port %d is in the ephemeral range", port)
			}
			peer := echoPeer(t)
			if got := roundTrips(t, relay, peer.LocalAddr(), 20, 120); got < 19 {
				t.Fatalf("%d of 20 packets came back through the relay", got)
			}
			var m bytes.Buffer
			if err := s.WriteMetrics(&m); err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{
				"parley_supernode_allocations 1\n",
				"parley_supernode_allocations_total 1\n",
				`parley_supernode_relayed_bytes_total{direction="to_peer"} 2400` + "\n",
			} {
				if !strings.Contains(m.String(), want) {
					t.Errorf("metrics lack %q:\n%s", want, m.String())
				}
			}
		})
	}
}

func TestSupernodeRefuses(t *testing.T) {
	tests := []struct {
		name   string
		cfg    SupernodeConfig
		secret string
		ttl    time.Duration
		// wantAlloc: the allocation succeeds; the relay to a loopback
		// peer then still depends on the peer list.
		wantAlloc, wantRelay bool
		metric               string
	}{
		{"good-credentials-relay-to-allowed-peer", SupernodeConfig{AllowPeers: []netip.Prefix{loopback}}, testSecret, time.Hour, true, true, ""},
		{"loopback-peer-denied-by-default", SupernodeConfig{}, testSecret, time.Hour, true, false, "parley_supernode_peer_refusals_total 1"},
		{"wrong-secret", SupernodeConfig{}, "guess", time.Hour, false, false, ""},
		{"expired-credentials", SupernodeConfig{}, testSecret, -time.Minute, false, false, "parley_supernode_auth_failures_total"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startSupernode(t, tt.cfg)
			c := turnClient(t, s, false, tt.secret, "alice", tt.ttl)
			relay, err := c.Allocate()
			if (err == nil) != tt.wantAlloc {
				t.Fatalf("Allocate: %v, want success %v", err, tt.wantAlloc)
			}
			if err == nil {
				defer relay.Close()
				peer := echoPeer(t)
				got := roundTrips(t, relay, peer.LocalAddr(), 5, 100)
				if (got > 0) != tt.wantRelay {
					t.Errorf("%d packets relayed, want relaying %v", got, tt.wantRelay)
				}
			}
			if tt.metric != "" {
				var m bytes.Buffer
				s.WriteMetrics(&m)
				if !strings.Contains(m.String(), tt.metric) || strings.Contains(m.String(), tt.metric+" 0\n") {
					t.Errorf("metrics lack a non-zero %q:\n%s", tt.metric, m.String())
				}
			}
		})
	}
}

func TestSupernodeAllocationQuota(t *testing.T) {
	s := startSupernode(t, SupernodeConfig{MaxAllocationsPerUser: 1})
	first := turnClient(t, s, false, testSecret, "alice", time.Hour)
	relay, err := first.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	if _, err := turnClient(t, s, false, testSecret, "alice", time.Hour).Allocate(); err == nil {
		t.Error("alice's second allocation succeeded past a quota of 1")
	}
	other, err := turnClient(t, s, false, testSecret, "bob", time.Hour).Allocate()
	if err != nil {
		t.Fatalf("bob's first allocation: %v", err)
	}
	other.Close()
	var m bytes.Buffer
	s.WriteMetrics(&m)
	if want := `parley_supernode_quota_refusals_total{quota="allocations"} 1`; !strings.Contains(m.String(), want) {
		t.Errorf("metrics lack %q:\n%s", want, m.String())
	}
}

func TestSupernodeBandwidthQuota(t *testing.T) {
	// 16 kbit/s is 2,000 bytes a second each way: of 40 packets of 500
	// bytes sent within 0.1 s, the bucket's second of burst passes 4.
	s := startSupernode(t, SupernodeConfig{AllowPeers: []netip.Prefix{loopback}, MaxKbpsPerUser: 16})
	relay, err := turnClient(t, s, false, testSecret, "alice", time.Hour).Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	got := roundTrips(t, relay, echoPeer(t).LocalAddr(), 40, 500)
	if got < 2 || got > 6 {
		t.Errorf("%d of 40 packets relayed under a 16 kbit/s quota, want about 4", got)
	}
}

func TestTURNCredentials(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	user, pass := TURNCredentials("secret", "alice", now, time.Hour)
	if user != "1700003600:alice" {
		t.Errorf("username %q", user)
	}
	// As coturn computes it: echo -n 1700003600:alice | openssl sha1 -hmac secret -binary | base64
	if pass != "LLPLO4qjdVL2qZhwr3eImhn7J20=" {
		t.Errorf("password %q", pass)
	}
	tests := []struct {
		name, username string
		wantErr        bool
	}{
		{"valid", user, false},
		{"expired", user, true},
		{"no-expiry", "alice", true},
		{"bad-expiry", "soon:alice", true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := now
			if i == 1 {
				at = now.Add(2 * time.Hour)
			}
			if _, err := parseTURNUsername(tt.username, at); (err != nil) != tt.wantErr {
				t.Errorf("parseTURNUsername(%q) = %v, want error %v", tt.username, err, tt.wantErr)
			}
		})
	}
}

// BenchmarkSupernodeRelay measures one packet's trip client → supernode →
// peer through a channel-bound allocation, the hot path of a relayed call.
func BenchmarkSupernodeRelay(b *testing.B) {
	s, err := NewSupernode(SupernodeConfig{Listen: "127.0.0.1:0", PublicIP: netip.MustParseAddr("127.0.0.1"),
		AuthSecret: testSecret, AllowPeers: []netip.Prefix{loopback}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	username, password := TURNCredentials(testSecret, "bench", time.Now(), time.Hour)
	c, err := turn.NewClient(&turn.ClientConfig{TURNServerAddr: s.UDPAddr().String(), Username: username, Password: password, Conn: conn})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := c.Listen(); err != nil {
		b.Fatal(err)
	}
	relay, err := c.Allocate()
	if err != nil {
		b.Fatal(err)
	}
	defer relay.Close()
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer peer.Close()
	msg := bytes.Repeat([]byte{'x'}, 120)
	buf := make([]byte, 1500)
	// The first write binds a channel; the rest go as ChannelData.
	relay.WriteTo(msg, peer.LocalAddr())
	peer.ReadFrom(buf)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := relay.WriteTo(msg, peer.LocalAddr()); err != nil {
			b.Fatal(err)
		}
		peer.SetReadDeadline(time.Now().Add(time.Second))
		if _, _, err := peer.ReadFrom(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzParseTURNUsername feeds the TURN REST username parser what a client
// may put in a USERNAME attribute.
func FuzzParseTURNUsername(f *testing.F) {
	for _, seed := range []string{"1700003600:alice", "alice", "", ":", "-1:x", "99999999999999999999:u", "1700003600:a:b", "\x00:\xff"} {
		f.Add(seed)
	}
	now := time.Unix(1_700_000_000, 0)
	f.Fuzz(func(t *testing.T, username string) {
		user, err := parseTURNUsername(username, now)
		if err != nil {
			return
		}
		expiry, rest, _ := strings.Cut(username, ":")
		if rest != user {
			t.Errorf("user %q from %q, want %q", user, username, rest)
		}
		if n, perr := strconv.ParseInt(expiry, 10, 64); perr != nil || n < now.Unix() {
			t.Errorf("accepted %q: expiry %q is not a future time", username, expiry)
		}
	})
}

// selfSigned makes a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "supernode"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

func TestSupernodeOverTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	s := startSupernode(t, SupernodeConfig{AllowPeers: []netip.Prefix{loopback}, TLSListen: "127.0.0.1:0",
		TLS: &tls.Config{Certificates: []tls.Certificate{cert}}})
	conn, err := tls.Dial("tcp", s.TLSAddr().String(), &tls.Config{RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	username, password := TURNCredentials(testSecret, "alice", time.Now(), time.Hour)
	c, err := turn.NewClient(&turn.ClientConfig{TURNServerAddr: s.TLSAddr().String(), Username: username, Password: password,
		Conn: turn.NewSTUNConn(conn)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	relay, err := c.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	if got := roundTrips(t, relay, echoPeer(t).LocalAddr(), 20, 120); got < 19 {
		t.Errorf("%d of 20 packets came back through the relay over TLS", got)
	}
}
