// Package mix mixes a conference's audio at its host, the way Skype's
// host-mixed conferences did: every participant hears the host and every
// other participant but never itself, and the host hears every participant.
//
// A Mixer is paced by the host's microphone: each frame it reads from the mic
// it sums with the latest frame each participant sent (N-1 mixing as
// total minus one's own, in 32-bit, saturated to 16), hands every
// participant its mix and plays the participants' sum to the host's speaker.
// A participant's call sees its Port as an ordinary media.Source (its mix,
// to encode and send) and media.Sink (its decoded voice).
//
// Between a participant's playout clock and the mixer's there is a FIFO of
// its voice. Both clocks run in real time, but on a busy machine either may
// fall behind for a while and then catch up in a burst, so the FIFO keeps
// what a burst brings and trims only a surplus that lasts: when its level
// at mixing time stayed above a frame plus a cushion for a whole second,
// the lasting excess is dropped. The cushion adapts as a jitter buffer's
// target does: an underrun (the voice came too late for its frame) raises
// it by half a frame, up to two frames, and ten quiet seconds lower it by a
// quarter frame, down to a quarter. On a quiet machine a participant's
// voice so waits about a quarter of a frame more than in a one-to-one call.
package mix

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/parley-voip/parley/media"
)

// Config configures a Mixer; the zero value of FrameSamples means 20 ms.
type Config struct {
	Mic     media.Source // the host's microphone: it paces the mix
	Speaker media.Sink   // plays what the host hears
	// FrameSamples is the mixing frame at 48 kHz; 0 → media.FrameSamples.
	FrameSamples int
}

// maxFrame is the longest frame a participant's sender or receiver moves at
// once: 40 ms, the longest Parley sends.
const maxFrame = 2 * media.FrameSamples

// Mixer mixes N-1 audio for each of its ports. Run drives it; AddPort and
// a port's Close may come at any time.
type Mixer struct {
	cfg       Config
	started   chan struct{} // closed by the first port read: the mic starts then
	startOnce sync.Once
	done      chan struct{} // closed when Run returns

	// Owned by Run.
	host  []int16
	heard []int16

	// mu guards the following fields and every port's FIFOs.
	mu      sync.Mutex
	ports   []*Port
	total   []int32
	scratch []int16
}

// New returns a Mixer over cfg's microphone and speaker.
func New(cfg Config) (*Mixer, error) {
	if cfg.Mic == nil || cfg.Speaker == nil {
		return nil, errors.New("mix: a mixer needs the host's microphone and speaker")
	}
	if cfg.FrameSamples == 0 {
		cfg.FrameSamples = media.FrameSamples
	}
	if cfg.FrameSamples <= 0 || cfg.FrameSamples > maxFrame {
		return nil, fmt.Errorf("mix: frame of %d samples, want 1..%d", cfg.FrameSamples, maxFrame)
	}
	n := cfg.FrameSamples
	return &Mixer{
		cfg:     cfg,
		started: make(chan struct{}),
		done:    make(chan struct{}),
		host:    make([]int16, n),
		heard:   make([]int16, n),
		total:   make([]int32, n),
		scratch: make([]int16, n),
	}, nil
}

// Run mixes one frame per frame of the microphone until ctx ends or a device
// fails. The microphone starts at the first read from a port, so that a
// file: microphone plays from the moment the first call's media starts.
func (m *Mixer) Run(ctx context.Context) error {
	defer close(m.done)
	select {
	case <-m.started:
	case <-ctx.Done():
		return nil
	}
	for {
		if err := m.cfg.Mic.ReadFrame(ctx, m.host); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("mix: microphone: %w", err)
		}
		m.mix()
		if err := m.cfg.Speaker.WriteFrame(m.heard); err != nil {
			return fmt.Errorf("mix: speaker: %w", err)
		}
	}
}

// mix makes one frame: each port's next input, each port's mix, and the
// host's. It allocates nothing.
func (m *Mixer) mix() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, v := range m.host {
		m.total[i] = int32(v)
	}
	for _, p := range m.ports {
		p.takeInput(len(m.total))
		for i, v := range p.frame {
			m.total[i] += int32(v)
		}
	}
	for _, p := range m.ports {
		for i, v := range p.frame {
			m.scratch[i] = saturate(m.total[i] - int32(v))
		}
		p.putOutput(m.scratch)
	}
	for i, v := range m.host {
		m.heard[i] = saturate(m.total[i] - int32(v))
	}
}

