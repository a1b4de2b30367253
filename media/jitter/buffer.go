// Package jitter is the receive side's playout buffer: it takes RTP packets
// in the order the network delivers them and hands out one frame per frame
// duration in timestamp order, saying for each frame whether to decode a
// packet, conceal a lost one (offering the next packet for in-band FEC), or
// play nothing.
//
// Playout follows RTP timestamps, not sequence numbers, so that DTX pauses
// (timestamps jump, sequence numbers do not) play as silence rather than
// loss. Sequence numbers tell the two apart and detect duplicates; both
// wrap around (16 and 32 bits) and all comparisons are modular.
//
// The delay adapts as WebRTC's NetEq does: a frame is due when the fastest
// recent packet would have brought it plus a target delay, the 95th
// percentile of how much later than that fastest packet the others came
// (delay.go). A clean path thus plays with under one frame of slack; jitter
// raises the target within a few packets and its end lowers it over seconds.
// Playout moves towards the target without clicks: to grow, it waits (the
// caller conceals, which libopus does pitch-synchronously); to shrink, it
// skips silence (DTX pauses) or, when it stays too late during speech, hands
// out two packets to be merged into one frame. A packet that comes after its
// frame passed, while nothing later is buffered, is still played: playout
// steps back to it (as NetEq plays a late packet after expanding), so a
// delay spike costs concealment, not the spike's packets. Because the
// reference is a sliding minimum, sender clock drift moves the target with it
// instead of accumulating.
//
// Memory is a fixed ring of slots allocated by New, so a hostile peer cannot
// grow it and steady-state Push/Pop do not allocate.
package jitter

import (
	"fmt"
	"sync"
	"time"
)

// MaxPayload is the largest payload Push accepts, in bytes: a full Ethernet
// MTU, more than any RTP packet pion reads (1460) or Opus makes (1275).
const MaxPayload = 1500

// RFC 3550 §A.1 limits on sequence-number jumps: beyond them a packet is a
// restart of the sequence only when the next packet confirms it.
const (
	maxDropout  = 3000
	maxMisorder = 100
	noBadSeq    = 1 << 16 // no pending restart: not a sequence number
)

// FrameKind says what Pop found for a frame.
type FrameKind int

const (
	// FrameEmpty means there is nothing to play: playout has not started, the
	// buffer ran dry, or the sender is in a DTX pause. Conceal for a few
	// frames, then play silence.
	FrameEmpty FrameKind = iota
	// FramePacket means the frame's packet is here: decode Frame.Payload
	// (and, when set, Frame.Merge).
	FramePacket
	// FrameLost means the frame's packet is missing although later ones
	// arrived: conceal it, or decode it from Frame.FECPayload when set.
	FrameLost
)

// String returns the kind's name.
func (k FrameKind) String() string {
	switch k {
	case FrameEmpty:
		return "empty"
	case FramePacket:
		return "packet"
	case FrameLost:
		return "lost"
	}
	return fmt.Sprintf("FrameKind(%d)", int(k))
}

// Frame is what to play for one frame duration. Payload and FECPayload are
// owned by the Buffer and valid until the next Pop.
type Frame struct {
	Kind FrameKind
	// Payload is the packet to decode (FramePacket only).
	Payload []byte
	// Merge is set when playout is behind its target during speech: it is
	// the next frame's packet, to decode after Payload and compress with it
	// into one frame's time (FramePacket only).
	Merge []byte
	// FECPayload is the packet right after a lost frame, whose in-band FEC
	// can rebuild it (FrameLost only, when that packet is here).
	FECPayload []byte
	// Timestamp is the frame's RTP timestamp.
	Timestamp uint32
}

