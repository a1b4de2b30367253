package media

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"

	"github.com/parley-voip/parley/media/jitter"
)

// RTPReader is where a Receiver gets its packets; pion's TrackRemote is one.
type RTPReader interface {
	Read(b []byte) (n int, a interceptor.Attributes, err error)
}

// ReceiverConfig configures a Receiver; the zero value of every field but
// Sink means its default.
type ReceiverConfig struct {
	Sink   Sink
	Jitter jitter.Config
	// FrameSamples is the playout frame until the peer's packets say
	// otherwise: samples per frame at 48 kHz; 0 → FrameSamples (20 ms).
	FrameSamples int
	// Now is the clock for arrival times; nil → time.Now.
	Now func() time.Time
}

// ReceiverStats describes what a Receiver has received and played, with
// the meanings of WebRTC's getStats inbound-rtp fields.
type ReceiverStats struct {
	Jitter             jitter.Stats
	InterarrivalJitter time.Duration // RFC 3550 §6.4.1
	ConcealedSamples   uint64        // samples made up by PLC or silence after the first packet
	FECRecovered       uint64        // lost frames rebuilt from the next packet's in-band FEC
	TotalSamples       uint64        // samples played out since the first packet
	// LevelDBFS is the mean level of the audio played since the first
	// packet, SilenceDBFS for none.
	LevelDBFS float64
}

// Receiver is the incoming audio path of a call: RTP → jitter buffer →
// Opus (or FEC/PLC) → sink, played out in real time.
//
// Playout follows the peer's frame size (RFC 6716 §3.1 TOC): when its
// packets settle on another duration, the jitter buffer is replaced by one of
// that frame and Play paces and decodes frames of that length.
type Receiver struct {
	cfg    ReceiverConfig
	buffer atomic.Pointer[jitter.Buffer]
	// Owned by Receive: a frame size seen in the last newFrameCount packets,
	// not yet adopted.
	newFrame, newFrameCount int

	// mu guards the following fields, written by the Receive goroutine.
	mu                 sync.Mutex
	interarrivalJitter float64   // in RTP timestamp units
	epoch              time.Time // arrival of the first packet
	lastTransit        int64
	haveTransit        bool
	retired            jitter.Stats // counters of the buffers replaced

	started          atomic.Bool // a first packet has arrived
	concealedSamples atomic.Uint64
	fecRecovered     atomic.Uint64
	totalSamples     atomic.Uint64
	level            levelMeter
}

