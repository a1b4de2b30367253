package perf

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pion/logging"
	"github.com/pion/transport/v4/vnet"
	"github.com/pion/webrtc/v4"

	"github.com/parley-voip/parley/media"
)

// SoakConfig configures Soak; the zero value is the default.
type SoakConfig struct {
	// Duration is how long the call lasts (0: 2 minutes).
	Duration time.Duration
	// LossPercent is the random loss each way, of every packet (0: 10).
	LossPercent int
	// MaxJitter is the most extra one-way delay a packet gets, uniform from
	// zero (0: 30 ms).
	MaxJitter time.Duration
	// Interval is the time between samples (0: a 600th of Duration, at
	// least a second).
	Interval time.Duration
	// Warmup is how long the call runs before the growth is measured, while
	// buffers, pools, the heap and the jitter buffers' targets reach their
	// working size (0: a quarter of Duration, within 30 s to a minute).
	Warmup time.Duration
	// Progress, if set, is called with every sample.
	Progress func(SoakSample)
}

func (c SoakConfig) withDefaults() SoakConfig {
	if c.Duration == 0 {
		c.Duration = 2 * time.Minute
	}
	if c.LossPercent == 0 {
		c.LossPercent = 10
	}
	if c.MaxJitter == 0 {
		c.MaxJitter = 30 * time.Millisecond
	}
	if c.Interval == 0 {
		c.Interval = max(time.Second, c.Duration/600)
	}
	if c.Warmup == 0 {
		c.Warmup = min(time.Minute, max(30*time.Second, c.Duration/4))
	}
	return c
}

func (c SoakConfig) validate() error {
	switch {
	case c.Duration < 0 || c.Interval < 0 || c.Warmup < 0 || c.MaxJitter < 0:
		return errors.New("perf: soak: durations must not be negative")
	case c.LossPercent < 0 || c.LossPercent > 50:
		return fmt.Errorf("perf: soak: loss %d %%: want 0-50", c.LossPercent)
	case c.Warmup+3*c.Interval > c.Duration:
		return fmt.Errorf("perf: soak: %v is too short to measure after a %v warm-up at %v a sample", c.Duration, c.Warmup, c.Interval)
	}
	return nil
}

// SoakSample is the state of the process and the call at one moment.
type SoakSample struct {
	At time.Duration
	// RSSBytes is the process's resident memory; HeapLiveBytes the Go heap
	// found live by the last garbage collection, which a leak grows and
	// the collector's pacing does not.
	RSSBytes      uint64
	HeapLiveBytes uint64
	Goroutines    int
	// BufferDelay is the jitter buffers' current delay (the mean of both
	// ends' last played packet).
	BufferDelay time.Duration
}

// SoakResult is what Soak measured. Growths are Theil–Sen slopes (the
// median of the slopes between pairs of samples, robust to the steps the
// heap takes) over the samples after the warm-up, per hour.
type SoakResult struct {
	DurationS          float64 `json:"duration_s"`
	Samples            int     `json:"samples"`
	ConfiguredLossPct  int     `json:"configured_loss_pct"`
	MaxJitterMS        float64 `json:"max_jitter_ms"`
	LostPct            float64 `json:"lost_pct"` // of the frames sent, at both receivers
	ConcealedPct       float64 `json:"concealed_pct"`
	FECRecoveredPct    float64 `json:"fec_recovered_pct"` // of the frames lost
	RSSMedianBytes     uint64  `json:"rss_median_bytes"`
	RSSGrowth          float64 `json:"rss_growth_bytes_per_hour"`
	HeapLiveMedian     uint64  `json:"heap_live_median_bytes"`
	HeapLiveGrowth     float64 `json:"heap_live_growth_bytes_per_hour"`
	GoroutinesStart    int     `json:"goroutines_after_warmup"`
	GoroutinesEnd      int     `json:"goroutines_end"`
	BufferDelayMedian  float64 `json:"buffer_delay_median_ms"`
	BufferDelayP95     float64 `json:"buffer_delay_p95_ms"`
	BufferDelayGrowth  float64 `json:"buffer_delay_growth_ms_per_hour"`
	MeasuredS          float64 `json:"measured_s"` // the span after the warm-up
	EncoderBitrateBPS  int     `json:"encoder_bitrate_bps"`
	EncoderFrameMS     float64 `json:"encoder_frame_ms"`
	ExpectedLossPct    int     `json:"encoder_expected_loss_pct"`
	JitterBufferTarget float64 `json:"jitter_buffer_target_delay_ms"`
}

