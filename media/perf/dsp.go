package perf

import (
	"testing"

	"github.com/parley-voip/parley/media"
	"github.com/parley-voip/parley/media/dsp"
)

// dspStage measures the capture processing with cfg's stages on one 20 ms
// frame: the far end is the speech, the microphone hears its echo at half
// level under other speech (the same sentence, half a second on).
func dspStage(cfg dsp.Config) func(b *testing.B) {
	return func(b *testing.B) {
		f := mustFixture(b)
		p, err := dsp.New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		mic := make([]int16, media.FrameSamples)
		i := 0
		for b.Loop() {
			far, near := f.frames[i%len(f.frames)], f.frames[(i+25)%len(f.frames)]
			for k := range mic {
				mic[k] = near[k]/2 + far[k]/2
			}
			p.Render(far)
			if _, err := p.Capture(mic, 0); err != nil {
				b.Fatal(err)
			}
			i++
		}
	}
}
