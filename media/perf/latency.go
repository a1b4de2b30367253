package perf

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/parley-voip/parley/media"
)

// LatencyConfig configures MeasureLatency; the zero value is the default.
type LatencyConfig struct {
	// FrameSamples is the frame both ends send, in samples at 48 kHz
	// (0: 960, 20 ms).
	FrameSamples int
	// Calls is how many calls run at once (0: 1).
	Calls int
	// Markers is how many markers each call sends (0: 20), one every
	// markerInterval.
	Markers int
}

// LatencyResult is what MeasureLatency found, over every marker of every
// call.
type LatencyResult struct {
	FrameMS float64 `json:"frame_ms"`
	Calls   int     `json:"calls"`
	Markers int     `json:"markers"` // detected at the far end
	Missed  int     `json:"missed"`  // sent but never detected
	P50MS   float64 `json:"p50_ms"`
	P95MS   float64 `json:"p95_ms"`
	MinMS   float64 `json:"min_ms"`
	MaxMS   float64 `json:"max_ms"`
}

const (
	markerInterval  = 500 * time.Millisecond
	markerDuration  = 10 * time.Millisecond // a 1 kHz beep
	markerHz        = 1000
	markerAmplitude = 16000
	// onsetThreshold is the level that marks a beep's arrival; a beep counts
	// only after quietBefore of quiet, so its tail or echo never does.
	onsetThreshold = markerAmplitude / 4
	quietBefore    = 100 * time.Millisecond
	// maxLatency pairs a detected beep with the marker sent at most this long
	// before it.
	maxLatency = 400 * time.Millisecond
)

var errNoMarkers = errors.New("perf: no marker arrived")