// Stats describes what a Buffer has seen. Counters only grow.
type Stats struct {
	// Received counts every packet pushed, whatever became of it.
	Received uint64
	// Lost counts frames that came due while their packet was missing and
	// sequence numbers prove one was sent (a DTX pause is not loss). It is
	// counted when a later packet proves the gap, once per frame; a packet
	// arriving after its frame was due is also counted in Late.
	Lost uint64
	// Late counts packets dropped because their frame was already due.
	Late uint64
	// Duplicates counts packets dropped because the same packet was already
	// buffered or recently played.
	Duplicates uint64
	// Reordered counts packets that arrived after a higher sequence number
	// and were still put back in order.
	Reordered uint64
	// Discarded counts packets dropped for any other reason: empty or larger
	// than MaxPayload, a second packet for one frame, a sequence jump not yet
	// confirmed (RFC 3550 §A.1), a stray of an SSRC just replaced, or flushed
	// from the buffer by a resync.
	Discarded uint64
	// Expanded counts frames inserted to let the delay grow: Pops that
	// returned FrameEmpty without moving the playout point.
	Expanded uint64
	// Compressed counts frames removed to let the delay shrink: silent frames
	// skipped and packets merged into the frame before them.
	Compressed uint64
	// Delay is how long the last played packet spent buffered (arrival to
	// Pop); zero until one has played.
	Delay time.Duration
	// MeanDelay is the mean of Delay over every packet played (WebRTC's
	// jitterBufferDelay / jitterBufferEmittedCount).
	MeanDelay time.Duration
	// TargetDelay is how much later than the fastest recent packet the
	// buffer aims to play each frame.
	TargetDelay time.Duration
}

// slotState is what a ring slot holds.
type slotState uint8

const (
	slotEmpty  slotState = iota
	slotFilled           // a packet waiting for its frame
	slotPlayed           // a packet already played, kept to spot late duplicates
)

// slot holds the packet of one frame; its payload's backing array is
// allocated once by New.
type slot struct {
	state   slotState
	seq     uint16
	ts      uint32
	arrival time.Time
	payload []byte
}

// Buffer is a jitter buffer for one incoming RTP stream (one SSRC at a
// time). Push and Pop may be called from different goroutines.
type Buffer struct {
	cfg          Config
	frameSamples int64
	maxAhead     int64  // furthest slot ahead of the playout slot a packet may take
	slotMask     uint64 // len(slots)-1; len(slots) is a power of two > maxAhead

	// mu guards the following fields.
	mu       sync.Mutex
	slots    []slot
	out      []byte // Frame.Payload of the last Pop
	fec      []byte // Frame.FECPayload of the last Pop
	merge    []byte // Frame.Merge of the last Pop
	stats    Stats
	delay    *delayEstimator
	delaySum time.Duration // of Stats.Delay over the stats.played packets
	played   uint64
	// behindRun counts consecutive Pops that found playout a frame or more
	// behind its target.
	behindRun int
	// talking reports whether the last Pop played a packet.
	talking bool
	// lossSlot is the playout slot at which a loss was last counted; while
	// one is recent, the target has a frame more, so that the next packet
	// (and the lost frame's in-band FEC in it) is here when the frame is due.
	lossSlot   int64
	lossRecent bool

	active     bool   // a stream has started
	ssrc       uint32 // the stream's SSRC
	highestSeq uint16 // highest sequence number seen in the stream
	badSeq     uint32 // RFC 3550 §A.1: the sequence number that would confirm a restart, or noBadSeq

	// A replaced SSRC's packets still in flight are strays until strayUntil.
	hasStray   bool
	straySSRC  uint32
	strayUntil time.Time

	// Playout: slot number playSlot (any origin, counted in frames) holds
	// timestamp playTS, the next frame to play; playing is set from the first
	// frame played after a (re)start.
	playing   bool
	playTS    uint32
	playSlot  int64
	aheadSlot int64 // highest slot number holding a packet; < playSlot when none
	buffered  int   // filled slots

	// Loss accounting: accountedSeq and accountedTS (on the playout grid) are
	// the last frame played or declared lost; sequence numbers missing after
	// it, where frames passed too, are lost frames.
	accountedSeq uint16
	accountedTS  uint32
}

// New returns an empty Buffer. It panics if cfg.Validate reports an error:
// a Config comes from code, not from the network.
func New(cfg Config) *Buffer {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	cfg = cfg.withDefaults()
	frameSamples := int64(cfg.FrameSamples)
	maxDelaySamples := int64(cfg.MaxDelay) * int64(cfg.ClockRate) / int64(time.Second)
	maxAhead := (maxDelaySamples + frameSamples - 1) / frameSamples
	n := 1
	for int64(n) <= maxAhead+1 { // +1 keeps at least one played slot behind the window
		n *= 2
	}
	b := &Buffer{
		cfg:          cfg,
		frameSamples: frameSamples,
		maxAhead:     maxAhead,
		slotMask:     uint64(n - 1),
		slots:        make([]slot, n),
		out:          make([]byte, 0, MaxPayload),
		fec:          make([]byte, 0, MaxPayload),
		merge:        make([]byte, 0, MaxPayload),
		badSeq:       noBadSeq,
		delay:        newDelayEstimator(cfg.ClockRate, cfg.MinDelay, cfg.MaxDelay-2*cfg.frameDuration()),
		stats:        Stats{TargetDelay: cfg.MinDelay},
	}
	backing := make([]byte, n*MaxPayload)
	for i := range b.slots {
		b.slots[i].payload = backing[i*MaxPayload : i*MaxPayload : (i+1)*MaxPayload]
	}
	return b
}

