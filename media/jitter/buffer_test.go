package jitter

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	frame = 960                   // samples per 20 ms frame at 48 kHz
	tick  = 20 * time.Millisecond // one frame
	ssrcA = 0xA11CE
	ssrcB = 0xB0B
)

var t0 = time.Unix(1_700_000_000, 0)

// pkt is a packet of a test stream; ssrc 0 means ssrcA.
type pkt struct {
	seq  uint16
	ts   uint32
	ssrc uint32
	at   time.Duration // arrival after t0
	// payload overrides the default payload (seq and ts encoded).
	payload []byte
}

// stream returns n packets of one 20 ms frame each, sent and arriving in
// order every 20 ms from t0, the first with firstSeq and firstTS.
func stream(firstSeq uint16, firstTS uint32, n int) []pkt {
	pkts := make([]pkt, n)
	for i := range pkts {
		pkts[i] = pkt{seq: firstSeq + uint16(i), ts: firstTS + uint32(i*frame), at: time.Duration(i) * tick}
	}
	return pkts
}

// without returns pkts minus those with the given sequence numbers.
func without(pkts []pkt, seqs ...uint16) []pkt {
	return slices.DeleteFunc(pkts, func(p pkt) bool { return slices.Contains(seqs, p.seq) })
}

// arriving returns pkts with packet seq arriving at at instead.
func arriving(pkts []pkt, seq uint16, at time.Duration) []pkt {
	for i := range pkts {
		if pkts[i].seq == seq {
			pkts[i].at = at
		}
	}
	return pkts
}

func encodePayload(seq uint16, ts uint32) []byte {
	b := make([]byte, 6)
	binary.BigEndian.PutUint16(b, seq)
	binary.BigEndian.PutUint32(b[2:], ts)
	return b
}

func payloadSeq(b []byte) uint16 { return binary.BigEndian.Uint16(b) }

// counts are the Stats counters a case expects.
type counts struct {
	Received, Lost, Late, Duplicates, Reordered, Discarded, Expanded, Compressed uint64
}

func countsOf(s Stats) counts {
	return counts{s.Received, s.Lost, s.Late, s.Duplicates, s.Reordered, s.Discarded, s.Expanded, s.Compressed}
}

// play pushes pkts at their arrival times and pops every 20 ms from t0
// (a push at the same instant as a pop comes first). It describes each Pop
// by a token: "-" empty, "N" the packet with sequence number N, "N+M"
// packets N and M merged into one frame, "L" lost, "L/N" lost with packet N
// offered for FEC.
func play(t *testing.T, b *Buffer, pkts []pkt, pops int) string {
	t.Helper()
	pkts = slices.Clone(pkts)
	slices.SortStableFunc(pkts, func(x, y pkt) int { return int(x.at - y.at) })
	var out []string
	for i := range pops {
		now := t0.Add(time.Duration(i) * tick)
		for len(pkts) > 0 && !t0.Add(pkts[0].at).After(now) {
			p := pkts[0]
			pkts = pkts[1:]
			if p.ssrc == 0 {
				p.ssrc = ssrcA
			}
			if p.payload == nil {
				p.payload = encodePayload(p.seq, p.ts)
			}
			b.Push(p.seq, p.ts, p.ssrc, p.payload, t0.Add(p.at))
		}
		f := b.Pop(now)
		switch f.Kind {
		case FrameEmpty:
			out = append(out, "-")
		case FramePacket:
			if got := binary.BigEndian.Uint32(f.Payload[2:]); got != f.Timestamp {
				t.Errorf("pop %d: packet with timestamp %d returned as timestamp %d", i, got, f.Timestamp)
			}
			tok := fmt.Sprint(payloadSeq(f.Payload))
			if f.Merge != nil {
				tok += fmt.Sprintf("+%d", payloadSeq(f.Merge))
			}
			out = append(out, tok)
		case FrameLost:
			if f.FECPayload != nil {
				out = append(out, fmt.Sprintf("L/%d", payloadSeq(f.FECPayload)))
			} else {
				out = append(out, "L")
			}
		}
	}
	if len(pkts) > 0 {
		t.Fatalf("test bug: %d packets arrive after the last pop", len(pkts))
	}
	return strings.Join(out, " ")
}

