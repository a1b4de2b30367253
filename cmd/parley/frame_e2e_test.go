package main

import (
	"testing"
	"time"

	"github.com/parley-voip/parley/call"
)

// TestMixedFrameSizes runs a call whose ends send different frames (alice
// 10 ms, bob 40 ms): each plays the other's frames, and the media stats
// (levels, encoder, jitter buffer) come out in the JSON.
func TestMixedFrameSizes(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end call skipped in -short mode")
	}
	r := talk{
		dirAddr:    startDirectory(t),
		duration:   6 * time.Second,
		aliceFlags: []string{"--frame", "10ms"},
		bobFlags:   []string{"--frame", "40ms"},
	}.run(t)
	checkStats(t, "alice", r.alice, "bob", call.Outgoing, call.EndLocalHangup, 6)
	checkStats(t, "bob", r.bob, "alice", call.Incoming, call.EndRemoteHangup, 6)
	for _, c := range []struct {
		who string
		s   call.Stats
	}{{"alice", r.alice}, {"bob", r.bob}} {
		s := c.s
		t.Logf("%s: jitter buffer mean %.1f ms target %.1f ms, encoder %d bit/s complexity %d, levels sent %.1f received %.1f dBFS",
			c.who, s.JitterBufferMeanDelayMS, s.JitterBufferTargetDelayMS, s.EncoderBitrateBPS, s.EncoderComplexity,
			s.AudioLevelSentDBFS, s.AudioLevelReceivedDBFS)
		if s.JitterBufferMeanDelayMS <= 0 || s.JitterBufferMeanDelayMS > 100 {
			t.Errorf("%s: jitter_buffer_mean_delay_ms %.1f on loopback, want 0 < d ≤ 100", c.who, s.JitterBufferMeanDelayMS)
		}
		if s.EncoderBitrateBPS < 12000 || s.EncoderBitrateBPS > 64000 || s.EncoderComplexity < 3 {
			t.Errorf("%s: encoder at %d bit/s, complexity %d", c.who, s.EncoderBitrateBPS, s.EncoderComplexity)
		}
		if s.AudioLevelSentDBFS < -60 || s.AudioLevelReceivedDBFS < -60 {
			t.Errorf("%s: levels sent %.1f, received %.1f dBFS: want speech (≥ -60)", c.who, s.AudioLevelSentDBFS, s.AudioLevelReceivedDBFS)
		}
	}
	r.checkHeard(t)
	r.checkRecordingLengths(t)
}