// MeasureLatency measures one-way mouth-to-ear latency over real calls on
// loopback, sound devices excluded: a beep is put into the sending source
// and found in the receiving sink. A beep's mouth time is when its first
// sample would have left a microphone (a frame is handed over once its
// last sample is captured); its ear time is when that sample would reach a
// speaker fed at the moment the frame is written. Every call is two pion
// PeerConnections over 127.0.0.1 with DTLS-SRTP, Parley's Sender and
// Receiver at the ends.
func MeasureLatency(ctx context.Context, cfg LatencyConfig) (LatencyResult, error) {
	if cfg.FrameSamples == 0 {
		cfg.FrameSamples = media.FrameSamples
	}
	if cfg.Calls == 0 {
		cfg.Calls = 1
	}
	if cfg.Markers == 0 {
		cfg.Markers = 20
	}
	var (
		mu        sync.Mutex
		latencies []time.Duration
		missed    int
		firstErr  error
		wg        sync.WaitGroup
	)
	for range cfg.Calls {
		wg.Go(func() {
			got, miss, err := latencyCall(ctx, cfg)
			mu.Lock()
			defer mu.Unlock()
			latencies = append(latencies, got...)
			missed += miss
			if err != nil && firstErr == nil {
				firstErr = err
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return LatencyResult{}, firstErr
	}
	if len(latencies) == 0 {
		return LatencyResult{}, errNoMarkers
	}
	slices.Sort(latencies)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return LatencyResult{
		FrameMS: float64(cfg.FrameSamples) * 1000 / media.SampleRate,
		Calls:   cfg.Calls,
		Markers: len(latencies),
		Missed:  missed,
		P50MS:   ms(percentile(latencies, 0.50)),
		P95MS:   ms(percentile(latencies, 0.95)),
		MinMS:   ms(latencies[0]),
		MaxMS:   ms(latencies[len(latencies)-1]),
	}, nil
}

// percentile returns the nearest-rank p-quantile of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// latencyCall runs one call and returns the latency of each marker found
// and how many were not.
func latencyCall(ctx context.Context, cfg LatencyConfig) ([]time.Duration, int, error) {
	a, err := NewLoopbackPeer()
	if err != nil {
		return nil, 0, err
	}
	defer a.Close()
	b, err := NewLoopbackPeer()
	if err != nil {
		return nil, 0, err
	}
	defer b.Close()

	src := &markerSource{limit: cfg.Markers, pacer: media.NewPacer(samplesDuration(cfg.FrameSamples))}
	sink := &markerSink{}
	sender, err := media.NewSender(media.SenderConfig{Source: src, FrameSamples: cfg.FrameSamples, Encoder: media.EncoderConfig{DTX: true}})
	if err != nil {
		return nil, 0, err
	}
	receiver, err := media.NewReceiver(media.ReceiverConfig{Sink: sink, FrameSamples: cfg.FrameSamples})
	if err != nil {
		return nil, 0, err
	}
	track, err := webrtc.NewTrackLocalStaticRTP(OpusCodec.RTPCodecCapability, "audio", "perf")
	if err != nil {
		return nil, 0, fmt.Errorf("perf: track: %w", err)
	}
	rtpSender, err := a.AddTrack(track)
	if err != nil {
		return nil, 0, fmt.Errorf("perf: add track: %w", err)
	}
	if _, err := b.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio,
		webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		return nil, 0, fmt.Errorf("perf: transceiver: %w", err)
	}
	remote := make(chan incoming, 1)
	b.OnTrack(func(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) { remote <- incoming{t, r} })
	if err := Connect(a, b); err != nil {
		return nil, 0, err
	}

	callCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			pkts, _, err := rtpSender.ReadRTCP()
			if err != nil {
				return
			}
			sender.HandleRTCP(pkts)
		}
	})
	errs := make(chan error, 2)
	wg.Go(func() { errs <- sender.Run(callCtx, track) })
	var in incoming
	select {
	case in = <-remote:
	case <-time.After(10 * time.Second):
		cancel()
		a.Close()
		wg.Wait()
		return nil, 0, errors.New("perf: no track arrived in 10 s")
	}
	wg.Go(func() { receiver.Receive(callCtx, in.track) })
	// Read the peer's sender reports, for our receiver reports to echo them.
	wg.Go(func() {
		for {
			if _, _, err := in.receiver.ReadRTCP(); err != nil {
				return
			}
		}
	})
	wg.Go(func() { errs <- receiver.Play(callCtx) })

	wait := time.Duration(cfg.Markers)*markerInterval + markerInterval
	select {
	case <-time.After(wait):
	case <-ctx.Done():
	}
	cancel()
	a.Close()
	b.Close()
	wg.Wait()
	for range 2 {
		if err := <-errs; err != nil {
			return nil, 0, err
		}
	}
	return pairMarkers(src.sent(), sink.found())
}

// incoming is a peer's track as it arrives, with its receiver.
type incoming struct {
	track    *webrtc.TrackRemote
	receiver *webrtc.RTPReceiver
}

// pairMarkers matches each beep found with the last marker sent before it,
// within maxLatency.
func pairMarkers(sent, found []time.Time) ([]time.Duration, int, error) {
	var out []time.Duration
	matched := 0
	for _, f := range found {
		i, _ := slices.BinarySearchFunc(sent, f, func(s, t time.Time) int { return s.Compare(t) })
		if i == 0 {
			continue // before any marker: not ours
		}
		if d := f.Sub(sent[i-1]); d <= maxLatency {
			out = append(out, d)
			matched++
		}
	}
	return out, max(0, len(sent)-matched), nil
}

func samplesDuration(n int) time.Duration {
	return time.Duration(n) * time.Second / media.SampleRate
}

// markerSource is silence with a beep every markerInterval (plus 7
// samples, so that beeps fall at every phase of a frame), paced in real
// time like a microphone.
type markerSource struct {
	limit int // beeps to send
	pacer *media.Pacer

	mu        sync.Mutex
	n         int         // samples delivered
	mouth     []time.Time // when each beep's first sample left the "microphone"
	beepStart int         // sample index the current beep started at
	nextBeep  int         // sample index the next beep starts at
}