// Soak runs a two-way call with looping speech over real PeerConnections on
// pion's virtual network, with random loss and jitter each way once the call
// is up, and samples the process's memory and the jitter buffers' delay: a
// call that leaks, or whose buffer creeps, shows it as growth.
func Soak(ctx context.Context, cfg SoakConfig) (SoakResult, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return SoakResult{}, err
	}
	c, err := startImpairedCall(ctx, cfg)
	if err != nil {
		return SoakResult{}, err
	}
	defer c.stop()

	start := time.Now()
	var (
		samples []SoakSample
		sample  = make([]metrics.Sample, 1)
	)
	sample[0].Name = "/gc/heap/live:bytes"
	tick := time.NewTicker(cfg.Interval)
	defer tick.Stop()
	for time.Since(start) < cfg.Duration {
		select {
		case <-ctx.Done():
			return SoakResult{}, ctx.Err()
		case err := <-c.errs:
			return SoakResult{}, err
		case <-tick.C:
		}
		metrics.Read(sample)
		rss, err := residentBytes()
		if err != nil {
			return SoakResult{}, err
		}
		var delay time.Duration
		for _, e := range c.ends {
			delay += e.receiver.Stats().Jitter.Delay
		}
		s := SoakSample{
			At:            time.Since(start),
			RSSBytes:      rss,
			HeapLiveBytes: sample[0].Value.Uint64(),
			Goroutines:    runtime.NumGoroutine(),
			BufferDelay:   delay / time.Duration(len(c.ends)),
		}
		samples = append(samples, s)
		if cfg.Progress != nil {
			cfg.Progress(s)
		}
	}
	if len(samples) == 0 {
		return SoakResult{}, errors.New("perf: soak: no sample taken")
	}
	return c.result(cfg, samples), nil
}

// result sums up the samples and the ends' counters.
func (c *impairedCall) result(cfg SoakConfig, samples []SoakSample) SoakResult {
	i, _ := slices.BinarySearchFunc(samples, cfg.Warmup, func(s SoakSample, d time.Duration) int { return int(s.At - d) })
	steady := samples[max(0, min(i, len(samples)-3)):]
	var (
		at                = make([]float64, len(steady))
		rss, heap, delays = make([]float64, len(steady)), make([]float64, len(steady)), make([]float64, len(steady))
	)
	for k, s := range steady {
		at[k] = s.At.Hours()
		rss[k], heap[k] = float64(s.RSSBytes), float64(s.HeapLiveBytes)
		delays[k] = float64(s.BufferDelay) / float64(time.Millisecond)
	}
	out := SoakResult{
		DurationS:         samples[len(samples)-1].At.Seconds(),
		Samples:           len(samples),
		ConfiguredLossPct: cfg.LossPercent,
		MaxJitterMS:       float64(cfg.MaxJitter) / float64(time.Millisecond),
		RSSMedianBytes:    uint64(median(rss)),
		RSSGrowth:         theilSen(at, rss),
		HeapLiveMedian:    uint64(median(heap)),
		HeapLiveGrowth:    theilSen(at, heap),
		GoroutinesStart:   steady[0].Goroutines,
		GoroutinesEnd:     steady[len(steady)-1].Goroutines,
		BufferDelayMedian: median(delays),
		BufferDelayP95:    quantile(delays, 0.95),
		BufferDelayGrowth: theilSen(at, delays),
		MeasuredS:         (steady[len(steady)-1].At - steady[0].At).Seconds(),
	}
	var lost, sent, concealed, total, fec uint64
	for _, e := range c.ends {
		rs := e.receiver.Stats()
		lost += rs.Jitter.Lost
		sent += rs.Jitter.Received + rs.Jitter.Lost
		concealed += rs.ConcealedSamples
		total += rs.TotalSamples
		fec += rs.FECRecovered
		out.JitterBufferTarget += float64(rs.Jitter.TargetDelay) / float64(time.Millisecond) / float64(len(c.ends))
	}
	if sent > 0 {
		out.LostPct = 100 * float64(lost) / float64(sent)
	}
	if total > 0 {
		out.ConcealedPct = 100 * float64(concealed) / float64(total)
	}
	if lost > 0 {
		out.FECRecoveredPct = 100 * float64(fec) / float64(lost)
	}
	ss := c.ends[0].sender.Stats()
	out.EncoderBitrateBPS = ss.Bitrate
	out.EncoderFrameMS = float64(ss.FrameSamples) * 1000 / media.SampleRate
	out.ExpectedLossPct = ss.ExpectedLossPercent
	return out
}

