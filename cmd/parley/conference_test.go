package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-voip/parley/call"
	"github.com/parley-voip/parley/media"
	"github.com/parley-voip/parley/media/quality"
)

// conferenceSlot is how far apart the parties' sentences start: each party
// says one short sentence in its own slot, so that every sentence can be
// looked for in every recording.
const conferenceSlot = 3 * time.Second

// What STOI must reach for a sentence heard in a conference, and stay under
// for one's own sentence, which the mix leaves out (measured: heard 0.82 to
// 1.00 on a loaded machine, one's own 0.06 to 0.32).
const (
	minSTOIHeard = 0.6
	maxSTOIOther = 0.45
)

// party is one member of the test conference and what it says.
type party struct {
	user, text, voice string
	wav               string  // its microphone
	said              []int16 // the microphone at 48 kHz
	slot              int     // its sentence starts slot × conferenceSlot into said
}

// slottedSpeech writes p's sentence after slot × conferenceSlot of silence.
func (p *party) slottedSpeech(t *testing.T, dir string, slot int) {
	t.Helper()
	p.slot = slot
	pcm, rate, err := quality.Synthesize(context.Background(), p.text, p.voice)
	if errors.Is(err, exec.ErrNotFound) {
		t.Skip("espeak-ng is not installed (make test installs it): no speech to send")
	}
	if err != nil {
		t.Fatal(err)
	}
	if max := int(conferenceSlot.Seconds()*float64(rate)) * 9 / 10; len(pcm) > max {
		t.Fatalf("%q lasts %.1f s, longer than a slot", p.text, float64(len(pcm))/float64(rate))
	}
	padded := append(make([]int16, slot*int(conferenceSlot.Seconds())*rate), pcm...)
	p.wav = filepath.Join(dir, p.user+".wav")
	if err := media.WriteWAV(p.wav, padded, rate); err != nil {
		t.Fatal(err)
	}
	if p.said, err = media.ReadWAV(p.wav); err != nil {
		t.Fatal(err)
	}
}

