package media

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSwitch(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    Switch
		wantErr bool
	}{
		{"on", On, false},
		{"off", Off, false},
		{"auto", Auto, false},
		{"yes", Auto, true},
	} {
		t.Run(tt.in, func(t *testing.T) {
			var s Switch
			err := s.Set(tt.in)
			if (err != nil) != tt.wantErr || s != tt.want {
				t.Fatalf("Set(%q) = %v, %v; want %v (error %v)", tt.in, s, err, tt.want, tt.wantErr)
			}
			if err == nil && s.String() != tt.in {
				t.Errorf("String() = %q, want %q", s.String(), tt.in)
			}
		})
	}
	for _, tt := range []struct {
		s          Switch
		auto, want bool
	}{{Auto, true, true}, {Auto, false, false}, {On, false, true}, {Off, true, false}} {
		if got := tt.s.on(tt.auto); got != tt.want {
			t.Errorf("%v.on(%v) = %v, want %v", tt.s, tt.auto, got, tt.want)
		}
	}
}

// TestFrontEndGains checks that the microphone gain and speaker volume
// scale what passes, and that files and tones pass unprocessed by default.
func TestFrontEndGains(t *testing.T) {
	for _, tt := range []struct {
		name            string
		micDB, volumeDB float64
	}{
		{"unity", 0, 0},
		{"mic-plus-6db-speaker-minus-6db", 6, -6},
		{"mic-minus-20db-speaker-plus-3db", -20, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.wav")
			f, err := OpenFrontEnd(FrontEndConfig{Mic: "tone:1000", Speaker: "file:" + out, AudioSettings: AudioSettings{MicGainDB: tt.micDB, SpeakerVolumeDB: tt.volumeDB}})
			if err != nil {
				t.Fatal(err)
			}
			frame := make([]int16, FrameSamples)
			for range 5 {
				if err := f.Source().ReadFrame(t.Context(), frame); err != nil {
					t.Fatal(err)
				}
				if err := f.Sink().WriteFrame(frame); err != nil {
					t.Fatal(err)
				}
			}
			m := f.Meter()
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			// A -6 dBFS sine is -9 dBFS RMS.
			within(t, "mic level", m.MicDBFS, -9.03+tt.micDB-0.1, -9.03+tt.micDB+0.1)
			within(t, "speaker level", m.SpeakerDBFS, -9.03+tt.micDB+tt.volumeDB-0.1, -9.03+tt.micDB+tt.volumeDB+0.1)
			if !m.Voice {
				t.Error("Voice = false for an unprocessed tone")
			}
			rec, err := ReadWAV(out)
			if err != nil {
				t.Fatal(err)
			}
			within(t, "recorded samples", len(rec), 5*FrameSamples, 5*FrameSamples)
			within(t, "recorded peak", rms(toFloat64(rec))*math.Sqrt2, 0.5*math.Pow(10, (tt.micDB+tt.volumeDB)/20)*0.98, 0.5*math.Pow(10, (tt.micDB+tt.volumeDB)/20)*1.02)
		})
	}
	if _, err := OpenFrontEnd(FrontEndConfig{Mic: "silence", Speaker: "null", AudioSettings: AudioSettings{MicGainDB: 30}}); err == nil {
		t.Error("a microphone gain of +30 dB was accepted")
	}
}

