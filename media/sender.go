package media

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
)

// RTPWriter is where a Sender puts its packets; pion's TrackLocalStaticRTP
// is one. WriteRTP must not keep p after it returns.
type RTPWriter interface {
	WriteRTP(p *rtp.Packet) error
}

// SenderConfig configures a Sender; the zero value of every field but
// Source means its default.
type SenderConfig struct {
	Source       Source
	Encoder      EncoderConfig
	FrameSamples int // samples per frame at 48 kHz; 0 → FrameSamples (20 ms)
}

// SenderStats counts what a Sender has sent and how its encoder is set.
type SenderStats struct {
	PacketsSent  uint64
	PayloadBytes uint64 // Opus bytes, without RTP/SRTP/UDP overhead
	// The encoder's current settings, adapted by HandleRTCP and to the
	// measured cost of encoding.
	Bitrate             int
	Complexity          int
	FEC                 bool
	ExpectedLossPercent int
	FrameSamples        int // the frame sent, adapted under a tight cap
	// LevelDBFS is the mean level of the audio sent (source frames,
	// silence included), SilenceDBFS for none.
	LevelDBFS float64
}

// Sender is the outgoing audio path of a call: source → Opus → RTP.
type Sender struct {
	source       Source
	encoder      *Encoder
	frameSamples int // owned by Run once it runs

	packetsSent  atomic.Uint64
	payloadBytes atomic.Uint64
	level        levelMeter

	// mu guards want, the settings HandleRTCP and the encode meter decide;
	// wantSeq counts their changes and Run applies them between frames.
	mu         sync.Mutex
	want       encoderSettings
	wantSeq    atomic.Uint64
	appliedSeq uint64                          // owned by Run
	applied    atomic.Pointer[encoderSettings] // the settings in force
}

// NewSender makes a Sender reading cfg.Source.
func NewSender(cfg SenderConfig) (*Sender, error) {
	if cfg.Source == nil {
		return nil, errors.New("media: sender needs a source")
	}
	if cfg.FrameSamples == 0 {
		cfg.FrameSamples = FrameSamples
	}
	enc, err := NewEncoder(cfg.Encoder)
	if err != nil {
		return nil, fmt.Errorf("media: sender: %w", err)
	}
	ecfg := cfg.Encoder.withDefaults()
	s := &Sender{source: cfg.Source, encoder: enc, frameSamples: cfg.FrameSamples}
	s.want = encoderSettings{
		bitrate:      ecfg.Bitrate,
		lossPercent:  ecfg.PacketLossPercent,
		fec:          ecfg.FEC,
		complexity:   ecfg.Complexity,
		frameSamples: cfg.FrameSamples,
		baseFrame:    cfg.FrameSamples,
	}
	applied := s.want
	s.applied.Store(&applied)
	return s, nil
}

// dtxMaxBytes is the size at or below which libopus's output in DTX mode
// carries no audio (RFC 6716 §3.1: a TOC byte alone, or with one count byte);
// such packets are not sent and the receiver conceals the gap.
const dtxMaxBytes = 2

// Run reads, encodes and sends one frame per frame duration until ctx ends
// or w fails. The source paces it.
func (s *Sender) Run(ctx context.Context, w RTPWriter) error {
	pcmBuf := make([]int16, MaxPacketSamples)
	payload := make([]byte, MaxOpusPacket)
	// RFC 3550 §5.1: random initial sequence number and timestamp.
	pkt := rtp.Packet{Header: rtp.Header{
		Version:        2,
		SequenceNumber: uint16(rand.Uint32()),
		Timestamp:      rand.Uint32(),
		Marker:         true, // first packet of a talkspurt
	}}
	meter := encodeMeter{frame: time.Duration(s.frameSamples) * time.Second / SampleRate}
	for {
		pcm := pcmBuf[:s.frameSamples]
		meter.frame = time.Duration(len(pcm)) * time.Second / SampleRate
		if err := s.source.ReadFrame(ctx, pcm); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("media: read source: %w", err)
		}
		s.level.add(pcm)
		if err := s.applySettings(); err != nil {
			return fmt.Errorf("media: adapt encoder: %w", err)
		}
		start := time.Now()
		n, err := s.encoder.Encode(pcm, payload)
		if err != nil {
			return fmt.Errorf("media: encode: %w", err)
		}
		if share, ok := meter.add(time.Since(start)); ok {
			s.mu.Lock()
			before := s.want.complexity
			s.want.onEncodeCost(share)
			if s.want.complexity != before {
				s.wantSeq.Add(1)
			}
			s.mu.Unlock()
		}
		if n > dtxMaxBytes {
			pkt.Payload = payload[:n]
			if err := w.WriteRTP(&pkt); err != nil {
				return fmt.Errorf("media: send rtp: %w", err)
			}
			s.packetsSent.Add(1)
			s.payloadBytes.Add(uint64(n))
			pkt.SequenceNumber++
			pkt.Marker = false
		} else {
			// RFC 3551 §4.1: the marker flags the first packet after silence.
			pkt.Marker = true
		}
		pkt.Timestamp += uint32(s.frameSamples)
	}
}

// Stats returns the counters so far; safe to call while Run runs.
func (s *Sender) Stats() SenderStats {
	set := s.applied.Load()
	return SenderStats{
		PacketsSent:         s.packetsSent.Load(),
		PayloadBytes:        s.payloadBytes.Load(),
		Bitrate:             set.bitrate,
		Complexity:          set.complexity,
		FEC:                 set.fec,
		ExpectedLossPercent: set.lossPercent,
		FrameSamples:        set.frameSamples,
		LevelDBFS:           s.level.meanDBFS(),
	}
}