func TestPlayout(t *testing.T) {
	const wrapTS = 1<<32 - 2*frame
	tests := []struct {
		name  string
		pkts  []pkt
		pops  int
		want  string
		stats counts
	}{
		{
			name:  "in-order-plays-after-target-delay",
			pkts:  stream(100, 5000, 5),
			pops:  8,
			want:  "- - 100 101 102 103 104 -",
			stats: counts{Received: 5},
		},
		{
			name:  "reordered-within-delay-plays-in-order",
			pkts:  arriving(arriving(stream(0, 0, 5), 3, 40*time.Millisecond), 2, 60*time.Millisecond),
			pops:  8,
			want:  "- - 0 1 2 3 4 -",
			stats: counts{Received: 5, Reordered: 1},
		},
		{
			name:  "duplicate-of-buffered-packet-dropped",
			pkts:  append(stream(0, 0, 4), pkt{seq: 2, ts: 2 * frame, at: 45 * time.Millisecond}),
			pops:  7,
			want:  "- - 0 1 2 3 -",
			stats: counts{Received: 5, Duplicates: 1},
		},
		{
			name:  "duplicate-of-played-packet-dropped",
			pkts:  append(stream(0, 0, 4), pkt{seq: 1, ts: frame, at: 100 * time.Millisecond}),
			pops:  7,
			want:  "- - 0 1 2 3 -",
			stats: counts{Received: 5, Duplicates: 1},
		},
		{
			// Packet 2's 60 ms delay raises the target at once (grow fast).
			name:  "late-packet-concealed-dropped-and-delay-grows",
			pkts:  arriving(stream(0, 0, 5), 2, 100*time.Millisecond),
			pops:  10,
			want:  "- - 0 1 L/3 - - - 3 4",
			stats: counts{Received: 5, Lost: 1, Late: 1, Expanded: 3},
		},
		{
			name:  "lost-packet-offers-next-for-fec",
			pkts:  without(stream(0, 0, 5), 2),
			pops:  8,
			want:  "- - 0 1 L/3 - 3 4", // after a loss the target keeps a frame for FEC
			stats: counts{Received: 4, Lost: 1, Expanded: 1},
		},
		{
			name:  "burst-loss-fec-only-for-last",
			pkts:  without(stream(0, 0, 6), 2, 3),
			pops:  9,
			want:  "- - 0 1 L - L/4 4 5",
			stats: counts{Received: 4, Lost: 2, Expanded: 1},
		},
		{
			name: "dtx-pause-is-not-loss",
			pkts: append(stream(0, 0, 3),
				pkt{seq: 3, ts: 10 * frame, at: 200 * time.Millisecond},
				pkt{seq: 4, ts: 11 * frame, at: 220 * time.Millisecond}),
			pops:  14,
			want:  "- - 0 1 2 - - - - - - - 3 4",
			stats: counts{Received: 5},
		},
		{
			// Packet 3 arrives 50 ms before its timestamp says it could: the
			// sender's clock leapt, so playout catches up by merging 1 and 2.
			name: "dtx-pause-with-early-next-talkspurt-is-not-loss",
			pkts: append(stream(0, 0, 3),
				pkt{seq: 3, ts: 5 * frame, at: 50 * time.Millisecond}),
			pops:  9,
			want:  "- - 0 1+2 - - 3 - -",
			stats: counts{Received: 4, Compressed: 1},
		},
		{
			name: "loss-before-dtx-pause-counted-when-talkspurt-plays",
			pkts: append(stream(0, 0, 2),
				pkt{seq: 3, ts: 10 * frame, at: 200 * time.Millisecond},
				pkt{seq: 4, ts: 11 * frame, at: 220 * time.Millisecond}),
			pops:  14,
			want:  "- - 0 1 - - - - - - - - 3 4",
			stats: counts{Received: 4, Lost: 1},
		},
		{
			name:  "sequence-wraps-without-skipping-65535",
			pkts:  stream(65533, 0, 6),
			pops:  9,
			want:  "- - 65533 65534 65535 0 1 2 -",
			stats: counts{Received: 6},
		},
		{
			name:  "loss-of-65535-recovered-from-0",
			pkts:  without(stream(65533, 0, 6), 65535),
			pops:  9,
			want:  "- - 65533 65534 L/0 - 0 1 2",
			stats: counts{Received: 5, Lost: 1, Expanded: 1},
		},
		{
			name:  "timestamp-wraps",
			pkts:  stream(7, wrapTS, 5),
			pops:  8,
			want:  "- - 7 8 9 10 11 -",
			stats: counts{Received: 5},
		},
		{
			name:  "both-wrap-with-reorder-and-loss",
			pkts:  arriving(arriving(without(stream(65534, wrapTS, 6), 1), 0, 20*time.Millisecond), 65535, 25*time.Millisecond),
			pops:  9,
			want:  "- 65534 65535 0 L/2 - 2 3 -", // 0 came 20 ms early: all play 20 ms sooner
			stats: counts{Received: 5, Lost: 1, Reordered: 1, Expanded: 1},
		},
		{
			name: "ssrc-change-starts-anew-and-drops-strays",
			pkts: append(stream(0, 0, 4),
				pkt{seq: 500, ts: 12345, ssrc: ssrcB, at: 80 * time.Millisecond},
				pkt{seq: 4, ts: 4 * frame, at: 90 * time.Millisecond},
				pkt{seq: 501, ts: 12345 + frame, ssrc: ssrcB, at: 100 * time.Millisecond},
				pkt{seq: 502, ts: 12345 + 2*frame, ssrc: ssrcB, at: 120 * time.Millisecond}),
			pops: 9,
			want: "- - 0 1 - - 500 501 502",
			// Packets 2 and 3 are flushed by the change, 4 is a stray.
			stats: counts{Received: 8, Discarded: 3},
		},
		{
			name: "timestamp-jump-resyncs-instead-of-losing-frames",
			pkts: append(stream(0, 0, 3),
				pkt{seq: 3, ts: 600 * 48000, at: 60 * time.Millisecond},
				pkt{seq: 4, ts: 600*48000 + frame, at: 80 * time.Millisecond}),
			pops:  7,
			want:  "- - 0 - - 3 4",
			stats: counts{Received: 5, Discarded: 2},
		},
		{
			name: "lone-sequence-jump-discarded",
			pkts: append(stream(0, 0, 5),
				pkt{seq: 20000, ts: 2 * frame, at: 30 * time.Millisecond}),
			pops:  8,
			want:  "- - 0 1 2 3 4 -",
			stats: counts{Received: 6, Discarded: 1},
		},
		{
			name: "confirmed-sequence-jump-restarts",
			pkts: append(stream(0, 0, 2),
				pkt{seq: 20000, ts: 2 * frame, at: 40 * time.Millisecond},
				pkt{seq: 20001, ts: 3 * frame, at: 60 * time.Millisecond},
				pkt{seq: 20002, ts: 4 * frame, at: 80 * time.Millisecond}),
			pops:  8,
			want:  "- - 0 - - 20001 20002 -",
			stats: counts{Received: 5, Discarded: 2},
		},
		{
			// Packet 3's frame passed while nothing was buffered: playout steps
			// back and plays it late instead of losing it.
			name: "underrun-plays-late-packets-without-loss",
			pkts: append(stream(0, 0, 3),
				pkt{seq: 3, ts: 3 * frame, at: 200 * time.Millisecond},
				pkt{seq: 4, ts: 4 * frame, at: 220 * time.Millisecond},
				pkt{seq: 5, ts: 5 * frame, at: 240 * time.Millisecond}),
			pops:  15,
			want:  "- - 0 1 2 - - - - - - 3 4 5 -",
			stats: counts{Received: 6, Expanded: 1},
		},
		{
			name: "underrun-counts-missing-packets-as-lost",
			pkts: append(stream(0, 0, 3),
				pkt{seq: 5, ts: 5 * frame, at: 200 * time.Millisecond},
				pkt{seq: 6, ts: 6 * frame, at: 220 * time.Millisecond}),
			pops:  14,
			want:  "- - 0 1 2 - - - - - - 5 6 -",
			stats: counts{Received: 5, Lost: 2, Expanded: 2},
		},
		{
			name: "earlier-packet-before-start-moves-start-back",
			pkts: []pkt{
				{seq: 1, ts: frame, at: 0},
				{seq: 0, ts: 0, at: 5 * time.Millisecond},
				{seq: 2, ts: 2 * frame, at: 20 * time.Millisecond},
				{seq: 3, ts: 3 * frame, at: 40 * time.Millisecond},
			},
			pops:  6,
			want:  "- 0 1 2 3 -",
			stats: counts{Received: 4, Reordered: 1},
		},
		{
			// Nothing has played yet, so even a packet 65 ms out of order
			// starts playout; 1 and 2 are proven lost by the sequence numbers.
			name: "much-earlier-packet-before-start-moves-start-back",
			pkts: []pkt{
				{seq: 3, ts: 3 * frame, at: 0},
				{seq: 0, ts: 0, at: 5 * time.Millisecond},
				{seq: 4, ts: 4 * frame, at: 20 * time.Millisecond},
			},
			pops:  7,
			want:  "- 0 L - L/3 3 4",
			stats: counts{Received: 3, Lost: 2, Reordered: 1, Expanded: 1},
		},
		{
			name: "bad-payloads-discarded",
			pkts: append(stream(0, 0, 3),
				pkt{seq: 3, ts: 3 * frame, at: 50 * time.Millisecond, payload: []byte{}},
				pkt{seq: 4, ts: 4 * frame, at: 50 * time.Millisecond, payload: make([]byte, MaxPayload+1)}),
			pops:  8,
			want:  "- - 0 1 2 - - -",
			stats: counts{Received: 5, Discarded: 2},
		},
		{
			name: "second-packet-for-a-frame-discarded",
			pkts: append(stream(0, 0, 3),
				pkt{seq: 3, ts: 2 * frame, at: 45 * time.Millisecond}),
			pops:  6,
			want:  "- - 0 1 2 -",
			stats: counts{Received: 4, Discarded: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New(Config{MinDelay: 40 * time.Millisecond})
			if got := play(t, b, tt.pkts, tt.pops); got != tt.want {
				t.Errorf("playout\n got %s\nwant %s", got, tt.want)
			}
			if got := countsOf(b.Stats()); got != tt.stats {
				t.Errorf("stats\n got %+v\nwant %+v", got, tt.stats)
			}
		})
	}
}

