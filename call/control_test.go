package call

import (
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// The gate is on the audio hot path: one WriteRTP per frame sent.

func newTestGate(t testing.TB) *gate {
	track, err := webrtc.NewTrackLocalStaticRTP(opusCodec, "audio", "test")
	if err != nil {
		t.Fatal(err)
	}
	return &gate{track: track}
}

func TestGateRenumbersAcrossAHold(t *testing.T) {
	g := newTestGate(t)
	p := &rtp.Packet{Header: rtp.Header{SequenceNumber: 65534}, Payload: []byte{1}}
	var sent []uint16
	var marked []bool
	for i := range 6 {
		g.closed.Store(i == 2 || i == 3) // two frames held
		if err := g.WriteRTP(p); err != nil {
			t.Fatal(err)
		}
		if !g.closed.Load() {
			sent = append(sent, g.out.SequenceNumber)
			marked = append(marked, g.out.Marker)
		}
		p.SequenceNumber++ // wraps: 65534, 65535, 0, 1, 2, 3
	}
	want := []uint16{65534, 65535, 0, 1}
	if len(sent) != len(want) || sent[0] != want[0] || sent[1] != want[1] || sent[2] != want[2] || sent[3] != want[3] {
		t.Errorf("sequence numbers sent %v, want %v: continuous across the hold", sent, want)
	}
	if marked[1] || !marked[2] || marked[3] {
		t.Errorf("markers %v, want only the first packet after the hold marked (a talkspurt starts)", marked)
	}
	if got := g.dropped.Load(); got != 2 {
		t.Errorf("dropped %d packets, want 2", got)
	}
	if allocs := testing.AllocsPerRun(100, func() { g.WriteRTP(p) }); allocs != 0 {
		t.Errorf("WriteRTP allocates %.0f times a packet, want 0", allocs)
	}
}

func BenchmarkGate(b *testing.B) {
	g := newTestGate(b)
	p := &rtp.Packet{Header: rtp.Header{SequenceNumber: 1}, Payload: make([]byte, 80)}
	b.ReportAllocs()
	for b.Loop() {
		g.WriteRTP(p)
		p.SequenceNumber++
	}
}
