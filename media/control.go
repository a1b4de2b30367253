package media

import (
	"math"
	"slices"
	"time"

	"github.com/pion/rtcp"
)

// Encoder control: the bitrate, the expected loss that sets in-band FEC's
// strength, and the complexity follow what the peer's RTCP receiver reports
// say about the path and what encoding costs here.
const (
	// MinBitrate and MaxBitrate bound the adapted bitrate (DESIGN §5): Opus
	// speech is intelligible at 12 kbit/s and transparent well below 64.
	MinBitrate = 12000
	MaxBitrate = 64000

	// Loss-based rate control as in Google Congestion Control
	// (draft-ietf-rmcat-gcc-02 §6): above 10 % loss the path is congested,
	// back off by half the loss; below 2 % probe upwards by 8 % a report
	// (reports come about once a second); in between hold.
	congestedLoss = 0.10
	cleanLoss     = 0.02
	increaseStep  = 1.08
	// Past heavyLoss the path is far over its capacity (a cap, not random
	// loss): what arrived is what fits, so the bitrate drops at once to the
	// share of the sent rate, headers included, that got through. Halving
	// the loss a report would take many reports, and reports cross the same
	// congested path, where many are lost.
	heavyLoss = 0.25
	// Under a cap the headers alone (IPv4, UDP, RTP, SRTP: 50 bytes a
	// packet, 20 kbit/s at 20 ms) can exceed the path: at the lowest bitrate,
	// still congested, frames grow (10, 20, 40, 60 ms: Opus's sizes) up to
	// maxAdaptiveFrame, cutting the packet rate; once the bitrate has
	// climbed back to restoreFrameBitrate on a clean path they return to
	// the configured size step by step. At 60 ms the lowest bitrate and its
	// headers fit 24 kbit/s even counting Ethernet's 14 bytes a packet.
	maxAdaptiveFrame    = 2880 // 60 ms
	smallFrameBitrate   = 24000
	restoreFrameBitrate = 32000
	// A loss-based controller alone sits at a bottleneck with up to 10 %
	// loss. The delay-based part of GCC backs off before that: when the
	// round trip (RFC 3550 §6.4.1, from the reports' LSR and DLSR) exceeds
	// the smallest seen by queueDelayLimit, a queue is building; the
	// bitrate then drops by delayBackoff.
	queueDelayLimit = 40 * time.Millisecond
	delayBackoff    = 0.85
	// baseRTTReports is how many reports the smallest round trip is taken
	// over: the path's base delay changes with the path (an ICE restart
	// onto a relay), and a smallest-ever would then read as a standing
	// queue and hold the bitrate at its floor for the rest of the call.
	baseRTTReports = 30
	// Near the bitrate where the path last congested the increase is
	// additive, additiveStep a report, as GCC's is near convergence: the
	// bitrate creeps back towards the bottleneck instead of overshooting it
	// every few seconds. Past that bitrate the path has changed and the
	// increase is multiplicative again.
	additiveStep = 500
	// lossSmoothing weighs each new report's loss fraction against the past.
	lossSmoothing = 0.5
	// maxExpectedLoss caps the loss figure given to libopus: beyond it FEC
	// takes bits from the primary encoding without saving more frames.
	maxExpectedLoss = 30

	// Complexity follows the encoder's measured cost as a share of the
	// frame's real time, judged every complexityWindow frames: above
	// busyShare the machine is short of headroom, below idleShare it has
	// plenty. Complexity stays within minComplexity..10.
	complexityWindow = 100
	busyShare        = 0.10
	idleShare        = 0.04
	minComplexity    = 3
)

// encoderSettings are the adapted encoder parameters.
type encoderSettings struct {
	bitrate      int
	lossPercent  int
	fec          bool
	complexity   int
	reportedLoss float64                       // smoothed fraction lost from the receiver reports
	bandwidth    int                           // the peer's estimate of the path (REMB), bits/s; 0 if none
	frameSamples int                           // the frame sent
	baseFrame    int                           // the configured frame, returned to when the path allows
	rtts         [baseRTTReports]time.Duration // the last reports' round trips, a ring
	rttReports   int                           // reports that gave a round trip
	ceiling      int                           // the bitrate at the last congestion; 0 when none or passed
}

// onReport folds in one receiver report: its fraction lost (0..1) and,
// when haveRTT, the round trip it implies.
func (s *encoderSettings) onReport(fraction float64, rtt time.Duration, haveRTT bool) {
	s.reportedLoss = lossSmoothing*fraction + (1-lossSmoothing)*s.reportedLoss
	queuing := false
	if haveRTT {
		s.rtts[s.rttReports%baseRTTReports] = rtt
		s.rttReports++
		queuing = rtt-slices.Min(s.rtts[:min(s.rttReports, baseRTTReports)]) > queueDelayLimit
	}
	congested := fraction > congestedLoss || queuing
	if congested {
		s.ceiling = s.bitrate
	}
	switch {
	case fraction > heavyLoss:
		fits := int(float64(s.bitrate+s.headerRate())*(1-fraction)) - s.headerRate()
		s.bitrate = min(int(float64(s.bitrate)*(1-0.5*fraction)), fits)
	case fraction > congestedLoss:
		s.bitrate = int(float64(s.bitrate) * (1 - 0.5*fraction))
	case queuing:
		s.bitrate = int(float64(s.bitrate) * delayBackoff)
	case fraction < cleanLoss && s.ceiling > 0 && s.bitrate <= s.ceiling:
		s.bitrate += additiveStep
	case fraction < cleanLoss:
		s.ceiling = 0
		s.bitrate = int(math.Ceil(float64(s.bitrate) * increaseStep))
	}
	switch {
	case congested && s.bitrate < smallFrameBitrate && s.frameSamples < maxAdaptiveFrame:
		s.frameSamples = min(2*s.frameSamples, maxAdaptiveFrame)
	case !congested && fraction < cleanLoss && s.bitrate >= restoreFrameBitrate && s.frameSamples > s.baseFrame:
		if s.frameSamples == maxAdaptiveFrame {
			s.frameSamples = 1920 // 60 ms has no half among Opus's sizes: 40 (no base frame is longer)
		} else {
			s.frameSamples /= 2
		}
	}
	s.lossPercent = min(int(math.Round(100*s.reportedLoss)), maxExpectedLoss)
	// In-band FEC whenever loss is seen; it costs bits only while libopus
	// expects loss (RFC 6716 §2.1.7).
	s.fec = s.lossPercent > 0
	s.clampBitrate()
}