// Push stores a packet of the stream. The payload is copied; arrival is the
// local time the packet was received.
func (b *Buffer) Push(seq uint16, timestamp uint32, ssrc uint32, payload []byte, arrival time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stats.Received++
	if len(payload) == 0 || len(payload) > MaxPayload {
		b.stats.Discarded++
		return
	}
	if !b.active || ssrc != b.ssrc {
		if b.hasStray && ssrc == b.straySSRC && arrival.Before(b.strayUntil) {
			b.stats.Discarded++
			return
		}
		if b.active {
			b.hasStray, b.straySSRC, b.strayUntil = true, b.ssrc, arrival.Add(b.cfg.MaxDelay)
		}
		b.startStreamLocked(seq, timestamp, ssrc, arrival)
		b.storeLocked(b.playSlot, seq, timestamp, payload, arrival)
		return
	}

	seqDelta := int16(seq - b.highestSeq)
	if seqDelta > maxDropout || seqDelta < -maxMisorder {
		if uint32(seq) != b.badSeq {
			b.badSeq = uint32(seq + 1)
			b.stats.Discarded++
			return
		}
		b.startStreamLocked(seq, timestamp, ssrc, arrival)
		b.storeLocked(b.playSlot, seq, timestamp, payload, arrival)
		return
	}
	b.badSeq = noBadSeq
	newest := seqDelta > 0
	if newest {
		b.highestSeq = seq
	}

	slotNum := b.playSlot + b.framesFrom(b.playTS, timestamp)
	behind := b.playSlot - slotNum
	switch {
	case -behind > b.maxAhead || newest && behind > 0 && (b.buffered > 0 || behind > b.maxAhead):
		// Too far ahead to buffer, or the newest packet behind buffered ones:
		// the timestamps jumped. Start anew from this packet.
		b.delay.restart()
		b.reanchorLocked(timestamp)
		slotNum = b.playSlot
	case behind > 0 && !b.playing && b.aheadSlot-slotNum <= b.maxAhead:
		// Arrived out of order before playout began: start from it instead.
		b.moveBackLocked(slotNum)
		if int16(seq-b.accountedSeq) <= 0 {
			b.accountedSeq = seq - 1
		}
		b.accountedTS = b.playTS - uint32(b.frameSamples)
	case behind > 0 && newest && b.framesFrom(b.accountedTS, timestamp) > 0:
		// The newest packet came after its frame passed (concealed) and
		// nothing later is here: play it late rather than lose it.
		b.moveBackLocked(slotNum)
	case behind > 0:
		s := &b.slots[uint64(slotNum)&b.slotMask]
		if s.state == slotPlayed && s.seq == seq && s.ts == timestamp {
			b.stats.Duplicates++
		} else {
			// The late packet's delay is what the target must learn from.
			b.delay.observe(timestamp, arrival)
			b.stats.Late++
		}
		return
	}
	b.delay.observe(timestamp, arrival)
	if b.storeLocked(slotNum, seq, timestamp, payload, arrival) && seqDelta < 0 {
		b.stats.Reordered++
	}
}

// moveBackLocked moves the playout point back to the earlier slot slotNum,
// on the same frame grid.
func (b *Buffer) moveBackLocked(slotNum int64) {
	b.playTS += uint32((slotNum - b.playSlot) * b.frameSamples)
	b.playSlot = slotNum
}

// framesFrom returns how many frames timestamp ts lies after from (negative
// when before it), rounding down; the difference is taken modulo 2^32.
func (b *Buffer) framesFrom(from, ts uint32) int64 {
	delta := int64(int32(ts - from))
	if delta < 0 {
		return -((-delta + b.frameSamples - 1) / b.frameSamples)
	}
	return delta / b.frameSamples
}

