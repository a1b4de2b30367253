package main

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/parley-voip/parley/call"
	"github.com/parley-voip/parley/media"
)

// TestCallWithAudioProcessing runs a call with echo cancellation, noise
// suppression and gain control forced on (files would leave them off),
// and microphone gain and speaker volume set: each side must still hear
// the other's speech.
func TestCallWithAudioProcessing(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end call skipped in -short mode")
	}
	flags := []string{"--aec", "on", "--ns", "on", "--agc", "on", "--mic-gain", "3", "--speaker-volume", "-3"}
	r := talk{dirAddr: startDirectory(t), aliceFlags: flags, bobFlags: flags}.run(t)
	t.Logf("alice: %+v", r.alice)
	t.Logf("bob:   %+v", r.bob)
	checkStats(t, "alice", r.alice, "bob", call.Outgoing, call.EndLocalHangup, 7)
	checkStats(t, "bob", r.bob, "alice", call.Incoming, call.EndRemoteHangup, 7)
	r.checkHeard(t)
	r.checkRecordingLengths(t)
}

// TestSwitchMicMidCallThroughTheCLI switches alice's microphone from one
// tone to another on her stdin while the call runs: the call goes on, and
// bob hears the first tone, then the second.
func TestSwitchMicMidCallThroughTheCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end call skipped in -short mode")
	}
	dirAddr := startDirectory(t)
	dir := t.TempDir()
	heard := filepath.Join(dir, "bob-heard.wav")
	as := func(user string, args ...string) []string {
		return append(args, "--user", user, "--home", filepath.Join(dir, user), "--directory", dirAddr, "--events")
	}
	bob, bobIn := startWithCommands(t, as("bob", "answer", "--calls", "1", "--mic", "silence", "--speaker", "file:"+heard)...)
	bob.await(t, "waiting for calls", 10*time.Second)
	befriend(t, onThisHost, onThisHost, dir, dirAddr)
	alice, aliceIn := startWithCommands(t, as("alice", "call", "bob", "--mic", "tone:440", "--speaker", "null")...)
	alice.awaitEvent(t, "active", 15*time.Second)
	time.Sleep(2 * time.Second)
	aliceIn.send(t, "mic tone:880")
	time.Sleep(2 * time.Second)
	aliceIn.send(t, "hangup")
	if ev := alice.awaitEvent(t, "ended", 10*time.Second); ev.EndReason != call.EndLocalHangup {
		t.Errorf("alice's call ended %q, want local-hangup", ev.EndReason)
	}
	bobIn.w.Close() // exec waits for the end of a stdin it copies
	if err := bob.wait(t, 10*time.Second); err != nil {
		t.Fatalf("parley answer: %v\n%s", err, bob.stderr.String())
	}
	pcm, err := media.ReadWAV(heard)
	if err != nil {
		t.Fatal(err)
	}
	second := media.SampleRate
	if len(pcm) < 3*second {
		t.Fatalf("bob recorded %d samples, want over 3 s", len(pcm))
	}
	for _, w := range []struct {
		what   string
		from   int
		lo, hi float64
	}{
		{"before the switch", second / 2, 420, 460},
		{"after the switch", len(pcm) - 3*second/2, 860, 900},
	} {
		x := make([]float64, second)
		for i := range x {
			x[i] = float64(pcm[w.from+i])
		}
		crossings := 0
		for i := 1; i < len(x); i++ {
			if (x[i-1] < 0) != (x[i] < 0) {
				crossings++
			}
		}
		if hz := float64(crossings) / 2; hz < w.lo || hz > w.hi {
			t.Errorf("bob heard %.0f Hz %s, want %.0f..%.0f", hz, w.what, w.lo, w.hi)
		}
	}
}
