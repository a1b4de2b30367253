package call

import (
	"context"
	"math"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/parley-voip/parley/media"
)

// toneLevel is the power of pcm at hz (Goertzel), relative to full scale.
func toneLevel(pcm []int16, hz float64) float64 {
	coeff := 2 * math.Cos(2*math.Pi*hz/media.SampleRate)
	var s1, s2 float64
	for _, v := range pcm {
		s := float64(v)/32768 + coeff*s1 - s2
		s2, s1 = s1, s
	}
	return (s1*s1 + s2*s2 - coeff*s1*s2) / float64(len(pcm)*len(pcm))
}

// TestConferenceMixesNMinusOne: a host and two participants, each sending
// a tone of its own; one participant is called, the other calls in. Each
// must hear the others' tones and not its own, and the host closing ends
// both calls as the peer's hang-up.
func TestConferenceMixesNMinusOne(t *testing.T) {
	url := startDirectory(t)
	dir := t.TempDir()
	tones := map[string]float64{"host": 400, "alice": 700, "bob": 1100}
	rec := func(user string) string { return filepath.Join(dir, user+".wav") }
	phoneOf := func(user string, maxCalls int) *Phone {
		return newPhone(t, url, user, PhoneConfig{MaxCalls: maxCalls, Media: MediaConfig{
			Mic: "tone:" + fmtHz(tones[user]), Speaker: "file:" + rec(user)}})
	}
	host := phoneOf("host", 4)
	alice, bob := phoneOf("alice", 1), phoneOf("bob", 1)
	conf, err := StartConference(ConferenceConfig{Phone: host, Media: MediaConfig{
		Mic: "tone:" + fmtHz(tones["host"]), Speaker: "file:" + rec("host")}})
	if err != nil {
		t.Fatal(err)
	}

	if _, err := conf.Add(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := conf.Add(context.Background(), "alice"); err == nil {
		t.Error("alice was added twice")
	}
	aliceCall := nextIncoming(t, alice)
	aliceCall.Answer()
	bobCall := dial(t, bob, "host", DialOptions{})
	if err := conf.Admit(nextIncoming(t, host)); err != nil {
		t.Fatal(err)
	}
	active(t, aliceCall)
	active(t, bobCall)
	time.Sleep(3 * time.Second)
	snap := conf.Snapshot()
	if len(snap) != 2 || snap[0].Peer != "alice" || snap[1].Peer != "bob" {
		t.Fatalf("snapshot of %d participants: %+v", len(snap), snap)
	}
	for _, r := range snap {
		if r.PacketsReceived == 0 || r.PacketsSent == 0 || r.Mix.FramesMixed == 0 {
			t.Errorf("live record of %s: sent %d, received %d, mix %+v", r.Peer, r.PacketsSent, r.PacketsReceived, r.Mix)
		}
	}

	closeConference(t, conf, 2)
	for _, c := range []*Call{aliceCall, bobCall} {
		if _, reason := result(t, c); reason != EndRemoteHangup {
			t.Errorf("%s's call ended %s, want remote-hangup", c.phone.cfg.Directory.User(), reason)
		}
	}
	checkTones(t, tones, rec)
}

// checkTones checks that in the last two thirds of every party's
// recording (once every call is up) each hears the others' tones and not
// its own.
func checkTones(t *testing.T, tones map[string]float64, rec func(user string) string) {
	t.Helper()
	for listener := range tones {
		pcm, err := media.ReadWAV(rec(listener))
		if err != nil {
			t.Fatal(err)
		}
		if len(pcm) < media.SampleRate {
			t.Fatalf("%s recorded %d samples", listener, len(pcm))
		}
		pcm = pcm[len(pcm)/3:]
		for speaker, hz := range tones {
			level := 10 * math.Log10(toneLevel(pcm, hz)+1e-20)
			t.Logf("%s hears %s's %.0f Hz at %.1f dB", listener, speaker, hz, level)
			switch {
			case speaker == listener && level > -50:
				t.Errorf("%s hears its own tone at %.1f dB", listener, level)
			case speaker != listener && level < -30:
				t.Errorf("%s hears %s's tone only at %.1f dB", listener, speaker, level)
			}
		}
	}
}

// TestCallBecomesConference: a two-party call turned into a conference
// (ConferenceConfig.From) goes on without a break, and the peer added
// then hears both, as both hear it.
func TestCallBecomesConference(t *testing.T) {
	url := startDirectory(t)
	dir := t.TempDir()
	tones := map[string]float64{"host": 400, "alice": 700, "bob": 1100}
	rec := func(user string) string { return filepath.Join(dir, user+".wav") }
	phoneOf := func(user string) *Phone {
		return newPhone(t, url, user, PhoneConfig{Media: MediaConfig{
			Mic: "tone:" + fmtHz(tones[user]), Speaker: "file:" + rec(user)}})
	}
	host, alice, bob := phoneOf("host"), phoneOf("alice"), phoneOf("bob")
	first := dial(t, host, "alice", DialOptions{})
	aliceCall := nextIncoming(t, alice)
	aliceCall.Answer()
	active(t, first)
	time.Sleep(time.Second)

	host.SetMaxCalls(3)
	conf, err := StartConference(ConferenceConfig{Phone: host, From: first})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conf.Add(context.Background(), "bob"); err != nil {
		t.Fatal(err)
	}
	bobCall := nextIncoming(t, bob)
	bobCall.Answer()
	active(t, bobCall)
	time.Sleep(3 * time.Second)
	closeConference(t, conf, 2)
	for _, c := range []*Call{aliceCall, bobCall} {
		if st, reason := result(t, c); reason != EndRemoteHangup || st.DurationS < 3 {
			t.Errorf("%s's call ended %s after %.1f s, want remote-hangup after 3 s or more", c.phone.cfg.Directory.User(), reason, st.DurationS)
		}
	}
	checkTones(t, tones, rec)
}

// closeConference closes conf, which must have had n participants, each
// hung up by the host after taking part in the mix.
func closeConference(t *testing.T, conf *Conference, n int) {
	t.Helper()
	results, err := conf.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != n {
		t.Fatalf("%d results, want %d", len(results), n)
	}
	for _, r := range results {
		if r.EndReason != EndLocalHangup || r.Mix.Name != r.Peer || r.Mix.FramesMixed == 0 {
			t.Errorf("host's record of %s: %s, mix %+v", r.Peer, r.EndReason, r.Mix)
		}
	}
}

func fmtHz(hz float64) string { return strconv.FormatFloat(hz, 'f', -1, 64) }

// TestConferenceHostMicIsProcessed: the host's microphone goes through the
// front end's processing as a call's does (--aec/--ns/--agc): with it on,
// the VAD finds a silent microphone silent; with it off (auto, on a
// non-device) it is not consulted.
func TestConferenceHostMicIsProcessed(t *testing.T) {
	url := startDirectory(t)
	tests := []struct {
		name      string
		audio     media.AudioSettings
		wantVoice bool
	}{
		{"processing-on", media.AudioSettings{AEC: media.On, NS: media.On, AGC: media.On}, false},
		{"auto-off-for-a-file", media.AudioSettings{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conf, err := StartConference(ConferenceConfig{Phone: newPhone(t, url, "host-"+tt.name, PhoneConfig{}),
				Media: MediaConfig{Mic: "silence", Speaker: "null", Audio: tt.audio}})
			if err != nil {
				t.Fatal(err)
			}
			defer conf.Close()
			port := conf.mixer.AddPort("probe") // a participant's sender: it starts the mixer
			defer port.Close()
			frame := make([]int16, media.FrameSamples)
			for range 50 { // a second: past the VAD's hangover
				if err := port.ReadFrame(t.Context(), frame); err != nil {
					t.Fatal(err)
				}
			}
			if got := conf.devices.Meter().Voice; got != tt.wantVoice {
				t.Errorf("the host's VAD says voice %v, want %v", got, tt.wantVoice)
			}
		})
	}
}
