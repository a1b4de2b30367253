package media

import (
	"context"
	"math"
	"sync"
)

// toneAmplitude is the peak of a tone: source, -6 dBFS, loud and clear of clipping.
const toneAmplitude = 0.5 * math.MaxInt16

// pacedSource is a Source that makes its own samples and releases them in
// real time: the frame that starts at sample k is due k/48000 s after the
// first ReadFrame.
type pacedSource struct {
	fill      func(pcm []int16) // writes the next len(pcm) samples
	pacer     *Pacer
	delivered int64 // samples handed out so far

	closed    chan struct{}
	closeOnce sync.Once
}

func newPacedSource(fill func(pcm []int16)) *pacedSource {
	return &pacedSource{fill: fill, pacer: &Pacer{clock: newRealClock()}, closed: make(chan struct{})}
}

// ReadFrame implements Source.
func (s *pacedSource) ReadFrame(ctx context.Context, pcm []int16) error {
	select {
	case <-s.closed:
		return ErrClosed
	default:
	}
	if err := s.pacer.waitUntil(ctx, s.closed, samplesDuration(s.delivered)); err != nil {
		return err
	}
	s.fill(pcm)
	s.delivered += int64(len(pcm))
	return nil
}

// Close implements Source.
func (s *pacedSource) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	return nil
}

func newSilenceSource() *pacedSource {
	return newPacedSource(func(pcm []int16) { clear(pcm) })
}

// newToneSource returns a source of a sine tone of hz Hz.
func newToneSource(hz float64) *pacedSource {
	step := 2 * math.Pi * hz / SampleRate
	var phase float64
	return newPacedSource(func(pcm []int16) {
		for i := range pcm {
			pcm[i] = int16(math.Round(toneAmplitude * math.Sin(phase)))
			// Wrapping keeps the phase small, so the tone stays exact for hours.
			if phase += step; phase >= 2*math.Pi {
				phase -= 2 * math.Pi
			}
		}
	})
}

// newClipSource returns a source that plays c once and then silence, or
// repeats it if loop is set.
func newClipSource(c *clip, loop bool) *pacedSource {
	pos := 0
	return newPacedSource(func(pcm []int16) {
		for len(pcm) > 0 {
			if pos == c.n {
				if !loop || c.n == 0 {
					clear(pcm)
					return
				}
				pos = 0
			}
			n := c.read(pos, pcm)
			pos += n
			pcm = pcm[n:]
		}
	})
}
