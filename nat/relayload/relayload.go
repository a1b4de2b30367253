// Package relayload loads a TURN server with simulated voice calls and
// measures what it does to them: each call is two TURN clients on loopback
// that each allocate a relay and send the other ~120-byte packets at 50
// packets per second, so both legs of both directions cross the relay.
// It also starts the servers being compared (Parley's supernode and
// Debian's coturn) as separate processes, so their CPU can be read apart
// from the load generator's.
package relayload

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/logging"
	"github.com/pion/turn/v4"

	"github.com/parley-voip/parley/nat"
)

// Config describes a load run. The zero value of every field but Server,
// Secret and Calls means its default.
type Config struct {
	Server string // the TURN server's UDP host:port
	Secret string // its TURN REST secret
	Calls  int
	// Duration is how long the calls talk; 0 → 10 s.
	Duration time.Duration
	// PacketsPerSecond each way per call; 0 → 50 (20 ms Opus frames).
	PacketsPerSecond int
	// PayloadBytes per packet; 0 → 120 (a 32 kbit/s Opus frame plus RTP
	// and SRTP overhead). At least 16.
	PayloadBytes int
}

// Result is what a run measured.
type Result struct {
	Calls           int     `json:"calls"`
	FailedCalls     int     `json:"failed_calls"` // calls whose relays could not be set up
	PacketsSent     uint64  `json:"packets_sent"`
	PacketsReceived uint64  `json:"packets_received"`
	LossPct         float64 `json:"loss_pct"`
	// LatencyP50MS and AddedLatencyP99MS are one-way client → relay →
	// client times on loopback, all of which the relay adds.
	LatencyP50MS      float64 `json:"latency_p50_ms"`
	AddedLatencyP99MS float64 `json:"added_latency_p99_ms"`
}

// leg is one side of a simulated call: a TURN client and its relay.
type leg struct {
	conn   net.PacketConn
	client *turn.Client
	relay  net.PacketConn
}

func (l *leg) close() {
	if l.relay != nil {
		l.relay.Close()
	}
	l.client.Close()
	l.conn.Close()
}

// Run loads cfg.Server with cfg.Calls calls for cfg.Duration.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Duration == 0 {
		cfg.Duration = 10 * time.Second
	}
	if cfg.PacketsPerSecond == 0 {
		cfg.PacketsPerSecond = 50
	}
	if cfg.PayloadBytes == 0 {
		cfg.PayloadBytes = 120
	}
	if cfg.Calls <= 0 || cfg.PayloadBytes < 16 || cfg.Server == "" {
		return Result{}, errors.New("relayload: want calls > 0, a server and payloads of at least 16 bytes")
	}
	server, err := net.ResolveUDPAddr("udp", cfg.Server)
	if err != nil {
		return Result{}, fmt.Errorf("relayload: %w", err)
	}

	legs := make([]*leg, 2*cfg.Calls)
	var failed atomic.Int64
	setup(ctx, legs, func(i int) (*leg, error) { return newLeg(server, cfg.Secret, i) }, &failed)
	defer func() {
		for _, l := range legs {
			if l != nil {
				l.close()
			}
		}
	}()
	// Each side lets the other's relay in before anything is sent.
	var calls [][2]*leg
	for i := 0; i < len(legs); i += 2 {
		a, b := legs[i], legs[i+1]
		if a == nil || b == nil {
			continue
		}
		if errA, errB := a.client.CreatePermission(b.relay.LocalAddr()), b.client.CreatePermission(a.relay.LocalAddr()); errA != nil || errB != nil {
			failed.Add(1)
			continue
		}
		calls = append(calls, [2]*leg{a, b})
	}
	res := Result{Calls: cfg.Calls, FailedCalls: cfg.Calls - len(calls)}
	if len(calls) == 0 {
		return res, errors.New("relayload: no call could be set up")
	}

	var (
		hist     histogram
		sent     atomic.Uint64
		received atomic.Uint64
		wg       sync.WaitGroup
	)
	runCtx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	interval := time.Second / time.Duration(cfg.PacketsPerSecond)
	for i, c := range calls {
		for dir := range 2 {
			from, to := c[dir], c[1-dir]
			// Spread the calls' packets over the interval, as real calls
			// starting at random moments are.
			offset := interval * time.Duration(i*2+dir) / time.Duration(2*len(calls))
			wg.Add(2)
			go func() {
				defer wg.Done()
				send(runCtx, from.relay, to.relay.LocalAddr(), offset, interval, cfg.PayloadBytes, &sent)
			}()
			go func() {
				defer wg.Done()
				receive(to.relay, &hist, &received)
			}()
		}
	}
	<-runCtx.Done()
	// Let the last packets land, then stop the readers.
	time.Sleep(300 * time.Millisecond)
	for _, c := range calls {
		for _, l := range c {
			l.relay.SetReadDeadline(time.Now())
		}
	}
	wg.Wait()

	res.PacketsSent, res.PacketsReceived = sent.Load(), received.Load()
	if res.PacketsSent > 0 {
		res.LossPct = 100 * float64(res.PacketsSent-min(res.PacketsReceived, res.PacketsSent)) / float64(res.PacketsSent)
	}
	res.LatencyP50MS, res.AddedLatencyP99MS = hist.quantileMS(0.5), hist.quantileMS(0.99)
	return res, ctx.Err()
}