func saturate(v int32) int16 {
	return int16(max(-32768, min(32767, v)))
}

func (m *Mixer) start() { m.startOnce.Do(func() { close(m.started) }) }

// AddPort adds a participant to the mix; name is for its stats. Closing
// the port removes it.
func (m *Mixer) AddPort(name string) *Port {
	p := &Port{
		m:     m,
		name:  name,
		in:    fifo{buf: make([]int16, 0, 3*maxFrame)},
		out:   fifo{buf: make([]int16, 0, 3*maxFrame)},
		frame: make([]int16, m.cfg.FrameSamples),
		// A quarter frame: a clock that wakes a few milliseconds late
		// does not make the voice miss its frame.
		cushion: m.cfg.FrameSamples / 4,
		ready:   make(chan struct{}, 1),
		closed:  make(chan struct{}),
	}
	m.mu.Lock()
	m.ports = append(m.ports, p)
	m.mu.Unlock()
	return p
}

// Ports returns the ports in the mix now.
func (m *Mixer) Ports() []*Port {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]*Port(nil), m.ports...)
}

// Port is one participant's place in the mix: a media.Source of its mix
// and a media.Sink for its voice. ReadFrame is for one goroutine (the
// call's sender), WriteFrame for one other (its receiver's playout).
type Port struct {
	m      *Mixer
	name   string
	ready  chan struct{} // a token when out has grown
	closed chan struct{}

	// Guarded by m.mu.
	in, out  fifo
	frame    []int16 // this frame's input
	primed   bool    // input has reached a frame: a shortfall now is an underrun
	reading  bool    // the sender has read: what the FIFO holds is current
	isClosed bool
	// The smallest input level at mixing time in this window of ticks,
	// the cushion kept above a frame, and how many windows in a row had
	// no underrun.
	minLevel, windowTicks, cushion, quietWindows int
	underrunInWindow                             bool

	framesMixed, underruns, droppedIn, droppedOut atomic.Uint64
}

// PortStats counts what went through a port.
type PortStats struct {
	Name string `json:"name"`
	// FramesMixed is how many frames of the mixer this port took part in.
	FramesMixed uint64 `json:"frames_mixed"`
	// Underruns counts frames for which the participant's voice had not
	// arrived in time (silence was mixed instead).
	Underruns uint64 `json:"underruns"`
	// DroppedInSamples are samples of the participant's voice dropped to
	// keep its delay short; DroppedOutSamples, samples of its mix its sender
	// did not take in time (also those made before its call connected).
	DroppedInSamples  uint64 `json:"dropped_in_samples"`
	DroppedOutSamples uint64 `json:"dropped_out_samples"`
}

// Name returns the name the port was added with.
func (p *Port) Name() string { return p.name }

// Stats returns the port's counters; safe at any time.
func (p *Port) Stats() PortStats {
	return PortStats{
		Name:              p.name,
		FramesMixed:       p.framesMixed.Load(),
		Underruns:         p.underruns.Load(),
		DroppedInSamples:  p.droppedIn.Load(),
		DroppedOutSamples: p.droppedOut.Load(),
	}
}

// takeInput moves the next n samples of the participant's voice into
// p.frame, or silence when they have not arrived. Called under m.mu.
func (p *Port) takeInput(n int) {
	p.framesMixed.Add(1)
	level := p.in.len()
	if level < n {
		clear(p.frame)
		if p.primed {
			p.underruns.Add(1)
			p.cushion = min(p.cushion+n/2, 2*n)
			p.underrunInWindow = true
		}
		return
	}
	p.primed = true
	p.in.pop(p.frame)
	p.trimSurplus(level, n)
}

// trimWindow is how many mixer frames a surplus must last to be trimmed:
// one second of 20 ms frames.
const trimWindow = 50

// quietWindowsToShrink is how many windows without an underrun lower the
// cushion.
const quietWindowsToShrink = 10

