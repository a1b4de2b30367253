// Package dsp cleans a call's microphone audio before it is encoded: it
// cancels the echo of what the speaker plays, suppresses noise, evens out
// the level (automatic gain control) and tells speech from silence (voice
// activity detection).
//
// Echo cancellation runs in two stages, each from the library that does it
// best (measured on a synthetic echo path, see README): libspeexdsp's MDF
// adaptive filter models 250 ms of echo path and subtracts its estimate,
// keeping the near end intact when both ends talk; WebRTC's audio
// processing module (webrtc-audio-processing 0.3, through a small C++ shim)
// then suppresses what echo is left, above all in the first second while
// the linear filter still converges, and does noise suppression, gain
// control and voice detection. Either alone falls short: the linear filter
// takes 2 to 5 s to reach 20 dB of echo return loss enhancement, and
// WebRTC's suppressor, converged in a quarter of a second, cuts into the
// near end's speech in double talk.
//
// The far-end reference is what the speaker actually plays: the speaker
// calls [Processor.Render] with each buffer as it hands it to the device,
// and [Processor.Capture] lines up the microphone's frames with it using
// the devices' latencies.
package dsp

import (
	"fmt"
	"slices"
	"sync"
	"time"
)

const (
	// SampleRate is the rate of all audio a Processor handles, in Hz.
	SampleRate = 48000
	// ChunkSamples is the unit both libraries process, 10 ms: Capture takes
	// whole numbers of chunks.
	ChunkSamples = SampleRate / 100
	// farHistory is how much of what the speaker played a Processor keeps:
	// more than any device's latency plus the echo tail.
	farHistory = SampleRate
	// alignMargin is taken off the devices' reported latency, so that the
	// reference leads the echo even when the report is a little long: the
	// linear filter then finds the echo within its tail, whereas a
	// reference that comes after its echo cannot cancel it.
	alignMargin = 30 * time.Millisecond
	// offsetWindow frames (5 s of 20 ms frames) of rendered-captured
	// differences are kept; the alignment settles in the first
	// offsetWarmup frames (1 s), and later follows the median when it
	// moves by more than offsetJump.
	offsetWindow = 250
	offsetWarmup = 50
	offsetJump   = 5 * SampleRate / 1000
)

// Config chooses a Processor's stages; the zero value runs them all.
type Config struct {
	EchoOff  bool // no echo cancellation (--aec off)
	NoiseOff bool // no noise suppression (--ns off)
	GainOff  bool // no automatic gain control (--agc off)
}

// Processor is one microphone's signal processing, with the speaker it
// hears as its echo reference. Render may be called from a real-time
// callback at the same time as Capture from the capture goroutine.
type Processor struct {
	farMu sync.Mutex
	// farMu guards the following fields, shared with Render's callback.
	far      []int16 // ring of the last farHistory samples played
	rendered int64   // samples played in all

	mu sync.Mutex
	// mu guards the following fields.
	cfg    Config
	linear *linearEcho // nil only in tests measuring WebRTC's AEC alone
	apm    *apm
	// suppress reports whether WebRTC's AEC runs when echo cancellation
	// is on; false only in tests measuring the linear filter alone.
	suppress bool
	ref      []int16 // one chunk of far end lined up with the capture
	closed   bool
	// captured counts the samples captured in all, frames the calls to
	// Capture; diffs holds the last rendered-captured differences and
	// offset the one the alignment uses (see Capture).
	captured, offset int64
	spread           int64 // median less offset, as the warm-up left it
	frames           int
	diffs            [offsetWindow]int64
}

// New makes a Processor with cfg's stages.
func New(cfg Config) (*Processor, error) {
	return newProcessor(cfg, true, true)
}

func newProcessor(cfg Config, linear, suppress bool) (*Processor, error) {
	p := &Processor{cfg: cfg, suppress: suppress, far: make([]int16, farHistory), ref: make([]int16, ChunkSamples)}
	var err error
	if p.apm, err = newAPM(!cfg.EchoOff && suppress, !cfg.NoiseOff, !cfg.GainOff); err != nil {
		return nil, err
	}
	if linear {
		if p.linear, err = newLinearEcho(); err != nil {
			p.apm.close()
			return nil, err
		}
	}
	return p, nil
}

// Config returns the stages that run.
func (p *Processor) Config() Config {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cfg
}