// TestFivePartyConference: a host and four participants, each a real
// process; the host dials the four (who run an ordinary 'parley answer')
// and mixes. Every party must hear the other four and not itself.
func TestFivePartyConference(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end conference skipped in -short mode")
	}
	dir := t.TempDir()
	in := func(name string) string { return filepath.Join(dir, name) }
	parties := []*party{
		{user: "host", text: "Welcome everyone to the weekly meeting.", voice: "en"},
		{user: "anna", text: "Seven green apples fell from the tree.", voice: "en+f3"},
		{user: "bert", text: "The train leaves the station at noon.", voice: "en+m3"},
		{user: "cleo", text: "Bright stars shine over the cold sea.", voice: "en+f2"},
		{user: "dave", text: "Please bring the blue folder tomorrow.", voice: "en+m1"},
	}
	for i, p := range parties {
		// Slot 0 is silence: the calls placed last connect meanwhile.
		p.slottedSpeech(t, dir, i+1)
	}
	addr := startDirectory(t)
	host := parties[0]
	participants := parties[1:]
	procs := map[string]*proc{}
	// Participants type on their standard input ("chat …").
	typed := map[string]*io.PipeWriter{}
	for _, p := range participants {
		stdin, w := io.Pipe()
		typed[p.user] = w
		procs[p.user] = startParleyWithStdin(t, stdin, "answer", "--calls", "1", "--user", p.user, "--home", in(p.user),
			"--directory", addr, "--mic", "file:"+p.wav, "--speaker", "file:"+in(p.user+"-heard.wav"),
			"--stats", in(p.user+".json"), "--events", "--accept-calls-from", "anyone") // no contacts to make first
	}
	for _, p := range participants {
		procs[p.user].await(t, "waiting for calls", 10*time.Second)
	}

	// The host reaches the participants every way there is: the first by
	// 'parley call', the next two by --add, the last by "add" on stdin.
	duration := time.Duration(len(parties)+1)*conferenceSlot + time.Second
	args := []string{"call", participants[0].user, "--add", participants[1].user, "--add", participants[2].user,
		"--user", host.user, "--home", in(host.user), "--directory", addr,
		"--duration", duration.String(), "--mic", "file:" + host.wav, "--speaker", "file:" + in("host-heard.wav"),
		"--stats", in("host.json"), "--events"}
	stdin, hostTypes := io.Pipe()
	start := time.Now()
	hostProc := startParleyWithStdin(t, stdin, args...)
	fmt.Fprintf(hostTypes, "add %s\n", participants[3].user)
	for range participants {
		hostProc.await(t, `"event":"joined"`, 20*time.Second)
	}

	// Chat: the host's message reaches everyone; a participant's reaches
	// the host and, relayed by it, the others.
	chatLine := func(who string, p *proc, want string) {
		t.Helper()
		for {
			line := p.await(t, `"event":"chat"`, 10*time.Second)
			var ev struct{ Peer, Message string }
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatalf("%s: %q: %v", who, line, err)
			}
			if ev.Message == want {
				return
			}
			t.Logf("%s: chat %q while waiting for %q", who, ev.Message, want)
		}
	}
	// The host's chat may find a channel not yet open: say it until all heard it.
	eventuallyHeard := make(chan string, len(participants))
	for _, p := range participants {
		go func() {
			for {
				select {
				case line := <-procs[p.user].lines:
					if strings.Contains(line, `"event":"chat"`) && strings.Contains(line, "welcome all") {
						eventuallyHeard <- p.user
						return
					}
				case <-procs[p.user].done:
					return
				}
			}
		}()
	}
	heard := map[string]bool{}
	for deadline := time.Now().Add(10 * time.Second); len(heard) < len(participants); {
		fmt.Fprintln(hostTypes, "chat welcome all")
		select {
		case who := <-eventuallyHeard:
			heard[who] = true
		case <-time.After(500 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %v heard the host's chat within 10 s", heard)
		}
	}
	fmt.Fprintln(typed[participants[0].user], "chat hi from anna")
	chatLine("host", hostProc, "hi from anna")
	for _, p := range participants[1:] {
		chatLine(p.user, procs[p.user], "anna: hi from anna")
	}
	// Live figures per participant, every 5 s.
	var stats struct {
		Peer            string
		PacketsReceived uint64 `json:"packets_received"`
	}
	if line := hostProc.await(t, `"event":"stats"`, 10*time.Second); json.Unmarshal([]byte(line), &stats) != nil || stats.Peer == "" || stats.PacketsReceived == 0 {
		t.Errorf("host's stats event: %s", line)
	}
	for _, w := range append([]*io.PipeWriter{hostTypes}, slices.Collect(maps.Values(typed))...) {
		w.Close() // end of input: no command (DESIGN §6)
	}
	if err := hostProc.wait(t, duration+30*time.Second); err != nil {
		t.Fatalf("parley conference: %v\n%s", err, hostProc.stderr.String())
	}
	wall := time.Since(start)
	for _, p := range participants {
		if err := procs[p.user].wait(t, 10*time.Second); err != nil {
			t.Fatalf("%s's parley answer: %v\n%s", p.user, err, procs[p.user].stderr.String())
		}
	}
	cpu := hostProc.cpuPerSecond(wall)
	t.Logf("host CPU: %.3f CPU-s per second (%.3f per participant), over %v of process life", cpu, cpu/float64(len(participants)), wall.Round(time.Millisecond))

	// Per-participant stats at the host: one line each, a completed call.
	hostStats := readParticipantResults(t, in("host.json"))
	if len(hostStats) != len(participants) {
		t.Fatalf("host wrote %d stats lines, want %d", len(hostStats), len(participants))
	}
	for _, r := range hostStats {
		t.Logf("host with %s: mix %+v; received %d lost %d late %d concealed %d of %d samples, jitter buffer %.0f ms",
			r.Peer, r.Mix, r.PacketsReceived, r.PacketsLost, r.PacketsLate, r.ConcealedSamples, r.TotalSamples, r.JitterBufferMeanDelayMS)
		checkStats(t, "host with "+r.Peer, r.Stats, r.Peer, call.Outgoing, call.EndLocalHangup, duration.Seconds())
		if r.Mix.Name != r.Peer || r.Mix.FramesMixed < uint64(duration/media.FrameDuration)/2 {
			t.Errorf("host's mix stats for %s: %+v", r.Peer, r.Mix)
		}
	}
	// The host leaving ended every participant's call cleanly.
	for _, p := range participants {
		st := readStats(t, in(p.user+".json"))
		if len(st) != 1 {
			t.Fatalf("%s wrote %d stats lines, want 1", p.user, len(st))
		}
		checkStats(t, p.user, st[0], host.user, call.Incoming, call.EndRemoteHangup, duration.Seconds())
	}

	for _, listener := range parties {
		heard, err := media.ReadWAV(in(listener.user + "-heard.wav"))
		if err != nil {
			t.Fatal(err)
		}
		for _, speaker := range parties {
			// Only around the speaker's slot, where its sentence can be: a
			// third of the work of comparing whole recordings.
			from := samplesIn(time.Duration(speaker.slot)*conferenceSlot - conferenceSlot/2)
			to := samplesIn(time.Duration(speaker.slot+1)*conferenceSlot + conferenceSlot/2)
			res, err := quality.Compare(window(speaker.said, from, to), window(heard, from, to), media.SampleRate, conferenceSlot/2)
			if err != nil {
				t.Errorf("%s hearing %s: %v", listener.user, speaker.user, err)
				continue
			}
			judgeHearing(t, listener, speaker, res)
		}
	}
}