// startStreamLocked begins a new stream (first packet, new SSRC or a
// confirmed sequence restart) with the given packet as its first.
func (b *Buffer) startStreamLocked(seq uint16, ts, ssrc uint32, arrival time.Time) {
	b.active, b.ssrc = true, ssrc
	b.highestSeq, b.badSeq = seq, noBadSeq
	b.delay.restart()
	b.reanchorLocked(ts)
	b.delay.observe(ts, arrival)
	b.accountedSeq, b.accountedTS = seq-1, ts-uint32(b.frameSamples)
}

// reanchorLocked flushes the buffer and makes timestamp ts the next to
// play, as for the first packet of a stream.
func (b *Buffer) reanchorLocked(ts uint32) {
	for i := range b.slots {
		s := &b.slots[i]
		if s.state == slotFilled {
			b.stats.Discarded++
			// A flushed packet was received, not lost: account for it.
			if int16(s.seq-b.accountedSeq) > 0 {
				b.accountedSeq = s.seq
			}
		}
		s.state = slotEmpty
	}
	b.buffered = 0
	b.playing = false
	b.behindRun = 0
	b.playTS = ts
	b.playSlot = 0
	b.aheadSlot = -1
	// The new anchor must come after the last accounted frame, or the next
	// packet played would be compared against a future that never comes.
	if b.framesFrom(b.accountedTS, ts) <= 0 {
		b.accountedTS = ts - uint32(b.frameSamples)
	}
}

// storeLocked puts a packet into slot slotNum, which lies within the
// window, and reports whether it did (the slot may hold a packet already).
func (b *Buffer) storeLocked(slotNum int64, seq uint16, ts uint32, payload []byte, arrival time.Time) bool {
	s := &b.slots[uint64(slotNum)&b.slotMask]
	if s.state == slotFilled {
		if s.seq == seq {
			b.stats.Duplicates++
		} else {
			b.stats.Discarded++
		}
		return false
	}
	s.state, s.seq, s.ts, s.arrival = slotFilled, seq, ts, arrival
	s.payload = append(s.payload[:0], payload...)
	b.buffered++
	b.aheadSlot = max(b.aheadSlot, slotNum)
	return true
}

// compressAfter is how many Pops in a row playout may stay a frame or more
// behind its target before it merges packets during speech; two frames
// behind, it merges at once.
const compressAfter = 25

// Pop returns what to play for the next frame at local time now and,
// unless it lets the delay grow, moves the playout point on by one frame (or
// more, to shrink it). Call it once per frame duration.
func (b *Buffer) Pop(now time.Time) Frame {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.active {
		return Frame{Kind: FrameEmpty}
	}
	frameDur := b.cfg.frameDuration()
	b.lossRecent = b.lossRecent && b.playSlot-b.lossSlot < int64(lossMemory/frameDur)
	// How far the frame due is past its target time (negative: early).
	late := now.Sub(b.delay.epoch) - b.delay.playTime(b.playTS) - b.fecDelayLocked()
	lost := b.stats.Lost
	defer func() {
		if b.stats.Lost != lost {
			b.lossSlot, b.lossRecent = b.playSlot, true
		}
	}()
	due := &b.slots[uint64(b.playSlot)&b.slotMask]
	if late < 0 && !(b.talking && due.state == slotFilled && late >= -frameDur) {
		// Early: wait, letting the delay grow to the target. Within a
		// talkspurt a packet already here is played up to one frame early
		// rather than interrupted by a frame of concealment.
		if b.playing {
			b.stats.Expanded++
		}
		b.talking = false
		return Frame{Kind: FrameEmpty, Timestamp: b.playTS}
	}
	b.playing = true
	if late >= frameDur {
		b.behindRun++
	} else {
		b.behindRun = 0
	}
	compress := late >= 2*frameDur || b.behindRun >= compressAfter
	frame := Frame{Kind: FrameEmpty, Timestamp: b.playTS}
	b.talking = due.state == slotFilled
	switch {
	case due.state == slotFilled:
		frame = Frame{Kind: FramePacket, Payload: append(b.out[:0], due.payload...), Timestamp: due.ts}
		b.playLocked(due, now)
		if next := &b.slots[uint64(b.playSlot)&b.slotMask]; compress && next.state == slotFilled {
			frame.Merge = append(b.merge[:0], next.payload...)
			b.playLocked(next, now)
			b.stats.Compressed++
			b.behindRun = 0
		}
	case b.provenLostLocked():
		frame.Kind = FrameLost
		if next := &b.slots[uint64(b.playSlot+1)&b.slotMask]; next.state == slotFilled {
			frame.FECPayload = append(b.fec[:0], next.payload...)
		}
		b.advanceLocked()
	default:
		// Silence (a DTX pause) or a packet not here in time: skipping such
		// frames when behind shrinks the delay without touching speech.
		b.advanceLocked()
		if compress {
			for skip := late / frameDur; skip > 0 && b.slots[uint64(b.playSlot)&b.slotMask].state != slotFilled; skip-- {
				b.advanceLocked()
				b.stats.Compressed++
			}
			b.behindRun = 0
		}
	}
	return frame
}