// trimSurplus drops what the input held beyond a frame and the cushion at
// every mix of the last window: a delay that lasts, not a burst.
func (p *Port) trimSurplus(level, n int) {
	if p.windowTicks == 0 || level < p.minLevel {
		p.minLevel = level
	}
	if p.windowTicks++; p.windowTicks < trimWindow {
		return
	}
	p.windowTicks = 0
	if p.underrunInWindow {
		p.quietWindows, p.underrunInWindow = 0, false
	} else if p.quietWindows++; p.quietWindows >= quietWindowsToShrink {
		p.quietWindows = 0
		p.cushion = max(p.cushion-n/4, n/4)
	}
	if surplus := min(p.minLevel-n-p.cushion, p.in.len()); surplus > 0 {
		p.in.discard(surplus)
		p.droppedIn.Add(uint64(surplus))
	}
}

// putOutput appends the port's mix for its sender. Called under m.mu.
func (p *Port) putOutput(pcm []int16) {
	if dropped := p.out.push(pcm); dropped > 0 {
		p.droppedOut.Add(uint64(dropped))
	}
	select {
	case p.ready <- struct{}{}:
	default:
	}
}

// ReadFrame implements media.Source: the participant's mix, as the mixer
// makes it. A sender that starts late (a call still connecting) starts
// with the newest frame; one that falls behind catches up, up to the
// FIFO's capacity.
func (p *Port) ReadFrame(ctx context.Context, pcm []int16) error {
	p.m.start()
	for {
		p.m.mu.Lock()
		if p.isClosed {
			p.m.mu.Unlock()
			return media.ErrClosed
		}
		if p.out.len() >= len(pcm) {
			if stale := p.out.len() - len(pcm); !p.reading && stale > 0 {
				p.out.discard(stale)
				p.droppedOut.Add(uint64(stale))
			}
			p.reading = true
			p.out.pop(pcm)
			p.m.mu.Unlock()
			return nil
		}
		p.m.mu.Unlock()
		select {
		case <-p.ready:
		case <-ctx.Done():
			return ctx.Err()
		case <-p.closed:
			return media.ErrClosed
		case <-p.m.done:
			return fmt.Errorf("mix: the mixer stopped: %w", media.ErrClosed)
		}
	}
}

// WriteFrame implements media.Sink: the participant's decoded voice.
func (p *Port) WriteFrame(pcm []int16) error {
	p.m.mu.Lock()
	defer p.m.mu.Unlock()
	if p.isClosed {
		return media.ErrClosed
	}
	if dropped := p.in.push(pcm); dropped > 0 {
		p.droppedIn.Add(uint64(dropped))
	}
	return nil
}

// Close removes the port from the mix; it implements both media.Source's
// and media.Sink's Close, and may be called more than once.
func (p *Port) Close() error {
	p.m.mu.Lock()
	defer p.m.mu.Unlock()
	if p.isClosed {
		return nil
	}
	p.isClosed = true
	close(p.closed)
	for i, q := range p.m.ports {
		if q == p {
			p.m.ports = append(p.m.ports[:i], p.m.ports[i+1:]...)
			break
		}
	}
	return nil
}

// fifo is a bounded sample queue kept at the front of its buffer: popping
// moves the rest down (a few frames at most), so it needs no wrap-around and
// never allocates. Pushing past its capacity drops the oldest samples.
type fifo struct {
	buf []int16
}

func (f *fifo) len() int { return len(f.buf) }

// push appends pcm and returns how many of the oldest samples it dropped.
func (f *fifo) push(pcm []int16) (dropped int) {
	if len(pcm) > cap(f.buf) {
		dropped = len(pcm) - cap(f.buf)
		pcm = pcm[dropped:]
	}
	if over := len(f.buf) + len(pcm) - cap(f.buf); over > 0 {
		f.discard(over)
		dropped += over
	}
	f.buf = append(f.buf, pcm...)
	return dropped
}

// pop fills pcm from the front; the caller checks there is enough.
func (f *fifo) pop(pcm []int16) {
	f.discard(copy(pcm, f.buf))
}

// discard drops the oldest k samples (k ≤ len).
func (f *fifo) discard(k int) {
	n := copy(f.buf, f.buf[k:])
	f.buf = f.buf[:n]
}
