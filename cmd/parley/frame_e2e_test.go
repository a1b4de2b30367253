package main

import (
	"path/filepath"
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
	dir := t.TempDir()
	aPath, speechA48 := speechFile(t, dir, "a.wav", speechA, "en")
	bPath, speechB48 := speechFile(t, dir, "b.wav", speechB, "en+f3")
	addr := startDirectory(t)

	bob := startParley(t, "answer", "--calls", "1", "--user", "bob", "--home", filepath.Join(dir, "bob"),
		"--directory", addr, "--frame", "40ms", "--mic", "file:"+bPath,
		"--speaker", "file:"+filepath.Join(dir, "bob-heard.wav"), "--stats", filepath.Join(dir, "bob.json"))
	bob.await(t, "waiting for calls", 10*time.Second)
	runParley(t, "contacts", "add", "bob", "--user", "alice", "--home", filepath.Join(dir, "alice"), "--directory", addr)
	runParley(t, "contacts", "accept", "alice", "--user", "bob", "--home", filepath.Join(dir, "bob"), "--directory", addr)

	alice := startParley(t, "call", "bob", "--user", "alice", "--home", filepath.Join(dir, "alice"),
		"--directory", addr, "--duration", "6s", "--frame", "10ms", "--mic", "file:"+aPath,
		"--speaker", "file:"+filepath.Join(dir, "alice-heard.wav"), "--stats", filepath.Join(dir, "alice.json"))
	if err := alice.wait(t, 30*time.Second); err != nil {
		t.Fatalf("parley call: %v\n%s", err, alice.stderr.String())
	}
	if err := bob.wait(t, 10*time.Second); err != nil {
		t.Fatalf("parley answer: %v\n%s", err, bob.stderr.String())
	}
	as, bs := readStats(t, filepath.Join(dir, "alice.json")), readStats(t, filepath.Join(dir, "bob.json"))
	if len(as) != 1 || len(bs) != 1 {
		t.Fatalf("got %d and %d stats lines, want 1 each", len(as), len(bs))
	}
	checkStats(t, "alice", as[0], "bob", call.Outgoing, call.EndLocalHangup, 6)
	checkStats(t, "bob", bs[0], "alice", call.Incoming, call.EndRemoteHangup, 6)
	for _, c := range []struct {
		who string
		s   call.Stats
	}{{"alice", as[0]}, {"bob", bs[0]}} {
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
	checkHeard(t, "bob", filepath.Join(dir, "bob-heard.wav"), speechA48, speechB48)
	checkHeard(t, "alice", filepath.Join(dir, "alice-heard.wav"), speechB48, speechA48)
	checkRecordingLength(t, "alice", filepath.Join(dir, "alice-heard.wav"), as[0].DurationS)
	checkRecordingLength(t, "bob", filepath.Join(dir, "bob-heard.wav"), bs[0].DurationS)
}
