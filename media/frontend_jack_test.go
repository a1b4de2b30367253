//go:build linux

package media

import (
	"context"
	"log/slog"
	"maps"
	"math"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// speak plays speech.wav, repeated, to sink in real time until ctx ends,
// and returns what it played.
func speak(ctx context.Context, t *testing.T, sink Sink) []int16 {
	c, err := openClip("perf/speech.wav")
	if err != nil {
		t.Error(err)
		return nil
	}
	src := newClipSource(c, true)
	var played []int16
	frame := make([]int16, FrameSamples)
	for src.ReadFrame(ctx, frame) == nil {
		if err := sink.WriteFrame(frame); err != nil {
			t.Error(err)
			return played
		}
		played = append(played, frame...)
	}
	return played
}

// TestFrontEndCancelsEchoThroughJACK wires the speaker straight to the
// microphone in JACK, an echo path of unit gain through real device
// streams, and plays speech: without echo cancellation the microphone
// hears all of it; with it, the echo is down by at least 15 dB (a
// generous bound: 26-37 dB measured) over the last two of five seconds —
// or by 6 dB if the devices glitched in those two seconds (xruns, which
// a busy machine causes JACK's dummy driver and which move the echo). This checks the reference taken from what the device plays and
// its alignment by the devices' latencies.
func TestFrontEndCancelsEchoThroughJACK(t *testing.T) {
	startJACK(t)
	for _, tt := range []struct {
		name       string
		aec        Switch
		loDB, hiDB float64 // echo level, relative to what was played
		glitchHiDB float64 // the same when the devices glitched
	}{
		{"without-aec", Off, -3, 1, 1},
		{"with-aec", On, -200, -15, -6},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, err := OpenFrontEnd(FrontEndConfig{AudioSettings: AudioSettings{AEC: tt.aec, NS: Off, AGC: Off}})
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if !loopBack(t) {
				t.Skip("jack_connect is not installed: no echo path")
			}
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			var played []int16
			var wg sync.WaitGroup
			wg.Go(func() { played = speak(ctx, t, f.Sink()) })
			var heard []int16
			frame := make([]int16, FrameSamples)
			glitches := func() uint64 {
				f.mu.Lock()
				defer f.mu.Unlock()
				mic, spk := f.src.(StatsReporter).Stats(), f.sink.(StatsReporter).Stats()
				return mic.HostXruns + mic.Overruns + spk.HostXruns + spk.Underruns
			}
			var before uint64
			measureFrom := time.Now().Add(3 * time.Second)
			for {
				if before == 0 && time.Now().After(measureFrom) {
					before = glitches() + 1
				}
				if err := f.Source().ReadFrame(ctx, frame); err != nil {
					if ctx.Err() == nil {
						t.Errorf("ReadFrame: %v", err)
					}
					break
				}
				heard = append(heard, frame...)
			}
			wg.Wait()
			tail := 2 * SampleRate
			if len(heard) < tail || len(played) < tail {
				t.Fatalf("heard %d and played %d samples, want 2 s of each", len(heard), len(played))
			}
			echoDB := 20 * math.Log10(max(rms(toFloat64(heard[len(heard)-tail:])), 1e-9)/rms(toFloat64(played[len(played)-tail:])))
			hi := tt.hiDB
			if glitched := glitches() + 1 - before; glitched > 0 {
				t.Logf("the devices glitched %d times while measured", glitched)
				hi = tt.glitchHiDB
			}
			t.Logf("echo %.1f dB relative to the far end over the last 2 s", echoDB)
			within(t, "echo level (dB)", echoDB, tt.loDB, hi)
		})
	}
}

// deviceLossChildEnv marks the child process that
// TestFrontEndSurvivesDeviceLoss runs itself in.
const deviceLossChildEnv = "PARLEY_MEDIA_TEST_DEVICE_LOSS"