func TestPushCopiesPayload(t *testing.T) {
	b := New(Config{})
	buf := []byte{1, 2, 3}
	b.Push(0, 0, ssrcA, buf, t0)
	buf[0] = 9
	f := b.Pop(t0.Add(time.Second))
	if f.Kind != FramePacket || f.Payload[0] != 1 {
		t.Fatalf("Pop = %v %v, want the packet as pushed [1 2 3]", f.Kind, f.Payload)
	}
}

func TestDelayStats(t *testing.T) {
	b := New(Config{MinDelay: 60 * time.Millisecond})
	if s := b.Stats(); s.Delay != 0 || s.MeanDelay != 0 || s.TargetDelay != 60*time.Millisecond {
		t.Fatalf("before playout: Delay %v MeanDelay %v TargetDelay %v, want 0, 0, 60ms", s.Delay, s.MeanDelay, s.TargetDelay)
	}
	b.Push(0, 0, ssrcA, []byte{1}, t0)
	b.Push(1, frame, ssrcA, []byte{1}, t0.Add(25*time.Millisecond))
	if f := b.Pop(t0.Add(59 * time.Millisecond)); f.Kind != FrameEmpty {
		t.Fatalf("Pop before the target delay = %v, want empty", f.Kind)
	}
	b.Pop(t0.Add(61 * time.Millisecond))
	if got := b.Stats().Delay; got != 61*time.Millisecond {
		t.Errorf("Delay after first packet = %v, want 61ms", got)
	}
	b.Pop(t0.Add(81 * time.Millisecond))
	if s := b.Stats(); s.Delay != 56*time.Millisecond || s.MeanDelay != (61+56)*time.Millisecond/2 {
		t.Errorf("after second packet: Delay %v MeanDelay %v, want 56ms and 58.5ms", s.Delay, s.MeanDelay)
	}
}