// TestFrontEndSwitchesMicWhileReading switches the microphone under a
// reader that keeps reading: it moves to the new one without an error.
func TestFrontEndSwitchesMicWhileReading(t *testing.T) {
	f, err := OpenFrontEnd(FrontEndConfig{Mic: "tone:440", Speaker: "null"})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	type result struct {
		hz  float64
		err error
	}
	frames := make(chan result)
	go func() {
		frame := make([]int16, FrameSamples)
		for {
			err := f.Source().ReadFrame(ctx, frame)
			select {
			case frames <- result{zeroCrossingFrequency(toFloat64(frame), SampleRate), err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	read := func(n int) float64 {
		var last result
		for range n {
			if last = <-frames; last.err != nil {
				t.Fatal(last.err)
			}
		}
		return last.hz
	}
	within(t, "first tone", read(3), 430, 450)
	if err := f.SetMic("tone:880"); err != nil {
		t.Fatal(err)
	}
	within(t, "tone after the switch", read(3), 870, 890)
	if err := f.SetSpeaker("null"); err != nil {
		t.Fatal(err)
	}
	if mic, speaker := f.Devices(); mic != "tone:880" || speaker != "null" {
		t.Errorf("Devices() = %q, %q", mic, speaker)
	}
	if err := f.SetMic("tone:1"); err == nil {
		t.Error("switching to a bad microphone spec did not fail")
	}
	within(t, "tone after a failed switch", read(2), 870, 890)
}

// TestFrontEndVADGatesSilence plays a second of quiet noise and then
// speech through the processing: the VAD zeroes the noise (so that DTX
// sends nothing) and lets the speech through.
func TestFrontEndVADGatesSilence(t *testing.T) {
	speech, err := ReadWAV("perf/speech.wav")
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	pcm := make([]int16, SampleRate)
	for i := range pcm {
		pcm[i] = int16(rng.NormFloat64() * 100) // -50 dBFS
	}
	path := filepath.Join(t.TempDir(), "mic.wav")
	if err := WriteWAV(path, append(pcm, speech...), SampleRate); err != nil {
		t.Fatal(err)
	}
	f, err := OpenFrontEnd(FrontEndConfig{Mic: "file:" + path, Speaker: "null", AudioSettings: AudioSettings{NS: On}})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	frame := make([]int16, FrameSamples)
	var noiseOpen, speechOpen, speechFrames int
	for i := range (SampleRate + len(speech)) / FrameSamples {
		if err := f.Source().ReadFrame(t.Context(), frame); err != nil {
			t.Fatal(err)
		}
		open := f.Meter().Voice
		if !open && slices.ContainsFunc(frame, func(v int16) bool { return v != 0 }) {
			t.Fatalf("frame %d: the VAD closed, but the frame is not silence", i)
		}
		switch {
		case i >= 25 && i < 50: // the noise's second half, after the hangover
			if open {
				noiseOpen++
			}
		case i >= 50 && rms(toFloat64(speech[(i-50)*FrameSamples:(i-49)*FrameSamples])) > 0.01:
			speechFrames++
			if open {
				speechOpen++
			}
		}
	}
	t.Logf("open: %d of 25 noise frames, %d of %d speech frames", noiseOpen, speechOpen, speechFrames)
	within(t, "noise frames let through", noiseOpen, 0, 2)
	within(t, "speech frames let through", speechOpen, speechFrames*9/10, speechFrames)
}

func TestFrontEndDo(t *testing.T) {
	f, err := OpenFrontEnd(FrontEndConfig{Mic: "tone:440", Speaker: "null"})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, tt := range []struct {
		cmd           string
		done, wantErr bool
	}{
		{"mic tone:880", true, false},
		{"speaker null", true, false},
		{"aec on", true, false},
		{"ns off", true, false},
		{"agc auto", true, false},
		{"aec maybe", true, true},
		{"volume -6", true, false},
		{"mic-gain 30", true, true},
		{"mic-gain NaN", true, true},
		{"mic device:nonesuch", true, true},
		{"hold", false, false},
	} {
		t.Run(strings.ReplaceAll(tt.cmd, " ", "-"), func(t *testing.T) {
			done, err := f.Do(tt.cmd)
			if done != tt.done || (err != nil) != tt.wantErr {
				t.Errorf("Do(%q) = %v, %v; want %v, error %v", tt.cmd, done, err, tt.done, tt.wantErr)
			}
		})
	}
	f.mu.Lock()
	got := f.cfg
	f.mu.Unlock()
	if got.Mic != "tone:880" || got.AEC != On || got.NS != Off || got.AGC != Auto {
		t.Errorf("after the commands: %+v", got)
	}
}
