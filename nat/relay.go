package nat

import (
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// relayConn is one allocation's relay socket: what is written to it goes
// from the client to a peer, what is read from it from a peer to the
// client. It counts both and drops what is over its user's bandwidth quota.
type relayConn struct {
	net.PacketConn
	s    *Supernode
	key  string
	user atomic.Pointer[userState] // set once the allocation is made
}

func (c *relayConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if !c.allowed(c.s.up, len(p), func(u *userState) *tokenBucket { return u.up }) {
		c.s.metrics.bandwidthDrops.Add(1)
		return len(p), nil // a policed packet is lost, as on any full link
	}
	n, err := c.PacketConn.WriteTo(p, addr)
	if err == nil {
		c.s.metrics.toPeer.add(n)
	}
	return n, err
}

func (c *relayConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if err != nil {
			return n, addr, err
		}
		if !c.allowed(c.s.down, n, func(u *userState) *tokenBucket { return u.down }) {
			c.s.metrics.bandwidthDrops.Add(1)
			continue
		}
		c.s.metrics.toClient.add(n)
		return n, addr, nil
	}
}

// allowed reports whether n bytes fit both the user's bucket (picked by
// bucket) and the supernode's total one, spending them if so.
func (c *relayConn) allowed(total *tokenBucket, n int, bucket func(*userState) *tokenBucket) bool {
	if u := c.user.Load(); u != nil {
		if b := bucket(u); b != nil && !b.take(n) {
			return false
		}
	}
	return total == nil || total.take(n)
}

func (c *relayConn) Close() error {
	c.s.mu.Lock()
	delete(c.s.relays, c.key)
	c.s.mu.Unlock()
	return c.PacketConn.Close()
}

// tokenBucket polices a rate: a second's worth of burst, refilled
// continuously.
type tokenBucket struct {
	now  func() time.Time
	rate float64 // bytes per second

	// mu guards the following fields.
	mu     sync.Mutex
	tokens float64
	last   time.Time
}

func newTokenBucket(kbps int, now func() time.Time) *tokenBucket {
	rate := float64(kbps) * 1000 / 8
	return &tokenBucket{now: now, rate: rate, tokens: rate, last: now()}
}

// take reports whether n bytes fit the rate, and spends them if so.
func (b *tokenBucket) take(n int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	b.tokens = min(b.rate, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	if b.tokens < float64(n) {
		return false
	}
	b.tokens -= float64(n)
	return true
}

// metrics are a supernode's counters, exported in Prometheus' text format.
type metrics struct {
	allocationsTotal atomic.Uint64
	authFailures     atomic.Uint64
	quotaRefusals    atomic.Uint64
	peerRefusals     atomic.Uint64
	bandwidthDrops   atomic.Uint64
	toPeer, toClient flow
}

// flow counts one direction of relayed traffic.
type flow struct{ packets, bytes atomic.Uint64 }

func (f *flow) add(n int) {
	f.packets.Add(1)
	f.bytes.Add(uint64(n))
}

// WriteMetrics writes the supernode's metrics in the Prometheus text
// exposition format.
func (s *Supernode) WriteMetrics(w io.Writer) error {
	m := &s.metrics
	type metric struct {
		name, kind, help string
		values           []string // "{labels} value" or " value"
	}
	u := func(v uint64) string { return fmt.Sprint(v) }
	all := []metric{
		{"parley_supernode_allocations", "gauge", "Live TURN allocations.", []string{" " + fmt.Sprint(s.Allocations())}},
		{"parley_supernode_allocations_total", "counter", "TURN allocations made.", []string{" " + u(m.allocationsTotal.Load())}},
		{"parley_supernode_relayed_packets_total", "counter", "Packets relayed, by direction.", []string{
			`{direction="to_peer"} ` + u(m.toPeer.packets.Load()),
			`{direction="to_client"} ` + u(m.toClient.packets.Load()),
		}},
		{"parley_supernode_relayed_bytes_total", "counter", "Payload bytes relayed, by direction.", []string{
			`{direction="to_peer"} ` + u(m.toPeer.bytes.Load()),
			`{direction="to_client"} ` + u(m.toClient.bytes.Load()),
		}},
		{"parley_supernode_quota_refusals_total", "counter", "Requests refused by a per-user quota.", []string{
			`{quota="allocations"} ` + u(m.quotaRefusals.Load()),
			`{quota="bandwidth"} ` + u(m.bandwidthDrops.Load()),
		}},
		{"parley_supernode_peer_refusals_total", "counter", "Permissions refused for a denied peer address.", []string{" " + u(m.peerRefusals.Load())}},
		{"parley_supernode_auth_failures_total", "counter", "TURN requests with bad or expired credentials.", []string{" " + u(m.authFailures.Load())}},
	}
	for _, mt := range all {
		if _, err := fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", mt.name, mt.help, mt.name, mt.kind); err != nil {
			return err
		}
		for _, v := range mt.values {
			if _, err := fmt.Fprintf(w, "%s%s\n", mt.name, v); err != nil {
				return err
			}
		}
	}
	return nil
}
