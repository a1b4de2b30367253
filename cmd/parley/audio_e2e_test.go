package main

import (
	"testing"

	"github.com/parley-voip/parley/call"
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
