package media

import (
	"math"
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
	reportedLoss float64 // smoothed fraction lost from the receiver reports
	bandwidth    int     // the peer's estimate of the path (REMB), bits/s; 0 if none
	packetRate   int     // packets a second, for the header overhead
}

// onLoss folds in one receiver report's fraction lost (0..1).
func (s *encoderSettings) onLoss(fraction float64) {
	s.reportedLoss = lossSmoothing*fraction + (1-lossSmoothing)*s.reportedLoss
	switch {
	case fraction > congestedLoss:
		s.bitrate = int(float64(s.bitrate) * (1 - 0.5*fraction))
	case fraction < cleanLoss:
		s.bitrate = int(math.Ceil(float64(s.bitrate) * increaseStep))
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
		high = min(high, s.bandwidth-headerBytes*8*s.packetRate)
	}
	s.bitrate = max(MinBitrate, min(s.bitrate, high))
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
			s.want.onLoss(float64(r.FractionLost) / 256)
			changed = true
		}
	}
	if changed {
		s.wantSeq.Add(1)
	}
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