// NewReceiver makes a Receiver that plays into cfg.Sink.
func NewReceiver(cfg ReceiverConfig) (*Receiver, error) {
	if cfg.Sink == nil {
		return nil, errors.New("media: receiver needs a sink")
	}
	if cfg.FrameSamples == 0 {
		cfg.FrameSamples = FrameSamples
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Jitter.ClockRate = SampleRate
	r := &Receiver{cfg: cfg}
	r.buffer.Store(r.newBuffer(cfg.FrameSamples))
	return r, nil
}

func (r *Receiver) newBuffer(frameSamples int) *jitter.Buffer {
	cfg := r.cfg.Jitter
	cfg.FrameSamples = frameSamples
	return jitter.New(cfg)
}

// frameSwitchAfter is how many packets in a row must agree on a new frame
// size before playout follows it: one odd packet, or a peer flipping sizes
// to make us reallocate, does not move it.
const frameSwitchAfter = 2

// followFrameSize adopts the frame size of packet when the peer has settled
// on a new one.
func (r *Receiver) followFrameSize(packet []byte) {
	n, err := packetSamples(packet)
	current := r.buffer.Load()
	if err != nil || n == current.FrameSamples() || !encodableSamples(n) {
		r.newFrameCount = 0
		return
	}
	if n != r.newFrame {
		r.newFrame, r.newFrameCount = n, 0
	}
	r.newFrameCount++
	if r.newFrameCount < frameSwitchAfter && current.Stats().Received > 0 {
		return // the first packet of a call sets the frame at once
	}
	r.newFrameCount = 0
	r.mu.Lock()
	r.retired = addCounters(r.retired, current.Stats())
	r.mu.Unlock()
	r.buffer.Store(r.newBuffer(n))
}

// addCounters returns the counters of a and b summed.
func addCounters(a, b jitter.Stats) jitter.Stats {
	a.Received += b.Received
	a.Lost += b.Lost
	a.Late += b.Late
	a.Duplicates += b.Duplicates
	a.Reordered += b.Reordered
	a.Discarded += b.Discarded
	a.Expanded += b.Expanded
	a.Compressed += b.Compressed
	return a
}

// Receive reads packets from src into the jitter buffer until src fails
// (as a track does when its PeerConnection closes) or ctx ends.
func (r *Receiver) Receive(ctx context.Context, src RTPReader) error {
	buf := make([]byte, 1500)
	var pkt rtp.Packet
	for ctx.Err() == nil {
		n, _, err := src.Read(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("media: read rtp: %w", err)
		}
		if err := pkt.Unmarshal(buf[:n]); err != nil {
			continue // a malformed packet is the sender's problem, not a reason to stop
		}
		now := r.cfg.Now()
		r.updateJitter(pkt.Timestamp, now)
		r.followFrameSize(pkt.Payload)
		r.buffer.Load().Push(pkt.SequenceNumber, pkt.Timestamp, pkt.SSRC, pkt.Payload, now)
		r.started.Store(true)
	}
	return nil
}

// updateJitter keeps RFC 3550's interarrival jitter estimate:
// J += (|D| - J) / 16, D the change in transit time between two packets.
func (r *Receiver) updateJitter(timestamp uint32, arrival time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.epoch.IsZero() {
		r.epoch = arrival
	}
	// Measured from the receiver's own epoch: nanoseconds since 1970 times
	// the clock rate would overflow int64.
	arrivalTicks := int64(arrival.Sub(r.epoch)) * SampleRate / int64(time.Second)
	transit := arrivalTicks - int64(timestamp)
	if r.haveTransit {
		d := transit - r.lastTransit
		// The timestamp is 32-bit: fold a wrapped difference back.
		d = int64(int32(d))
		if d < 0 {
			d = -d
		}
		r.interarrivalJitter += (float64(d) - r.interarrivalJitter) / 16
	}
	r.lastTransit, r.haveTransit = transit, true
}

// maxConcealedFrames is how long PLC runs on in a gap before it fades to
// plain silence: beyond ~100 ms extrapolated speech sounds worse than none.
const maxConcealedFrames = 5

// Play writes one frame per frame duration into the sink, from the jitter
// buffer or concealment, until ctx ends. It starts the moment it is called,
// so a recording sink holds exactly the call's time from then on.
func (r *Receiver) Play(ctx context.Context) error {
	dec, err := NewDecoder()
	if err != nil {
		return fmt.Errorf("media: receiver: %w", err)
	}
	pcmBuf := make([]int16, MaxPacketSamples)
	mergedBuf := make([]int16, MaxPacketSamples)
	var (
		pcm, merged []int16
		pacer       *Pacer
	)
	concealedRun := 0
	decoded := false // the decoder has state worth extrapolating
	phased := false  // the frame clock has been moved to the first packet
	for {
		buffer := r.buffer.Load()
		if n := buffer.FrameSamples(); n != len(pcm) {
			pcm, merged = pcmBuf[:n], mergedBuf[:n]
			pacer = NewPacer(samplesDuration(int64(n)))
		}
		if err := pacer.Wait(ctx); err != nil {
			return nil
		}
		now := r.cfg.Now()
		trim := 0
		if late, ok := buffer.Lateness(now); ok && !phased {
			// The frame clock's phase is arbitrary: the first packet may fall
			// due up to a frame before or after a tick, a frame of latency for
			// the whole call. Move the clock to it, once: by a gap of silence
			// before it, or by playing the first frame that much shorter.
			phased = true
			if late -= phaseMargin; late < 0 {
				if err := r.writeGap(ctx, pcmBuf[:min(len(pcm), samplesOf(-late))], now); err != nil {
					return err
				}
				pacer = NewPacer(samplesDuration(int64(len(pcm))))
				continue
			}
			trim = min(samplesOf(late), len(pcm)-opusQuantum)
		}
		frame := buffer.Pop(now)
		concealed := false
		switch frame.Kind {
		case jitter.FramePacket:
			if _, err := dec.Decode(frame.Payload, pcm); err != nil {
				concealed = true
				conceal(dec, pcm, decoded && concealedRun < maxConcealedFrames)
			} else {
				decoded = true
			}
			// The buffer is behind its target: play two frames in one. The
			// decoder must see both packets to keep its state in step.
			if frame.Merge != nil {
				if _, err := dec.Decode(frame.Merge, merged); err == nil {
					crossfade(pcm, merged)
				}
			}
		case jitter.FrameLost:
			concealed = true
			if frame.FECPayload != nil && dec.DecodeFEC(frame.FECPayload, pcm) == nil {
				r.fecRecovered.Add(1)
			} else {
				conceal(dec, pcm, decoded && concealedRun < maxConcealedFrames)
			}
		default: // jitter.FrameEmpty: not started, underrun or DTX
			concealed = r.started.Load()
			conceal(dec, pcm, decoded && concealedRun < maxConcealedFrames)
		}
		if concealed {
			concealedRun++
			r.concealedSamples.Add(uint64(len(pcm) - trim))
		} else {
			concealedRun = 0
		}
		if r.started.Load() {
			r.totalSamples.Add(uint64(len(pcm) - trim))
			r.level.add(pcm[trim:])
		}
		if err := r.cfg.Sink.WriteFrame(pcm[trim:]); err != nil {
			return fmt.Errorf("media: write sink: %w", err)
		}
		if trim > 0 {
			// Restart the clock so that the next tick comes when the shortened
			// frame has played.
			if sleepCtx(ctx, samplesDuration(int64(len(pcm)-trim))-time.Since(now)) != nil {
				return nil
			}
			pacer = NewPacer(samplesDuration(int64(len(pcm))))
		}
	}
}

// phaseMargin is how long after the first packet falls due the frame clock
// ticks once moved: the due times move by a millisecond or two as the jitter
// buffer learns the path, and a tick just before one costs a whole frame.
const phaseMargin = 3 * time.Millisecond

// writeGap writes gap as silence and returns when it has played, counting
// from now; nil also when ctx ends.
func (r *Receiver) writeGap(ctx context.Context, gap []int16, now time.Time) error {
	clear(gap)
	if err := r.cfg.Sink.WriteFrame(gap); err != nil {
		return fmt.Errorf("media: write sink: %w", err)
	}
	sleepCtx(ctx, samplesDuration(int64(len(gap)))-time.Since(now))
	return nil
}

// samplesOf returns how many samples last d, rounding down.
func samplesOf(d time.Duration) int { return int(d * SampleRate / time.Second) }

// sleepCtx sleeps for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// crossfade overwrites a with a fade from a to b over its whole length. In
// place of two consecutive frames it starts where a starts and ends where b
// ends, so playing it instead of both removes one frame without a jump in
// the waveform at either edge.
func crossfade(a, b []int16) {
	n := int32(len(a))
	for i := range a {
		w := int32(i)
		a[i] = int16((int32(a[i])*(n-w) + int32(b[i])*w) / n)
	}
}

// conceal fills pcm with the decoder's loss concealment, or with silence
// when plc is false or the decoder cannot conceal.
func conceal(dec *Decoder, pcm []int16, plc bool) {
	if plc && dec.Conceal(pcm) == nil {
		return
	}
	clear(pcm)
}

// Stats returns the counters so far; safe to call while Receive and Play run.
func (r *Receiver) Stats() ReceiverStats {
	r.mu.Lock()
	j := r.interarrivalJitter
	retired := r.retired
	r.mu.Unlock()
	current := r.buffer.Load().Stats()
	return ReceiverStats{
		Jitter:             addCounters(current, retired),
		InterarrivalJitter: time.Duration(j * float64(time.Second) / SampleRate),
		ConcealedSamples:   r.concealedSamples.Load(),
		FECRecovered:       r.fecRecovered.Load(),
		TotalSamples:       r.totalSamples.Load(),
		LevelDBFS:          r.level.meanDBFS(),
	}
}