// Set switches stages on or off while the processor runs.
func (p *Processor) Set(cfg Config) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errClosed
	}
	if err := p.apm.set(!cfg.EchoOff && p.suppress, !cfg.NoiseOff, !cfg.GainOff); err != nil {
		return err
	}
	if cfg.EchoOff && !p.cfg.EchoOff && p.linear != nil {
		p.linear.reset() // the echo path may be another when it comes back on
	}
	p.cfg = cfg
	return nil
}

// Render records far, audio the speaker plays now, as the echo reference.
// It copies under a short lock and never allocates, so a device callback
// may call it.
func (p *Processor) Render(far []int16) {
	p.farMu.Lock()
	defer p.farMu.Unlock()
	for len(far) > 0 {
		at := int(p.rendered % farHistory)
		n := copy(p.far[at:], far)
		far = far[n:]
		p.rendered += int64(n)
	}
}

// Capture cleans near in place and reports whether it holds speech. near
// is a whole number of chunks that just came from the microphone; lead is
// how long after Render saw a sample its echo reaches Capture, as far as
// the devices know (output plus input latency; 0 when unknown): the echo
// canceller finds the rest of the delay, up to 250 ms, on its own.
func (p *Processor) Capture(near []int16, lead time.Duration) (bool, error) {
	if len(near)%ChunkSamples != 0 {
		return false, fmt.Errorf("dsp: capture of %d samples: want a multiple of %d", len(near), ChunkSamples)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false, errClosed
	}
	// Which far-end sample is a captured sample's echo? Render and
	// Capture run on the devices' clocks, buffer by buffer, so the number
	// of samples rendered when a frame is captured jumps by a buffer or
	// two with the callbacks' order. In the first offsetWarmup frames the
	// alignment follows the lowest rendered-captured difference, so that
	// the far end it needs has been rendered; after that it keeps its
	// distance to the median of the last offsetWindow differences (which
	// the jumps do not move), and moves only when the median does by more
	// than offsetJump (clock drift, another device): every move makes the
	// echo canceller re-adapt. A frame that comes earlier than any before
	// finds the newest part of its reference not yet rendered, and silent.
	p.farMu.Lock()
	rendered := p.rendered
	p.farMu.Unlock()
	p.captured += int64(len(near))
	p.diffs[p.frames%offsetWindow] = rendered - p.captured
	p.frames++
	switch median := p.medianDiff(); {
	case p.frames <= offsetWarmup:
		if d := rendered - p.captured; p.frames == 1 || d < p.offset {
			p.offset = d
		}
		p.spread = median - p.offset
	case median-p.spread-p.offset > offsetJump || p.offset-(median-p.spread) > offsetJump:
		p.offset = median - p.spread
	}
	back := max(0, int64((lead-alignMargin)*SampleRate/time.Second))
	// near's first sample lines up with far-end sample start.
	start := p.captured - int64(len(near)) + p.offset - back
	voice := false
	for i := 0; i < len(near); i += ChunkSamples {
		chunk := near[i : i+ChunkSamples]
		p.reference(start + int64(i))
		if !p.cfg.EchoOff && p.linear != nil {
			p.linear.cancel(p.ref, chunk)
		}
		v, err := p.apm.process(p.ref, chunk)
		if err != nil {
			return false, err
		}
		voice = voice || v
	}
	return voice, nil
}

// medianDiff is the median of the rendered-captured differences kept.
func (p *Processor) medianDiff() int64 {
	var sorted [offsetWindow]int64
	n := copy(sorted[:], p.diffs[:min(p.frames, offsetWindow)])
	slices.Sort(sorted[:n])
	return sorted[n/2]
}

// SkipCapture tells p that the microphone dropped n samples (an overrun)
// since the last Capture, so that it keeps its alignment.
func (p *Processor) SkipCapture(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.captured += int64(n)
}

// reference fills p.ref with the far end from sample start on; silence
// for what is not in the history.
func (p *Processor) reference(start int64) {
	p.farMu.Lock()
	defer p.farMu.Unlock()
	for i := range p.ref {
		if s := start + int64(i); s >= 0 && s < p.rendered && p.rendered-s <= farHistory {
			p.ref[i] = p.far[s%farHistory]
		} else {
			p.ref[i] = 0
		}
	}
}

// Close frees the libraries' state; Capture and Set fail afterwards.
func (p *Processor) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	p.apm.close()
	if p.linear != nil {
		p.linear.close()
	}
}
