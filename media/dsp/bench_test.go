package dsp

import (
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
	off := Config{EchoOff: true, NoiseOff: true, GainOff: true}
	stages := []struct {
		name             string
		cfg              Config
		linear, suppress bool
	}{
		{"vad-only", off, false, false},
		{"aec-linear", Config{NoiseOff: true, GainOff: true}, true, false},
		{"aec-suppressor", Config{NoiseOff: true, GainOff: true}, false, true},
		{"ns", Config{EchoOff: true, GainOff: true}, false, false},
		{"agc", Config{EchoOff: true, NoiseOff: true}, false, false},
		{"all", Config{}, true, true},
	}
	const frame = 2 * ChunkSamples
	for _, s := range stages {
		b.Run(s.name, func(b *testing.B) {
			p, err := newProcessor(s.cfg, s.linear, s.suppress)
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

