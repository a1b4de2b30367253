package media

import (
	"fmt"
	"math"
	"testing"
)

func toFloat32(x []float64) []float32 {
	y := make([]float32, len(x))
	for i, v := range x {
		y[i] = float32(v)
	}
	return y
}

func fromFloat32(x []float32) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}

// TestResampleKeepsTone resamples a 1 kHz tone between many rate pairs,
// including an odd rate whose phases are approximated.
func TestResampleKeepsTone(t *testing.T) {
	tests := []struct {
		from, to int
		minSNR   float64 // dB
	}{
		{8000, 48000, 90},
		{11025, 48000, 90},
		{22050, 48000, 90},
		{44100, 48000, 90},
		{96000, 48000, 90},
		{192000, 48000, 90},
		{48000, 16000, 90},
		{48000, 44100, 90},
		{12345, 48000, 80}, // 3200 phases: still exact
		{44101, 48000, 80}, // 48000 phases, snapped to 4096
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d-to-%d", tt.from, tt.to), func(t *testing.T) {
			const hz = 1000
			in := sine(tt.from/2, hz, tt.from, 0.5) // half a second
			out, err := Resample(toFloat32(in), tt.from, tt.to)
			if err != nil {
				t.Fatal(err)
			}
			if want := (len(in)*tt.to + tt.from - 1) / tt.from; len(out) != want {
				t.Errorf("got %d samples, want %d", len(out), want)
			}
			edge := tt.to / 50 // the edges fade in and out
			x := fromFloat32(out)[edge : len(out)-edge]
			within(t, "frequency", zeroCrossingFrequency(x, tt.to), hz-0.1, hz+0.1)
			within(t, "SNR dB", sineSNR(x, hz, tt.to), tt.minSNR, math.Inf(1))
			within(t, "peak", rms(x)*math.Sqrt2, 0.499, 0.501)
		})
	}
}

// TestResampleBand checks the filter's two promises: tones in the lowest
// 82% of the lower rate's band pass unchanged, and tones above its Nyquist
// frequency, which would alias, are removed.
func TestResampleBand(t *testing.T) {
	tests := []struct {
		name     string
		from, to int
		hz       float64
		minGain  float64 // dB
		maxGain  float64
	}{
		{"passband-edge-upsampling", 22050, 48000, 0.82 * 11025, -0.1, 0.1},
		{"passband-edge-downsampling", 48000, 16000, 0.82 * 8000, -0.1, 0.1},
		{"alias-downsampling", 96000, 48000, 30000, math.Inf(-1), -85},
		{"alias-just-above-nyquist", 48000, 16000, 8200, math.Inf(-1), -85},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := sine(tt.from, tt.hz, tt.from, 0.5)
			out, err := Resample(toFloat32(in), tt.from, tt.to)
			if err != nil {
				t.Fatal(err)
			}
			edge := tt.to / 20
			x := fromFloat32(out)[edge : len(out)-edge]
			gain := 20 * math.Log10(rms(x)*math.Sqrt2/0.5)
			within(t, "gain dB", gain, tt.minGain, tt.maxGain)
		})
	}
}

func TestResampleIsTimeAligned(t *testing.T) {
	in := make([]float32, 22050)
	in[11025] = 1 // an impulse at 0.5 s
	out, err := Resample(in, 22050, SampleRate)
	if err != nil {
		t.Fatal(err)
	}
	peak := 0
	for i := range out {
		if out[i] > out[peak] {
			peak = i
		}
	}
	if peak != SampleRate/2 {
		t.Errorf("impulse at 0.5 s came out at sample %d, want %d", peak, SampleRate/2)
	}
}

func TestResampleKeepsDC(t *testing.T) {
	in := make([]float32, 4410)
	for i := range in {
		in[i] = 0.25
	}
	out, err := Resample(in, 44100, SampleRate)
	if err != nil {
		t.Fatal(err)
	}
	for i := 100; i < len(out)-100; i++ {
		if math.Abs(float64(out[i])-0.25) > 1e-6 {
			t.Fatalf("sample %d = %v, want 0.25", i, out[i])
		}
	}
}

func TestResampleRejectsBadRates(t *testing.T) {
	for _, rates := range [][2]int{{0, 48000}, {48000, -1}, {999, 48000}, {48000, 384001}} {
		if _, err := Resample([]float32{1}, rates[0], rates[1]); err == nil {
			t.Errorf("Resample(%d Hz to %d Hz) succeeded", rates[0], rates[1])
		}
	}
	out, err := Resample([]float32{1, 2}, 48000, 48000)
	if err != nil || len(out) != 2 || out[1] != 2 {
		t.Errorf("Resample at the same rate = %v, %v; want a copy", out, err)
	}
}

func BenchmarkResample(b *testing.B) {
	in := toFloat32(sine(44100, 440, 44100, 0.5))
	for b.Loop() {
		if _, err := Resample(in, 44100, SampleRate); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/s-of-audio")
}