func TestTenMillisecondFrames(t *testing.T) {
	b := New(Config{FrameSamples: 480, MinDelay: 20 * time.Millisecond})
	for i := range 4 {
		b.Push(uint16(i), uint32(i*480), ssrcA, []byte{byte(i)}, t0.Add(time.Duration(i)*10*time.Millisecond))
	}
	var got []FrameKind
	for i := range 6 {
		got = append(got, b.Pop(t0.Add(time.Duration(i)*10*time.Millisecond)).Kind)
	}
	want := []FrameKind{FrameEmpty, FrameEmpty, FramePacket, FramePacket, FramePacket, FramePacket}
	if !slices.Equal(got, want) {
		t.Errorf("kinds = %v, want %v", got, want)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"zero-is-default", Config{}, true},
		{"ten-ms-frames", Config{FrameSamples: 480}, true},
		{"video-clock", Config{ClockRate: 90000, FrameSamples: 3000}, true},
		{"negative-frame", Config{FrameSamples: -1}, false},
		{"frame-too-short", Config{FrameSamples: 48}, false},
		{"frame-too-long", Config{FrameSamples: 48000}, false},
		{"clock-too-slow", Config{ClockRate: 100, FrameSamples: 2}, false},
		{"negative-min-delay", Config{MinDelay: -time.Millisecond}, false},
		{"max-delay-too-long", Config{MaxDelay: time.Minute}, false},
		{"max-delay-below-min-delay", Config{MinDelay: 500 * time.Millisecond, MaxDelay: 510 * time.Millisecond}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
			if !tt.ok {
				defer func() {
					if recover() == nil {
						t.Error("New accepted an invalid config")
					}
				}()
			}
			New(tt.cfg)
		})
	}
}