// lossMemory is how long after a loss the target keeps a frame for FEC.
const lossMemory = 5 * time.Second

// fecDelayLocked returns the delay added to the target for FEC: a frame
// while a loss is recent.
func (b *Buffer) fecDelayLocked() time.Duration {
	if b.lossRecent {
		return b.cfg.frameDuration()
	}
	return 0
}

// playLocked takes the packet in slot s, the one due, out of the buffer and
// moves the playout point past it.
func (b *Buffer) playLocked(s *slot, now time.Time) {
	s.state = slotPlayed
	b.buffered--
	b.accountPlayedLocked(s.seq)
	b.stats.Delay = now.Sub(s.arrival)
	b.delaySum += b.stats.Delay
	b.played++
	b.advanceLocked()
}

// advanceLocked moves the playout point on by one frame.
func (b *Buffer) advanceLocked() {
	b.playSlot++
	b.playTS += uint32(b.frameSamples)
}

// provenLostLocked reports whether the frame now due had a packet that is
// missing, and if so counts it (and any earlier frame passed while the buffer
// was dry) as lost. Proof is a buffered later packet whose sequence number is
// at least as far ahead of the last accounted frame as its timestamp: then
// every frame in between had a packet. With fewer sequence numbers than
// frames the sender paused (DTX) somewhere in the gap; which frames it skipped
// is unknown, so none is declared lost now and the packet, when played,
// accounts for the gap.
func (b *Buffer) provenLostLocked() bool {
	for n := b.playSlot + 1; n <= b.aheadSlot; n++ {
		next := &b.slots[uint64(n)&b.slotMask]
		if next.state != slotFilled {
			continue
		}
		lost := b.framesFrom(b.accountedTS, b.playTS) // this frame and any passed dry
		framesBetween := lost + n - b.playSlot - 1
		missing := int64(int16(next.seq-b.accountedSeq)) - 1
		if lost < 1 || missing < framesBetween {
			return false
		}
		b.stats.Lost += uint64(lost)
		b.accountedSeq += uint16(lost)
		b.accountedTS = b.playTS
		return true
	}
	return false
}

// accountPlayedLocked counts as lost the frames between the last accounted
// one and the frame now due, played from packet seq, for which sequence
// numbers are missing: frames passed while the buffer was dry whose packets
// never came in time.
func (b *Buffer) accountPlayedLocked(seq uint16) {
	framesBetween := b.framesFrom(b.accountedTS, b.playTS) - 1
	missing := int64(int16(seq-b.accountedSeq)) - 1
	if framesBetween > 0 && missing > 0 {
		b.stats.Lost += uint64(min(framesBetween, missing))
	}
	if int16(seq-b.accountedSeq) > 0 {
		b.accountedSeq = seq
	}
	b.accountedTS = b.playTS
}

// Lateness returns how long before now the packet at the playout point
// fell due (negative: it is not yet due) and reports whether there is one.
// A caller free to choose its frame clock's phase (a clock of its own, not a
// sound card's) can move it so that frames start as packets fall due,
// instead of up to a frame later.
func (b *Buffer) Lateness(now time.Time) (time.Duration, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.active || b.slots[uint64(b.playSlot)&b.slotMask].state != slotFilled {
		return 0, false
	}
	return now.Sub(b.delay.epoch) - b.delay.playTime(b.playTS) - b.fecDelayLocked(), true
}

// FrameSamples returns the frame length in RTP clock ticks: what one Pop
// plays.
func (b *Buffer) FrameSamples() int { return b.cfg.FrameSamples }

// Stats returns the buffer's counters and delays.
func (b *Buffer) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.stats
	s.TargetDelay = b.delay.target + b.fecDelayLocked()
	if b.played > 0 {
		s.MeanDelay = b.delaySum / time.Duration(b.played)
	}
	return s
}