// theilSen returns the median slope between pairs of points, on at most
// maxPoints points evenly picked (the pairs grow as their square).
func theilSen(x, y []float64) float64 {
	const maxPoints = 400
	step := max(1, len(x)/maxPoints)
	var slopes []float64
	for i := 0; i < len(x); i += step {
		for j := i + step; j < len(x); j += step {
			if dx := x[j] - x[i]; dx > 0 {
				slopes = append(slopes, (y[j]-y[i])/dx)
			}
		}
	}
	return median(slopes)
}

func median(v []float64) float64 { return quantile(v, 0.5) }

// quantile returns the nearest-rank q-quantile of v (0 for none).
func quantile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(v))
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// residentBytes returns the process's resident set size (Linux).
func residentBytes() (uint64, error) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, fmt.Errorf("perf: resident memory: %w", err)
	}
	fields := strings.Fields(string(b))
	if len(fields) < 2 {
		return 0, fmt.Errorf("perf: resident memory: /proc/self/statm reads %q", b)
	}
	pages, err := strconv.ParseUint(fields[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("perf: resident memory: %w", err)
	}
	return pages * uint64(os.Getpagesize()), nil
}

// impairedCall is a two-way call between two PeerConnections on a virtual
// network whose links drop and delay packets.
type impairedCall struct {
	ends   [2]*callEnd
	errs   chan error // the first failure of a sender or a player
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closer []func() error // the peers, filters and router, in this order
}

// callEnd is one side: a PeerConnection sending and receiving audio.
type callEnd struct {
	pc       *webrtc.PeerConnection
	track    *webrtc.TrackLocalStaticRTP
	sender   *media.Sender
	receiver *media.Receiver
	remote   chan incoming
}

func startImpairedCall(ctx context.Context, cfg SoakConfig) (c *impairedCall, err error) {
	c = &impairedCall{errs: make(chan error, 4)}
	defer func() {
		if err != nil {
			c.stop()
		}
	}()
	wan, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "10.0.0.0/24", LoggerFactory: logging.NewDefaultLoggerFactory()})
	if err != nil {
		return c, fmt.Errorf("perf: soak: %w", err)
	}
	c.closer = append(c.closer, wan.Stop)
	var (
		losses  []*vnet.LossFilter
		delays  []*vnet.DelayFilter
		callCtx context.Context
	)
	callCtx, c.cancel = context.WithCancel(ctx)
	for i, ip := range []string{"10.0.0.1", "10.0.0.2"} {
		n, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{ip}})
		if err != nil {
			return c, fmt.Errorf("perf: soak: %w", err)
		}
		// Both filters act on the packets arriving at this end.
		delay, err := vnet.NewDelayFilter(n, vnet.WithDelay(0))
		if err != nil {
			return c, fmt.Errorf("perf: soak: %w", err)
		}
		c.closer = append([]func() error{delay.Close}, c.closer...)
		loss, err := vnet.NewLossFilter(delay, 0, vnet.WithLossSeed(int64(i+1)))
		if err != nil {
			return c, fmt.Errorf("perf: soak: %w", err)
		}
		if err := wan.AddNet(loss); err != nil {
			return c, fmt.Errorf("perf: soak: %w", err)
		}
		losses, delays = append(losses, loss), append(delays, delay)
		se := webrtc.SettingEngine{}
		se.SetNet(n)
		pc, err := NewPeer(se)
		if err != nil {
			return c, err
		}
		c.closer = append([]func() error{pc.Close}, c.closer...)
		e, err := newCallEnd(pc, newSpeechSource(i))
		if err != nil {
			return c, err
		}
		c.ends[i] = e
	}
	if err := wan.Start(); err != nil {
		return c, fmt.Errorf("perf: soak: %w", err)
	}
	if err := Connect(c.ends[0].pc, c.ends[1].pc); err != nil {
		return c, err
	}
	for i, e := range c.ends {
		if err := losses[i].SetLossRate(cfg.LossPercent, true); err != nil {
			return c, fmt.Errorf("perf: soak: %w", err)
		}
		c.wg.Go(func() { VaryDelay(callCtx, delays[i], cfg.MaxJitter, uint64(i+1)) })
		c.send(callCtx, e)
	}
	for _, e := range c.ends {
		if err := c.receive(callCtx, e); err != nil {
			return c, err
		}
	}
	return c, nil
}