func TestMemoryBounded(t *testing.T) {
	b := New(Config{})
	slots := len(b.slots)
	payload := make([]byte, MaxPayload)
	// A peer floods packets covering a wide range of timestamps, never popped.
	for i := range 100_000 {
		b.Push(uint16(i), uint32(i*37*frame/10), ssrcA, payload, t0.Add(time.Duration(i)*time.Microsecond))
	}
	if len(b.slots) != slots || b.buffered > int(b.maxAhead)+1 {
		t.Fatalf("after a flood: %d slots (was %d), %d buffered (max %d)", len(b.slots), slots, b.buffered, b.maxAhead+1)
	}
	for i := range b.slots {
		if cap(b.slots[i].payload) != MaxPayload {
			t.Fatalf("slot %d payload grew to %d bytes", i, cap(b.slots[i].payload))
		}
	}
}

func TestSteadyStateDoesNotAllocate(t *testing.T) {
	b := New(Config{})
	payload := make([]byte, 120)
	var i int
	step := func() {
		now := t0.Add(time.Duration(i) * tick)
		b.Push(uint16(i), uint32(i*frame), ssrcA, payload, now)
		b.Pop(now)
		i++
	}
	for range 10 {
		step()
	}
	if allocs := testing.AllocsPerRun(1000, step); allocs != 0 {
		t.Errorf("Push+Pop allocate %v times per frame, want 0", allocs)
	}
}

// TestConcurrentPushPop runs a reader and a playout goroutine against one
// Buffer (run with -race) and checks every packet is played once, in order.
// The reader stays at most 40 packets ahead, within MaxDelay.
func TestConcurrentPushPop(t *testing.T) {
	const n, ahead = 2000, 40
	b := New(Config{})
	credits := make(chan struct{}, n)
	for range ahead {
		credits <- struct{}{}
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range n {
			<-credits
			b.Push(uint16(i), uint32(i*frame), ssrcA, encodePayload(uint16(i), uint32(i*frame)), t0)
		}
	})
	var played []uint16
	deadline := time.Now().Add(10 * time.Second)
	for len(played) < n && time.Now().Before(deadline) {
		// An empty frame is an underrun (the reader is behind): the next packet
		// restarts playout, and the clock given to Pop is always past its start.
		switch f := b.Pop(t0.Add(time.Second)); f.Kind {
		case FramePacket:
			played = append(played, payloadSeq(f.Payload))
			credits <- struct{}{}
			if f.Merge != nil {
				played = append(played, payloadSeq(f.Merge))
				credits <- struct{}{}
			}
		case FrameLost:
			t.Fatalf("frame %d lost; stats %+v", len(played), b.Stats())
		}
	}
	close(credits) // releases the reader if the deadline passed
	wg.Wait()
	for i, seq := range played {
		if seq != uint16(i) {
			t.Fatalf("frame %d played packet %d", i, seq)
		}
	}
	if s := b.Stats(); len(played) != n || s.Lost != 0 || s.Late != 0 {
		t.Fatalf("played %d of %d packets; stats %+v", len(played), n, s)
	}
}