// setup makes the legs with a few workers, so that a thousand allocations
// do not hit the server in one instant.
func setup(ctx context.Context, legs []*leg, open func(int) (*leg, error), failed *atomic.Int64) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= len(legs) {
					return
				}
				l, err := open(i)
				if err != nil {
					failed.Add(1)
					continue
				}
				legs[i] = l
			}
		}()
	}
	wg.Wait()
}

func newLeg(server *net.UDPAddr, secret string, i int) (*leg, error) {
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	username, password := nat.TURNCredentials(secret, fmt.Sprintf("load%d", i), time.Now(), time.Hour)
	client, err := turn.NewClient(&turn.ClientConfig{
		TURNServerAddr: server.String(),
		Username:       username,
		Password:       password,
		Conn:           conn,
		LoggerFactory:  quietLogs{},
	})
	if err != nil {
		conn.Close()
		return nil, err
	}
	l := &leg{conn: conn, client: client}
	if err := client.Listen(); err != nil {
		l.close()
		return nil, err
	}
	if l.relay, err = client.Allocate(); err != nil {
		l.close()
		return nil, err
	}
	return l, nil
}

// send writes a packet every interval: a sequence number and the send
// time, padded to size.
func send(ctx context.Context, relay net.PacketConn, to net.Addr, offset, interval time.Duration, size int, sent *atomic.Uint64) {
	select {
	case <-time.After(offset):
	case <-ctx.Done():
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	pkt := make([]byte, size)
	for seq := uint32(0); ; seq++ {
		binary.BigEndian.PutUint32(pkt[0:4], magic)
		binary.BigEndian.PutUint32(pkt[4:8], seq)
		binary.BigEndian.PutUint64(pkt[8:16], uint64(time.Now().UnixNano()))
		if _, err := relay.WriteTo(pkt, to); err == nil {
			sent.Add(1)
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

const magic = 0x504c5931 // "PLY1"

func receive(relay net.PacketConn, hist *histogram, received *atomic.Uint64) {
	buf := make([]byte, 1500)
	for {
		n, _, err := relay.ReadFrom(buf)
		if err != nil {
			return
		}
		if n < 16 || binary.BigEndian.Uint32(buf[0:4]) != magic {
			continue
		}
		received.Add(1)
		sentAt := int64(binary.BigEndian.Uint64(buf[8:16]))
		hist.add(time.Duration(time.Now().UnixNano() - sentAt))
	}
}

// histogram counts latencies in 50 µs buckets up to 2 s; no allocation or
// lock per packet.
type histogram struct {
	buckets [40001]atomic.Uint64
}

const bucketWidth = 50 * time.Microsecond

func (h *histogram) add(d time.Duration) {
	i := min(max(int(d/bucketWidth), 0), len(h.buckets)-1)
	h.buckets[i].Add(1)
}

func (h *histogram) quantileMS(q float64) float64 {
	var total uint64
	for i := range h.buckets {
		total += h.buckets[i].Load()
	}
	if total == 0 {
		return 0
	}
	want := uint64(math.Ceil(q * float64(total)))
	var seen uint64
	for i := range h.buckets {
		if seen += h.buckets[i].Load(); seen >= want {
			return float64(time.Duration(i+1)*bucketWidth) / float64(time.Millisecond)
		}
	}
	return float64(time.Duration(len(h.buckets))*bucketWidth) / float64(time.Millisecond)
}

// quietLogs drops pion's logs: under overload a TURN client's complaints
// would flood the bench's output, and loss is measured anyway.
type quietLogs struct{}

func (quietLogs) NewLogger(string) logging.LeveledLogger {
	f := logging.NewDefaultLoggerFactory()
	f.DefaultLogLevel = logging.LogLevelDisabled
	return f.NewLogger("turn")
}