// onBandwidth takes the peer's estimate of the available bandwidth.
func (s *encoderSettings) onBandwidth(bps int) {
	s.bandwidth = bps
	s.clampBitrate()
}

func (s *encoderSettings) clampBitrate() {
	high := MaxBitrate
	if s.bandwidth > 0 {
		// The estimate covers the headers too: leave Opus what remains.
		high = min(high, s.bandwidth-s.headerRate())
	}
	s.bitrate = max(MinBitrate, min(s.bitrate, high))
}

// headerRate is what the packets' headers cost at the current frame, bits/s.
func (s *encoderSettings) headerRate() int {
	return headerBytes * 8 * SampleRate / s.frameSamples
}

// headerBytes is the overhead of one packet: IPv4 20 + UDP 8 + RTP 12 +
// SRTP authentication tag 10 bytes (16 kbit/s at 50 packets a second).
const headerBytes = 20 + 8 + 12 + 10

// onEncodeCost folds in the mean cost of one encode over a window, as a
// share of the frame's duration, and moves complexity one step.
func (s *encoderSettings) onEncodeCost(share float64) {
	switch {
	case share > busyShare && s.complexity > minComplexity:
		s.complexity--
	case share < idleShare && s.complexity < 10:
		s.complexity++
	}
}

// HandleRTCP adapts the encoder to the RTCP packets the peer sent about
// this Sender's stream: receiver reports (RFC 3550 §6.4) give the loss, a
// REMB the peer's bandwidth estimate. A call has one stream each way, so
// every reception report is about this one. Safe to call while Run runs.
func (s *Sender) HandleRTCP(pkts []rtcp.Packet) {
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := false
	for _, p := range pkts {
		var reports []rtcp.ReceptionReport
		switch p := p.(type) {
		case *rtcp.ReceiverReport:
			reports = p.Reports
		case *rtcp.SenderReport:
			reports = p.Reports
		case *rtcp.ReceiverEstimatedMaximumBitrate:
			s.want.onBandwidth(int(p.Bitrate))
			changed = true
		}
		for _, r := range reports {
			rtt, ok := reportRTT(r, time.Now())
			s.want.onReport(float64(r.FractionLost)/256, rtt, ok)
			changed = true
		}
	}
	if changed {
		s.wantSeq.Add(1)
	}
}

// reportRTT returns the round trip a reception report implies at now, the
// time it arrived (RFC 3550 §6.4.1: now - LSR - DLSR, in the middle 32 bits
// of NTP time), and reports whether it echoes a sender report at all.
func reportRTT(r rtcp.ReceptionReport, now time.Time) (time.Duration, bool) {
	if r.LastSenderReport == 0 {
		return 0, false
	}
	d := ntpMiddle(now) - r.LastSenderReport - r.Delay
	if int32(d) < 0 {
		return 0, false
	}
	return time.Duration(uint64(d) * uint64(time.Second) >> 16), true
}

// ntpMiddle returns the middle 32 bits of t as an NTP timestamp: 16 bits of
// seconds since 1900 and 16 of fraction.
func ntpMiddle(t time.Time) uint32 {
	const ntpEpochOffset = 2208988800 // 1900 to 1970, in seconds
	secs := uint64(t.Unix()) + ntpEpochOffset
	frac := uint64(t.Nanosecond()) << 32 / uint64(time.Second)
	return uint32(secs<<16 | frac>>16)
}

// applySettings brings the encoder in line with the wanted settings when
// they changed; Run calls it between frames.
func (s *Sender) applySettings() error {
	seq := s.wantSeq.Load()
	if seq == s.appliedSeq {
		return nil
	}
	s.mu.Lock()
	want := s.want
	s.mu.Unlock()
	s.appliedSeq = seq
	if err := s.encoder.SetBitrate(want.bitrate); err != nil {
		return err
	}
	if err := s.encoder.SetPacketLossPercent(want.lossPercent); err != nil {
		return err
	}
	if err := s.encoder.SetFEC(want.fec); err != nil {
		return err
	}
	if err := s.encoder.SetComplexity(want.complexity); err != nil {
		return err
	}
	s.frameSamples = want.frameSamples
	s.applied.Store(&want)
	return nil
}

// encodeMeter measures what encoding costs against the frame's duration.
type encodeMeter struct {
	frame  time.Duration
	total  time.Duration
	frames int
}

// add records one encode and reports the window's mean share of the frame
// duration once complexityWindow frames have been measured.
func (m *encodeMeter) add(d time.Duration) (share float64, ok bool) {
	m.total += d
	m.frames++
	if m.frames < complexityWindow {
		return 0, false
	}
	share = float64(m.total) / float64(m.frames) / float64(m.frame)
	m.total, m.frames = 0, 0
	return share, true
}