// FuzzBuffer drives a Buffer with arbitrary packets and pops. Each 8-byte
// record is one event: a pop that advances the clock, or a push whose
// sequence number, timestamp, SSRC and arrival move by the record's deltas.
func FuzzBuffer(f *testing.F) {
	f.Add([]byte{})
	var inOrder []byte
	for range 20 {
		inOrder = append(inOrder, 0, 1, 0, 0, 0, 20, 2, 0, 0xff, 0, 0, 0, 0, 20, 0, 0)
	}
	f.Add(inOrder)
	f.Add([]byte{0, 0xff, 0xff, 0x7f, 0xff, 5, 10, 1, 0, 0x80, 0, 0x80, 0, 1, 2, 3, 0xff, 1, 2, 3, 4, 5, 6, 7})
	f.Fuzz(func(t *testing.T, data []byte) {
		b := New(Config{FrameSamples: 480, MinDelay: 30 * time.Millisecond, MaxDelay: 200 * time.Millisecond})
		slots := len(b.slots)
		var (
			seq     uint16
			ts      uint32
			ssrc    uint32 = 1
			now            = t0
			prev    Stats
			played  uint64
			payload [MaxPayload + 1]byte
		)
		for ; len(data) >= 8; data = data[8:] {
			r := data[:8]
			if r[0]&1 == 1 {
				now = now.Add(time.Duration(r[1]) * time.Millisecond)
				fr := b.Pop(now)
				switch fr.Kind {
				case FramePacket:
					played++
					if fr.Merge != nil {
						played++
					}
					if len(fr.Payload) == 0 || len(fr.Payload) > MaxPayload || fr.FECPayload != nil || len(fr.Merge) > MaxPayload {
						t.Fatalf("bad packet frame: %d bytes, fec %v, %d merge bytes", len(fr.Payload), fr.FECPayload != nil, len(fr.Merge))
					}
				case FrameLost:
					if fr.Payload != nil || fr.Merge != nil || len(fr.FECPayload) > MaxPayload {
						t.Fatalf("bad lost frame: payload %v, %d fec bytes", fr.Payload, len(fr.FECPayload))
					}
				case FrameEmpty:
					if fr.Payload != nil || fr.FECPayload != nil || fr.Merge != nil {
						t.Fatal("empty frame with payload")
					}
				default:
					t.Fatalf("unknown kind %v", fr.Kind)
				}
			} else {
				seq += uint16(int8(r[1]))
				ts += uint32(int16(binary.BigEndian.Uint16(r[2:]))) * 16
				if r[4] == 0xff {
					ssrc++
				}
				now = now.Add(time.Duration(r[5]) * time.Millisecond / 4)
				n := int(binary.BigEndian.Uint16(r[6:])) % (len(payload) + 1)
				b.Push(seq, ts, ssrc, payload[:n], now)
			}
			s := b.Stats()
			if s.Received < prev.Received || s.Lost < prev.Lost || s.Late < prev.Late ||
				s.Duplicates < prev.Duplicates || s.Reordered < prev.Reordered || s.Discarded < prev.Discarded {
				t.Fatalf("a counter went down: %+v after %+v", s, prev)
			}
			prev = s
			if len(b.slots) != slots || b.buffered < 0 || b.buffered > int(b.maxAhead)+1 {
				t.Fatalf("%d slots (was %d), %d buffered", len(b.slots), slots, b.buffered)
			}
			// Every packet is played, dropped (and counted) or still buffered.
			if got := played + s.Late + s.Duplicates + s.Discarded + uint64(b.buffered); got != s.Received {
				t.Fatalf("received %d packets but accounted for %d: played %d, buffered %d, %+v",
					s.Received, got, played, b.buffered, s)
			}
		}
	})
}

func BenchmarkPushPop(b *testing.B) {
	buf := New(Config{})
	payload := make([]byte, 80)
	i := 0
	for b.Loop() {
		now := t0.Add(time.Duration(i) * tick)
		buf.Push(uint16(i), uint32(i*frame), ssrcA, payload, now)
		buf.Pop(now)
		i++
	}
}
