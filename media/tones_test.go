package media

import (
	"bytes"
	"context"
	"math"
	"path/filepath"
	"testing"
	"time"
)

// TestToneCadences renders each tone and checks its on and off times,
// frequency and level.
func TestToneCadences(t *testing.T) {
	for _, tt := range []struct {
		tone   Tone
		render time.Duration
		on     []time.Duration // the starts and ends of its bursts, in turn
		hz     float64         // of the first burst; 0 to skip
	}{
		{Ringback, 6 * time.Second, []time.Duration{0, time.Second, 5 * time.Second, 6 * time.Second}, 425},
		{Ringtone, 3 * time.Second, []time.Duration{0, 400 * time.Millisecond, 600 * time.Millisecond, time.Second}, 0},
		{Busy, 4 * time.Second, []time.Duration{0, 500 * time.Millisecond, time.Second, 1500 * time.Millisecond, 2 * time.Second, 2500 * time.Millisecond}, 425},
		{CallEnded, time.Second, []time.Duration{0, 150 * time.Millisecond, 200 * time.Millisecond, 350 * time.Millisecond, 400 * time.Millisecond, 650 * time.Millisecond}, 880},
	} {
		t.Run(tt.tone.String(), func(t *testing.T) {
			g, err := newToneGenerator(tt.tone)
			if err != nil {
				t.Fatal(err)
			}
			pcm := make([]int16, int(tt.render*SampleRate/time.Second))
			for i := 0; i < len(pcm); i += FrameSamples {
				g.fill(pcm[i:min(len(pcm), i+FrameSamples)])
			}
			// Bursts: runs of 10 ms blocks with sound.
			var edges []time.Duration
			sounding := false
			for i := 0; i+480 <= len(pcm); i += 480 {
				loud := rms(toFloat64(pcm[i:i+480])) > 0.01
				if loud != sounding {
					edges = append(edges, time.Duration(i)*time.Second/SampleRate)
					sounding = loud
				}
			}
			if sounding {
				edges = append(edges, tt.render)
			}
			if len(edges) < len(tt.on) {
				t.Fatalf("bursts at %v, want %v", edges, tt.on)
			}
			for i, want := range tt.on {
				within(t, "burst edge", edges[i], want-10*time.Millisecond, want+10*time.Millisecond)
			}
			if tt.hz != 0 {
				first := toFloat64(pcm[:int(tt.on[1]*SampleRate/time.Second)])
				within(t, "frequency", zeroCrossingFrequency(first, SampleRate), tt.hz-2, tt.hz+2)
				within(t, "peak (dBFS)", 20*math.Log10(rms(first)*math.Sqrt2), -15.2, -14.8)
			}
		})
	}
	if _, err := newToneGenerator(Tone(42)); err == nil {
		t.Error("an unknown tone was accepted")
	}
}

// TestPlayToneEnds plays the call-ended tone to a file in real time: it
// stops on its own after the tone.
func TestPlayToneEnds(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ended.wav")
	sink, err := OpenSink("file:" + path)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := PlayTone(t.Context(), sink, CallEnded); err != nil {
		t.Fatal(err)
	}
	within(t, "played for", time.Since(start), 600*time.Millisecond, 2*time.Second)
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	pcm, err := ReadWAV(path)
	if err != nil {
		t.Fatal(err)
	}
	within(t, "samples", len(pcm), 650*SampleRate/1000, 680*SampleRate/1000)
}

// TestRingWithoutDevice rings the terminal bell where there is no sound
// device, until told to stop.
func TestRingWithoutDevice(t *testing.T) {
	var term bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if err := Ring(ctx, "null", &term); err != nil {
		t.Fatal(err)
	}
	if got := term.String(); got != bell {
		t.Errorf("terminal got %q, want one bell", got)
	}
}

func TestToneString(t *testing.T) {
	tests := []struct {
		name string
		tone Tone
		want string
	}{
		{"known", CallEnded, "call-ended"},
		{"unknown", Tone(42), "tone(42)"},
		{"negative", Tone(-1), "tone(-1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.tone.String(); got != tt.want {
				t.Errorf("Tone(%d).String() = %q, want %q", int(tt.tone), got, tt.want)
			}
		})
	}
}
