package main

import (
	"encoding/json"
	"maps"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parley-voip/parley/call"
	"github.com/parley-voip/parley/media"
	"github.com/parley-voip/parley/media/quality"
)

// TestAddToATwoPartyCall: "add carol" typed into a plain 'parley call bob'
// makes the call a conference hosted by the caller without dropping bob:
// carol is dialled and hears bob and the host, bob hears carol, and each
// hears the others and not itself.
func TestAddToATwoPartyCall(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end conference skipped in -short mode")
	}
	dir := t.TempDir()
	in := func(name string) string { return filepath.Join(dir, name) }
	host := &party{user: "host", text: "Welcome everyone to the weekly meeting.", voice: "en"}
	bob := &party{user: "bob", text: "The train leaves the station at noon.", voice: "en+m3"}
	carol := &party{user: "carol", text: "Seven green apples fell from the tree.", voice: "en+f3"}
	// Carol speaks soon after she joins, the host and bob once she surely
	// has, each in a slot of the others' silence.
	carol.slottedSpeech(t, dir, 1)
	host.slottedSpeech(t, dir, 5)
	bob.slottedSpeech(t, dir, 7)       // a slot apart: bob's own window holds none of the host's sentence
	const maxJoin = 3 * conferenceSlot // carol's sentence is over before the host's
	addr := startDirectory(t)
	procs := map[string]*proc{}
	for _, p := range []*party{bob, carol} {
		procs[p.user] = startParley(t, "answer", "--calls", "1", "--user", p.user, "--home", in(p.user),
			"--directory", addr, "--mic", "file:"+p.wav, "--speaker", "file:"+in(p.user+"-heard.wav"),
			"--stats", in(p.user+".json"), "--events", "--accept-calls-from", "anyone")
		procs[p.user].await(t, "waiting for calls", 10*time.Second)
	}
	hostProc, hostTypes := startWithCommands(t, "call", bob.user, "--user", host.user, "--home", in(host.user),
		"--directory", addr, "--mic", "file:"+host.wav, "--speaker", "file:"+in("host-heard.wav"),
		"--stats", in("host.json"), "--events")
	// Every mic file starts with its party's call: the host's and bob's
	// together, carol's when she joins.
	talking := hostProc.awaitEvent(t, string(call.StateActive), 20*time.Second)
	start := map[string]time.Time{host.user: talking.Time, bob.user: talking.Time}
	added := time.Now()
	hostTypes.send(t, "add carol")
	for {
		var ev struct {
			Event, Peer string
			Time        time.Time
		}
		line := hostProc.await(t, `"event":"joined"`, maxJoin)
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if ev.Peer == carol.user {
			start[carol.user] = ev.Time
			break
		}
	}
	t.Logf("carol joined %v after 'add carol'", start[carol.user].Sub(added).Round(time.Millisecond))
	if late := start[carol.user].Sub(talking.Time); late > maxJoin {
		t.Fatalf("carol joined %v after the call started, want within %v", late, maxJoin)
	}
	end := talking.Time.Add(8*conferenceSlot + time.Second)
	time.Sleep(time.Until(end))
	hostTypes.send(t, "hangup")
	hostTypes.w.Close() // end of input is no command (DESIGN §6); the process's wait needs it
	if err := hostProc.wait(t, 20*time.Second); err != nil {
		t.Fatalf("host: %v\n%s", err, hostProc.stderr.String())
	}
	for _, p := range []*party{bob, carol} {
		if err := procs[p.user].wait(t, 10*time.Second); err != nil {
			t.Fatalf("%s's parley answer: %v\n%s", p.user, err, procs[p.user].stderr.String())
		}
	}

	// Bob's call was never dropped: one call, the whole time, ended by the
	// host; the host recorded both participants.
	seconds := end.Sub(talking.Time).Seconds()
	hostStats := readParticipantResults(t, in("host.json"))
	if len(hostStats) != 2 {
		t.Fatalf("host wrote %d stats lines, want 2", len(hostStats))
	}
	for _, r := range hostStats {
		want := seconds
		if r.Peer == carol.user {
			want = end.Sub(start[carol.user]).Seconds()
		}
		checkStats(t, "host with "+r.Peer, r.Stats, r.Peer, call.Outgoing, call.EndLocalHangup, want)
	}
	for _, p := range []*party{bob, carol} {
		st := readStats(t, in(p.user+".json"))
		if len(st) != 1 {
			t.Fatalf("%s wrote %d stats lines, want 1", p.user, len(st))
		}
		want := seconds
		if p == carol {
			want = end.Sub(start[carol.user]).Seconds()
		}
		checkStats(t, p.user, st[0], host.user, call.Incoming, call.EndRemoteHangup, want)
	}

	parties := []*party{host, bob, carol}
	for _, listener := range parties {
		heard, err := media.ReadWAV(in(listener.user + "-heard.wav"))
		if err != nil {
			t.Fatal(err)
		}
		for _, speaker := range parties {
			// Where the speaker's sentence is in the listener's recording:
			// their files started when their calls did.
			shift := samplesIn(start[speaker.user].Sub(start[listener.user]))
			from := samplesIn(time.Duration(speaker.slot)*conferenceSlot - conferenceSlot/2)
			to := samplesIn(time.Duration(speaker.slot+1)*conferenceSlot + conferenceSlot/2)
			res, err := quality.Compare(window(speaker.said, from, to), window(heard, max(from+shift, 0), max(to+shift, 0)), media.SampleRate, conferenceSlot/2)
			if err != nil && speaker != listener {
				t.Errorf("%s hearing %s: %v", listener.user, speaker.user, err)
				continue
			}
			judgeHearing(t, listener, speaker, res)
		}
	}
}