func newCallEnd(pc *webrtc.PeerConnection, src media.Source) (*callEnd, error) {
	e := &callEnd{pc: pc, remote: make(chan incoming, 1)}
	var err error
	if e.sender, err = media.NewSender(media.SenderConfig{Source: src, Encoder: media.EncoderConfig{DTX: true}}); err != nil {
		return nil, err
	}
	if e.receiver, err = media.NewReceiver(media.ReceiverConfig{Sink: discard{}}); err != nil {
		return nil, err
	}
	if e.track, err = webrtc.NewTrackLocalStaticRTP(OpusCodec.RTPCodecCapability, "audio", "soak"); err != nil {
		return nil, fmt.Errorf("perf: track: %w", err)
	}
	if _, err := pc.AddTransceiverFromTrack(e.track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv}); err != nil {
		return nil, fmt.Errorf("perf: transceiver: %w", err)
	}
	pc.OnTrack(func(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) { e.remote <- incoming{t, r} })
	return e, nil
}

// send starts e's sender and feeds it the peer's reports.
func (c *impairedCall) send(ctx context.Context, e *callEnd) {
	var rtpSender *webrtc.RTPSender
	for _, s := range e.pc.GetSenders() {
		if s.Track() == e.track {
			rtpSender = s
		}
	}
	c.wg.Go(func() {
		for {
			pkts, _, err := rtpSender.ReadRTCP()
			if err != nil {
				return
			}
			e.sender.HandleRTCP(pkts)
		}
	})
	c.wg.Go(func() { c.fail(e.sender.Run(ctx, e.track)) })
}

// receive starts e's receiver once the peer's track has arrived.
func (c *impairedCall) receive(ctx context.Context, e *callEnd) error {
	var in incoming
	select {
	case in = <-e.remote:
	case <-time.After(10 * time.Second):
		return errors.New("perf: soak: no track arrived in 10 s")
	}
	c.wg.Go(func() { e.receiver.Receive(ctx, in.track) })
	// Read the peer's sender reports, for this end's receiver reports to
	// echo them (RFC 3550 §6.4.1: the round trip).
	c.wg.Go(func() {
		for {
			if _, _, err := in.receiver.ReadRTCP(); err != nil {
				return
			}
		}
	})
	c.wg.Go(func() { c.fail(e.receiver.Play(ctx)) })
	return nil
}

// fail records a media loop's error, unless the call is ending anyway.
func (c *impairedCall) fail(err error) {
	if err != nil && !errors.Is(err, context.Canceled) {
		select {
		case c.errs <- err:
		default:
		}
	}
}

func (c *impairedCall) stop() {
	if c.cancel != nil {
		c.cancel()
	}
	for _, close := range c.closer {
		close()
	}
	c.wg.Wait()
}

// VaryDelay sets f's one-way delay anew every 5 ms, uniformly within
// [0, maxJitter), until ctx ends: jitter through a FIFO queue, so packets
// bunch up rather than reorder.
func VaryDelay(ctx context.Context, f *vnet.DelayFilter, maxJitter time.Duration, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 11))
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			f.SetDelay(time.Duration(rng.Int64N(int64(maxJitter))))
		}
	}
}

// newSpeechSource loops the test speech in real time, starting end i's a
// few seconds in so that the two ends do not talk in unison.
func newSpeechSource(i int) media.Source {
	pcm, _ := media.DecodeWAV(speechWAV) // embedded, and decoded by every stage test
	return &loopSource{pcm: pcm, pos: i * 3 * media.SampleRate % len(pcm)}
}

// loopSource plays pcm over and over, paced like a microphone.
type loopSource struct {
	pcm []int16
	pos int
	// pacer releases frames of frame samples; the sender may change its
	// frame under a tight cap, and a new pacer follows.
	pacer *media.Pacer
	frame int
}

func (s *loopSource) ReadFrame(ctx context.Context, pcm []int16) error {
	if len(pcm) != s.frame {
		s.frame, s.pacer = len(pcm), media.NewPacer(samplesDuration(len(pcm)))
	}
	if err := s.pacer.Wait(ctx); err != nil {
		return err
	}
	for k := range pcm {
		pcm[k] = s.pcm[s.pos]
		s.pos = (s.pos + 1) % len(s.pcm)
	}
	return nil
}

func (s *loopSource) Close() error { return nil }

// discard is a sink that drops what it is given.
type discard struct{}

func (discard) WriteFrame([]int16) error { return nil }
func (discard) Close() error             { return nil }
