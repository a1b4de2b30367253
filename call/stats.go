package call

import (
	"errors"
	"net"
	"strconv"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/parley-voip/parley/media"
)

// Stats is one call's record, written as a JSON line by --stats (DESIGN §6
// contract). Names follow WebRTC's getStats where one exists; every field is
// always present so that scripts need not guess.
type Stats struct {
	CallID              string    `json:"call_id"`
	Peer                string    `json:"peer"`
	Direction           Direction `json:"direction"`
	Start               time.Time `json:"start"`
	EndReason           EndReason `json:"end_reason"`
	SetupMS             float64   `json:"setup_ms"`   // dial (caller) or answer (callee) → media flowing
	DurationS           float64   `json:"duration_s"` // media flowing → end
	Path                string    `json:"path"`       // "direct", "relay", or "" if never connected
	LocalCandidateType  string    `json:"local_candidate_type"`
	RemoteCandidateType string    `json:"remote_candidate_type"`
	RelayAddr           string    `json:"relay_addr"`
	ICERestarts         int       `json:"ice_restarts"` // paths lost and restored; the path fields are the last path's
	RTTMS               float64   `json:"rtt_ms"`       // ICE's latest STUN round trip on the selected pair
	PacketsSent         uint64    `json:"packets_sent"`
	PacketsReceived     uint64    `json:"packets_received"`
	PacketsLost         uint64    `json:"packets_lost"`
	PacketsLate         uint64    `json:"packets_late"`
	JitterMS            float64   `json:"jitter_ms"` // RFC 3550 interarrival jitter
	JitterBufferDelayMS float64   `json:"jitter_buffer_delay_ms"`
	ConcealedSamples    uint64    `json:"concealed_samples"`
	TotalSamples        uint64    `json:"total_samples"`
	FECRecovered        uint64    `json:"fec_recovered"`
	BitrateBPS          float64   `json:"bitrate_bps"` // Opus payload bits per second sent
	Codec               string    `json:"codec"`
	// SAS is the short authentication string both sides derive from their
	// DTLS fingerprints: the same six digits at both ends of an honest call.
	SAS string `json:"sas"`

	// JitterBufferMeanDelayMS is the mean of jitter_buffer_delay_ms (the last
	// played packet's arrival → playout) over every packet played (getStats:
	// jitterBufferDelay / jitterBufferEmittedCount).
	JitterBufferMeanDelayMS   float64 `json:"jitter_buffer_mean_delay_ms"`
	JitterBufferTargetDelayMS float64 `json:"jitter_buffer_target_delay_ms"` // the adaptive target at the end
	// Frames the jitter buffer inserted (concealment, to grow its delay) and
	// removed (silence skipped or two packets merged, to shrink it).
	JitterBufferExpanded   uint64 `json:"jitter_buffer_expanded"`
	JitterBufferCompressed uint64 `json:"jitter_buffer_compressed"`
	// The encoder's settings at the end, as adapted to the peer's RTCP
	// receiver reports and to the measured cost of encoding.
	EncoderBitrateBPS   int     `json:"encoder_bitrate_bps"`
	EncoderComplexity   int     `json:"encoder_complexity"`
	EncoderFEC          bool    `json:"encoder_fec"`
	EncoderExpectedLoss int     `json:"encoder_expected_loss_pct"`
	EncoderFrameMS      float64 `json:"encoder_frame_ms"` // the frame sent at the end
	// Mean audio levels over the call in dBFS (-127: silence): what the
	// microphone gave and what the speaker played.
	AudioLevelSentDBFS     float64 `json:"audio_level_sent_dbfs"`
	AudioLevelReceivedDBFS float64 `json:"audio_level_received_dbfs"`
}

// DialFailure is the record of a call that Dial could not place.
func DialFailure(peer string, start time.Time, err error) Stats {
	reason := EndFailed
	switch {
	case errors.Is(err, ErrNoSuchUser):
		reason = EndNoSuchUser
	case errors.Is(err, ErrOffline):
		reason = EndOffline
	}
	return Stats{Peer: peer, Direction: Outgoing, Start: start, EndReason: reason, Codec: codecName}
}

// codecName is the stats' codec: Parley speaks only Opus.
const codecName = "opus/48000"

// Direction says who placed a call.
type Direction string

// The directions of a call.
const (
	Outgoing Direction = "outgoing"
	Incoming Direction = "incoming"
)

// fillPath records the selected candidate pair of a connected call.
func (s *Stats) fillPath(ice *webrtc.ICETransport) {
	pair, err := ice.GetSelectedCandidatePair()
	if err != nil || pair == nil {
		return
	}
	s.LocalCandidateType = pair.Local.Typ.String()
	s.RemoteCandidateType = pair.Remote.Typ.String()
	s.Path = "direct"
	if pair.Local.Typ == webrtc.ICECandidateTypeRelay || pair.Remote.Typ == webrtc.ICECandidateTypeRelay {
		s.Path = "relay"
	}
	if pair.Local.Typ == webrtc.ICECandidateTypeRelay {
		s.RelayAddr = net.JoinHostPort(pair.Local.Address, strconv.Itoa(int(pair.Local.Port)))
	}
	if ps, ok := ice.GetSelectedCandidatePairStats(); ok {
		s.RTTMS = ps.CurrentRoundTripTime * 1000
	}
}

// fillMedia records the media counters at the end of a call.
func (s *Stats) fillMedia(snd *media.Sender, rcv *media.Receiver) {
	if snd != nil {
		st := snd.Stats()
		s.PacketsSent = st.PacketsSent
		if s.DurationS > 0 {
			s.BitrateBPS = float64(st.PayloadBytes*8) / s.DurationS
		}
		s.EncoderBitrateBPS = st.Bitrate
		s.EncoderComplexity = st.Complexity
		s.EncoderFEC = st.FEC
		s.EncoderExpectedLoss = st.ExpectedLossPercent
		s.EncoderFrameMS = float64(st.FrameSamples) * 1000 / media.SampleRate
		s.AudioLevelSentDBFS = st.LevelDBFS
	}
	if rcv != nil {
		st := rcv.Stats()
		s.PacketsReceived = st.Jitter.Received
		s.PacketsLost = st.Jitter.Lost
		s.PacketsLate = st.Jitter.Late
		s.JitterMS = durationMS(st.InterarrivalJitter)
		s.JitterBufferDelayMS = durationMS(st.Jitter.Delay)
		s.JitterBufferMeanDelayMS = durationMS(st.Jitter.MeanDelay)
		s.JitterBufferTargetDelayMS = durationMS(st.Jitter.TargetDelay)
		s.JitterBufferExpanded = st.Jitter.Expanded
		s.JitterBufferCompressed = st.Jitter.Compressed
		s.ConcealedSamples = st.ConcealedSamples
		s.TotalSamples = st.TotalSamples
		s.FECRecovered = st.FECRecovered
		s.AudioLevelReceivedDBFS = st.LevelDBFS
	}
}

func durationMS(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
