package dsp_test

import (
	"github.com/parley-voip/parley/media/dsp"
	"testing"
)

// BenchmarkStages measures each stage's cost per 20 ms frame of speech
// with echo, and all of them together (Parley's default).
func BenchmarkStages(b *testing.B) {
	far, near := speech(b)
	mic := make([]int16, len(near))
	for i := range mic {
		mic[i] = clip16(float64(near[i]) + 0.5*float64(far[i]))
	}
	off := dsp.Config{EchoOff: true, NoiseOff: true, GainOff: true}
	stages := []struct {
		name             string
		cfg              dsp.Config
		linear, suppress bool
	}{
		{"vad-only", off, false, false},
		{"aec-linear", dsp.Config{NoiseOff: true, GainOff: true}, true, false},
		{"aec-suppressor", dsp.Config{NoiseOff: true, GainOff: true}, false, true},
		{"ns", dsp.Config{EchoOff: true, GainOff: true}, false, false},
		{"agc", dsp.Config{EchoOff: true, NoiseOff: true}, false, false},
		{"all", dsp.Config{}, true, true},
	}
	const frame = 2 * dsp.ChunkSamples
	for _, s := range stages {
		b.Run(s.name, func(b *testing.B) {
			p, err := dsp.NewForTest(s.cfg, s.linear, s.suppress)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			buf := make([]int16, frame)
			i := 0
			for b.Loop() {
				if i+frame > len(mic) {
					i = 0
				}
				copy(buf, mic[i:i+frame])
				p.Render(far[i : i+frame])
				if _, err := p.Capture(buf, 0); err != nil {
					b.Fatal(err)
				}
				i += frame
			}
		})
	}
}