// judgeHearing checks what listener heard of speaker's sentence in a
// conference: the others' clearly, its own not at all.
func judgeHearing(t *testing.T, listener, speaker *party, res quality.Result) {
	t.Helper()
	t.Logf("%s hears %s: correlation %.3f, STOI %.2f, lag %v", listener.user, speaker.user, res.Correlation, res.STOI, res.Lag)
	// STOI, not the envelope correlation, judges what was heard: it
	// follows the delay block by block, and on a busy machine the jitter
	// buffers and the mixer move the delay within a sentence.
	switch {
	case speaker == listener && (res.STOI >= maxSTOIOther || res.Correlation >= maxCorrelationOther):
		t.Errorf("%s hears itself (STOI %.2f, correlation %.3f)", listener.user, res.STOI, res.Correlation)
	case speaker != listener && res.STOI < minSTOIHeard:
		t.Errorf("%s does not hear %s (STOI %.2f, want ≥ %.2f)", listener.user, speaker.user, res.STOI, minSTOIHeard)
	}
}

func readParticipantResults(t *testing.T, path string) []call.ParticipantResult {
	t.Helper()
	return readJSONLines[call.ParticipantResult](t, path)
}

func TestExtractAdds(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		adds, rest []string
	}{
		{name: "no-adds", args: []string{"bob", "--duration", "5s"}, rest: []string{"bob", "--duration", "5s"}},
		{name: "adds-after-the-name", args: []string{"bob", "--add", "carol", "--mic", "silence", "-add", "dave"},
			adds: []string{"carol", "dave"}, rest: []string{"bob", "--mic", "silence"}},
		{name: "equals-form", args: []string{"--add=carol", "bob"}, adds: []string{"carol"}, rest: []string{"bob"}},
		{name: "a-dangling-add-stays-for-the-flag-parser", args: []string{"bob", "--add"}, rest: []string{"bob", "--add"}},
		{name: "nothing-after-a-double-dash", args: []string{"bob", "--", "--add", "carol"}, rest: []string{"bob", "--", "--add", "carol"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			adds, rest := extractAdds(tt.args)
			if fmt.Sprint(adds) != fmt.Sprint(tt.adds) || fmt.Sprint(rest) != fmt.Sprint(tt.rest) {
				t.Errorf("extractAdds(%q) = %q, %q; want %q, %q", tt.args, adds, rest, tt.adds, tt.rest)
			}
		})
	}
}

func samplesIn(d time.Duration) int { return int(d * media.SampleRate / time.Second) }

// window returns pcm[from:to], both clamped to pcm.
func window(pcm []int16, from, to int) []int16 {
	return pcm[min(from, len(pcm)):min(to, len(pcm))]
}