// TestFrontEndSurvivesDeviceLoss kills the sound server under a front
// end's microphone and speaker: reads and writes go on, each side falls
// back (here to silence and nothing, as no device is left) and says so.
// PortAudio stays wedged afterwards, so the test runs in a child process.
func TestFrontEndSurvivesDeviceLoss(t *testing.T) {
	if os.Getenv(deviceLossChildEnv) == "" {
		runSelfInChild(t, "TestFrontEndSurvivesDeviceLoss", deviceLossChildEnv)
		return
	}
	server := startJACK(t)
	var logs syncBuffer
	f, err := OpenFrontEnd(FrontEndConfig{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	told := make(chan Fallback, 2)
	f.OnFallback(func(fb Fallback) { told <- fb })
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		frame := make([]int16, FrameSamples)
		for ctx.Err() == nil {
			if err := f.Sink().WriteFrame(frame); err != nil {
				t.Errorf("WriteFrame: %v", err)
				return
			}
			time.Sleep(FrameDuration)
		}
	})
	frame := make([]int16, FrameSamples)
	for range 5 {
		if err := f.Source().ReadFrame(ctx, frame); err != nil {
			t.Fatal(err)
		}
	}
	server.stop()
	for ctx.Err() == nil {
		if err := f.Source().ReadFrame(ctx, frame); err != nil && ctx.Err() == nil {
			t.Fatalf("ReadFrame after the server died: %v", err)
		}
		if mic, speaker := f.Devices(); mic == "silence" && speaker == "null" {
			break
		}
	}
	cancel()
	t.Logf("log:\n%s", logs.String())
	for _, want := range []string{"microphone stopped; switched to silence", "speaker stopped; switched to null"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
	wg.Wait() // the speaker's writer has stopped: both fallbacks were told
	got := map[string]string{}
	for len(told) > 0 {
		fb := <-told
		got[fb.Side] = fb.Was + " → " + fb.Now
	}
	if want := map[string]string{"microphone": "default → silence", "speaker": "default → null"}; !maps.Equal(got, want) {
		t.Errorf("OnFallback was told %v, want %v", got, want)
	}
}

// TestFrontEndRingbackThroughJACK plays the ringback tone on a device
// speaker wired to the microphone: the microphone hears 425 Hz until the
// tone is stopped. A call-ended tone plays out before the speaker closes.
func TestFrontEndRingbackThroughJACK(t *testing.T) {
	startJACK(t)
	f, err := OpenFrontEnd(FrontEndConfig{AudioSettings: AudioSettings{AEC: Off, NS: Off, AGC: Off}})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !loopBack(t) {
		t.Skip("jack_connect is not installed: no way to hear the speaker")
	}
	f.PlayTone(Ringback)
	frame := make([]int16, FrameSamples)
	var heard []int16
	for range 40 { // 800 ms: within the first second's burst
		if err := f.Source().ReadFrame(t.Context(), frame); err != nil {
			t.Fatal(err)
		}
		heard = append(heard, frame...)
	}
	tail := toFloat64(heard[len(heard)/2:])
	// Generous: a device glitch (silence inserted) costs a few crossings.
	within(t, "ringback frequency", zeroCrossingFrequency(tail, SampleRate), 400, 450)
	f.PlayTone(NoTone)
	for range 10 {
		if err := f.Source().ReadFrame(t.Context(), frame); err != nil {
			t.Fatal(err)
		}
	}
	within(t, "level after the tone stopped", rms(toFloat64(frame)), 0, 0.001)

	f.PlayTone(CallEnded)
	start := time.Now()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	within(t, "close waited for the call-ended tone", time.Since(start), 600*time.Millisecond, 2*time.Second)
}

// TestFrontEndSwitchesToDevicesThroughJACK starts on a tone and a file,
// switches both sides to JACK's device while the microphone is being
// read, checks that the device speaker's audio reaches the device
// microphone, and switches back.
func TestFrontEndSwitchesToDevicesThroughJACK(t *testing.T) {
	startJACK(t)
	out := t.TempDir() + "/out.wav"
	f, err := OpenFrontEnd(FrontEndConfig{Mic: "tone:440", Speaker: "file:" + out, AudioSettings: AudioSettings{AEC: Off, NS: Off, AGC: Off}})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { playTone(ctx, f.Sink(), 1000, 500) })
	frame := make([]int16, FrameSamples)
	read := func(n int) float64 {
		t.Helper()
		for range n {
			if err := f.Source().ReadFrame(ctx, frame); err != nil {
				t.Fatal(err)
			}
		}
		return zeroCrossingFrequency(toFloat64(frame), SampleRate)
	}
	within(t, "tone microphone", read(5), 430, 450)
	if err := f.SetSpeaker("default"); err != nil {
		t.Fatal(err)
	}
	if err := f.SetMic("default"); err != nil {
		t.Fatal(err)
	}
	if !loopBack(t) {
		t.Skip("jack_connect is not installed: no way to hear the speaker")
	}
	within(t, "device microphone hearing the device speaker", read(25), 950, 1050)
	if err := f.SetMic("tone:880"); err != nil {
		t.Fatal(err)
	}
	within(t, "back on a tone", read(5), 870, 890)
}