// TestAddDuringAnsweredCall: "add NAME" works on the answering side too:
// bob, in alice's call, adds carol; alice's chat reaches carol through bob;
// hanging up ends it for both, and bob's 'parley answer --calls 1' counts
// the conference as its call.
func TestAddDuringAnsweredCall(t *testing.T) {
	addr := startDirectory(t)
	dir := t.TempDir()
	as := func(user string, args ...string) []string {
		return append(args, "--user", user, "--home", filepath.Join(dir, user), "--directory", addr,
			"--mic", "tone:440", "--speaker", "null", "--stats", filepath.Join(dir, user+".json"), "--events")
	}
	bob, bobTypes := startWithCommands(t, as("bob", "answer", "--calls", "1", "--accept-calls-from", "anyone")...)
	carol := startParley(t, as("carol", "answer", "--calls", "1", "--accept-calls-from", "anyone")...)
	for _, p := range []*proc{bob, carol} {
		p.await(t, "waiting for calls", 10*time.Second)
	}
	alice, aliceTypes := startWithCommands(t, as("alice", "call", "bob")...)
	bob.awaitEvent(t, string(call.StateActive), 20*time.Second)
	bobTypes.send(t, "add carol")
	if line := bob.await(t, `"event":"joined","peer":"carol"`, 20*time.Second); line == "" {
		t.Fatal("carol did not join")
	}
	// Carol's chat channel may open just after her call: alice says it
	// until carol has it.
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	aliceTypes.send(t, "chat hi all")
	for relayed := false; !relayed; {
		select {
		case line := <-carol.lines:
			relayed = strings.Contains(line, `"message":"alice: hi all"`)
		case <-tick.C:
			aliceTypes.send(t, "chat hi all")
		case <-deadline:
			t.Fatal("alice's chat did not reach carol through bob within 10 s")
		}
	}
	aliceTypes.w.Close()
	bobTypes.send(t, "hangup")
	bobTypes.w.Close()
	for who, p := range map[string]*proc{"bob": bob, "alice": alice, "carol": carol} {
		if err := p.wait(t, 20*time.Second); err != nil {
			t.Fatalf("%s: %v\n%s", who, err, p.stderr.String())
		}
	}
	hostStats := readParticipantResults(t, filepath.Join(dir, "bob.json"))
	ends := map[string]string{}
	for _, r := range hostStats {
		ends[r.Peer] = string(r.Direction) + " " + string(r.EndReason)
	}
	if want := map[string]string{"alice": "incoming local-hangup", "carol": "outgoing local-hangup"}; !maps.Equal(ends, want) {
		t.Errorf("bob's stats: %v, want %v", ends, want)
	}
	for _, who := range []string{"alice", "carol"} {
		if st := readStats(t, filepath.Join(dir, who+".json")); len(st) != 1 || st[0].EndReason != call.EndRemoteHangup {
			t.Errorf("%s's stats: %+v, want one call ended remote-hangup", who, st)
		}
	}
}
