package media

import (
	"context"
	"math"
	"path/filepath"
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
			f, err := OpenFrontEnd(FrontEndConfig{Mic: "tone:1000", Speaker: "file:" + out, MicGainDB: tt.micDB, SpeakerVolumeDB: tt.volumeDB})
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
	if _, err := OpenFrontEnd(FrontEndConfig{Mic: "silence", Speaker: "null", MicGainDB: 30}); err == nil {
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