func (s *markerSource) ReadFrame(ctx context.Context, pcm []int16) error {
	if err := s.pacer.Wait(ctx); err != nil {
		return err
	}
	released := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	beepLen := int(markerDuration * media.SampleRate / time.Second)
	if s.nextBeep == 0 {
		s.nextBeep, s.beepStart = int(markerInterval*media.SampleRate/time.Second), -beepLen
	}
	for i := range pcm {
		idx := s.n + i
		if idx == s.nextBeep && len(s.mouth) < s.limit {
			s.beepStart = idx
			// A frame is handed over when its last sample is captured:
			// this sample was captured that much earlier.
			s.mouth = append(s.mouth, released.Add(-samplesDuration(len(pcm)-i)))
			s.nextBeep += int(markerInterval*media.SampleRate/time.Second) + 7
		}
		pcm[i] = 0
		if k := idx - s.beepStart; k < beepLen {
			pcm[i] = int16(markerAmplitude * math.Sin(2*math.Pi*markerHz*float64(k)/media.SampleRate))
		}
	}
	s.n += len(pcm)
	return nil
}

func (s *markerSource) Close() error { return nil }

func (s *markerSource) sent() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.mouth)
}

// markerSink finds the beeps in what the receiver plays.
type markerSink struct {
	mu    sync.Mutex
	quiet int // samples since the level last exceeded the threshold
	ear   []time.Time
}

func (s *markerSink) WriteFrame(pcm []int16) error {
	written := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	quietSamples := int(quietBefore * media.SampleRate / time.Second)
	for i, v := range pcm {
		if v > onsetThreshold || v < -onsetThreshold {
			if s.quiet >= quietSamples {
				s.ear = append(s.ear, written.Add(samplesDuration(i)))
			}
			s.quiet = 0
			continue
		}
		s.quiet++
	}
	return nil
}

func (s *markerSink) Close() error { return nil }

func (s *markerSink) found() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ear)
}

// OpusCodec is the codec Parley negotiates: Opus at 48 kHz with in-band
// FEC (RFC 7587).
var OpusCodec = webrtc.RTPCodecParameters{
	RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
		SDPFmtpLine: "minptime=10;useinbandfec=1",
	},
	PayloadType: 111,
}

// NewPeer returns a PeerConnection with Opus and pion's default
// interceptors (RTCP reports, NACK) on the given settings.
func NewPeer(se webrtc.SettingEngine) (*webrtc.PeerConnection, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterCodec(OpusCodec, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("perf: codec: %w", err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		return nil, fmt.Errorf("perf: interceptors: %w", err)
	}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("perf: peer connection: %w", err)
	}
	return pc, nil
}

// NewLoopbackPeer returns a PeerConnection that gathers only loopback UDP
// candidates.
func NewLoopbackPeer() (*webrtc.PeerConnection, error) {
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	return NewPeer(se)
}

// Connect runs offer and answer between a and b, each with its candidates
// gathered in full, and waits until a is connected.
func Connect(a, b *webrtc.PeerConnection) error {
	connected := make(chan struct{})
	var once sync.Once
	a.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(connected) })
		}
	})
	offer, err := a.CreateOffer(nil)
	if err != nil {
		return fmt.Errorf("perf: offer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(a)
	if err := a.SetLocalDescription(offer); err != nil {
		return fmt.Errorf("perf: offer: %w", err)
	}
	<-gathered
	if err := b.SetRemoteDescription(*a.LocalDescription()); err != nil {
		return fmt.Errorf("perf: offer: %w", err)
	}
	answer, err := b.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("perf: answer: %w", err)
	}
	gathered = webrtc.GatheringCompletePromise(b)
	if err := b.SetLocalDescription(answer); err != nil {
		return fmt.Errorf("perf: answer: %w", err)
	}
	<-gathered
	if err := a.SetRemoteDescription(*b.LocalDescription()); err != nil {
		return fmt.Errorf("perf: answer: %w", err)
	}
	select {
	case <-connected:
		return nil
	case <-time.After(10 * time.Second):
		return errors.New("perf: peers did not connect in 10 s")
	}
}
