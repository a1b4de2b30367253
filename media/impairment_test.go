package media_test

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/transport/v4/vnet"
	"github.com/pion/webrtc/v4"

	"github.com/parley-voip/parley/media"
	"github.com/parley-voip/parley/media/perf"
	"github.com/parley-voip/parley/media/quality"
)

// impairment is what the virtual network does to the packets towards the
// receiving peer once the call is up.
type impairment struct {
	name      string
	loss      float64       // probability a packet starts a loss event
	burst     int           // packets lost per event (1: random loss)
	maxJitter time.Duration // extra one-way delay, uniform in [0, maxJitter)
}

// lossyPath drops packets to one address as an impairment says; it is a
// vnet chunk filter and is enabled only once the call is connected.
type lossyPath struct {
	to      string
	imp     impairment
	enabled atomic.Bool

	mu        sync.Mutex
	rng       *rand.Rand
	burstLeft int
}

func (p *lossyPath) filter(c vnet.Chunk) bool {
	if !p.enabled.Load() || c.Network() != "udp" {
		return true
	}
	if host, _, err := net.SplitHostPort(c.DestinationAddr().String()); err != nil || host != p.to {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.burstLeft > 0 {
		p.burstLeft--
		return false
	}
	if p.rng.Float64() < p.imp.loss {
		p.burstLeft = p.imp.burst - 1
		return false
	}
	return true
}

// teeSource records what the Sender reads: the reference signal.
type teeSource struct {
	media.Source
	mu  sync.Mutex
	pcm []int16
}

func (s *teeSource) ReadFrame(ctx context.Context, pcm []int16) error {
	err := s.Source.ReadFrame(ctx, pcm)
	if err == nil {
		s.mu.Lock()
		s.pcm = append(s.pcm, pcm...)
		s.mu.Unlock()
	}
	return err
}

// recordSink keeps what the Receiver plays.
type recordSink struct {
	mu  sync.Mutex
	pcm []int16
}

func (s *recordSink) WriteFrame(pcm []int16) error {
	s.mu.Lock()
	s.pcm = append(s.pcm, pcm...)
	s.mu.Unlock()
	return nil
}

func (s *recordSink) Close() error { return nil }

// impairedResult is one row of the loss and jitter table.
type impairedResult struct {
	Name            string  `json:"name"`
	STOI            float64 `json:"stoi"`
	ConcealedPct    float64 `json:"concealed_pct"`
	LostPct         float64 `json:"lost_pct"`
	FECRecoveredPct float64 `json:"fec_recovered_pct"` // of the frames lost
	MeanDelayMS     float64 `json:"jitter_buffer_mean_delay_ms"`
	TargetDelayMS   float64 `json:"jitter_buffer_target_delay_ms"`
	BitrateBPS      int     `json:"encoder_bitrate_bps"`
	ExpectedLossPct int     `json:"encoder_expected_loss_pct"`
	Expanded        uint64  `json:"jitter_buffer_expanded"`
	Compressed      uint64  `json:"jitter_buffer_compressed"`
	SegmentalSNR    float64 `json:"segmental_snr_db"`
}

const impairedCallDuration = 8 * time.Second

// vnetCall is a one-way call, A sending looping speech to B, over real
// PeerConnections on pion's virtual network.
type vnetCall struct {
	sender   *media.Sender
	receiver *media.Receiver
	tee      *teeSource
	sink     *recordSink
	ctx      context.Context // ends with stop
	wg       sync.WaitGroup
	stop     func()
}

// startVnetCall connects A (10.0.0.1) and B (10.0.0.2) on a virtual network
// whose router applies filter (nil: none) and where wrapB (nil: none)
// stands between the router and B, and starts the media.
func startVnetCall(t *testing.T, filter vnet.ChunkFilter, wrapB func(*vnet.Net) vnet.NIC) *vnetCall {
	t.Helper()
	wan, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "10.0.0.0/24", LoggerFactory: logging.NewDefaultLoggerFactory()})
	if err != nil {
		t.Fatal(err)
	}
	netA, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{"10.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	netB, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{"10.0.0.2"}})
	if err != nil {
		t.Fatal(err)
	}
	if filter != nil {
		wan.AddChunkFilter(filter)
	}
	if err := wan.AddNet(netA); err != nil {
		t.Fatal(err)
	}
	var nicB vnet.NIC = netB
	if wrapB != nil {
		nicB = wrapB(netB)
	}
	if err := wan.AddNet(nicB); err != nil {
		t.Fatal(err)
	}
	if err := wan.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wan.Stop() })

	pcA, pcB := newVnetPeer(t, netA), newVnetPeer(t, netB)
	src, err := media.OpenSource("file:perf/speech.wav", media.SourceOptions{Loop: true})
	if err != nil {
		t.Fatal(err)
	}
	c := &vnetCall{tee: &teeSource{Source: src}, sink: &recordSink{}}
	if c.sender, err = media.NewSender(media.SenderConfig{Source: c.tee, Encoder: media.EncoderConfig{DTX: true}}); err != nil {
		t.Fatal(err)
	}
	if c.receiver, err = media.NewReceiver(media.ReceiverConfig{Sink: c.sink}); err != nil {
		t.Fatal(err)
	}
	track, err := webrtc.NewTrackLocalStaticRTP(perf.OpusCodec.RTPCodecCapability, "audio", "a")
	if err != nil {
		t.Fatal(err)
	}
	rtpSender, err := pcA.AddTrack(track)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pcB.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	remote := make(chan *webrtc.TrackRemote, 1)
	var rtpReceiver atomic.Pointer[webrtc.RTPReceiver]
	pcB.OnTrack(func(tr *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
		rtpReceiver.Store(r)
		remote <- tr
	})
	if err := perf.Connect(pcA, pcB); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.ctx = ctx
	var once sync.Once
	c.stop = func() {
		once.Do(func() {
			cancel()
			pcA.Close()
			pcB.Close()
			c.wg.Wait()
			c.tee.Close()
		})
	}
	t.Cleanup(c.stop)
	c.wg.Go(func() {
		for {
			pkts, _, err := rtpSender.ReadRTCP()
			if err != nil {
				return
			}
			c.sender.HandleRTCP(pkts)
		}
	})
	c.wg.Go(func() {
		if err := c.sender.Run(ctx, track); err != nil {
			t.Error(err)
		}
	})
	var tr *webrtc.TrackRemote
	select {
	case tr = <-remote:
	case <-time.After(5 * time.Second):
		t.Fatal("no track arrived")
	}
	c.wg.Go(func() { c.receiver.Receive(ctx, tr) })
	// The receiver's RTCP (the peer's sender reports) must be read too, for
	// pion's receiver reports to echo them (LSR, DLSR: the round trip).
	c.wg.Go(func() {
		for {
			if _, _, err := rtpReceiver.Load().ReadRTCP(); err != nil {
				return
			}
		}
	})
	c.wg.Go(func() {
		if err := c.receiver.Play(ctx); err != nil {
			t.Error(err)
		}
	})
	return c
}

// impairedCall sends looping speech over a virtual network with imp applied
// towards the receiver, and measures what the receiver plays against what
// was sent.
func impairedCall(t *testing.T, imp impairment, seed uint64) impairedResult {
	t.Helper()
	path := &lossyPath{to: "10.0.0.2", imp: imp, rng: rand.New(rand.NewPCG(seed, 7))}
	var delay *vnet.DelayFilter
	wrapB := func(n *vnet.Net) vnet.NIC {
		if imp.maxJitter == 0 {
			return n
		}
		var err error
		if delay, err = vnet.NewDelayFilter(n, vnet.WithDelay(0)); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { delay.Close() })
		return delay
	}
	c := startVnetCall(t, path.filter, wrapB)
	path.enabled.Store(true)
	if delay != nil {
		c.wg.Go(func() { perf.VaryDelay(c.ctx, delay, imp.maxJitter, seed) })
	}
	time.Sleep(impairedCallDuration)
	c.stop()

	res, err := quality.Compare(c.tee.pcm, c.sink.pcm, media.SampleRate, time.Second)
	if err != nil {
		t.Fatalf("compare: %v", err)
	}
	rs, ss := c.receiver.Stats(), c.sender.Stats()
	out := impairedResult{
		Name:            imp.name,
		STOI:            res.STOI,
		MeanDelayMS:     float64(rs.Jitter.MeanDelay) / float64(time.Millisecond),
		TargetDelayMS:   float64(rs.Jitter.TargetDelay) / float64(time.Millisecond),
		BitrateBPS:      ss.Bitrate,
		ExpectedLossPct: ss.ExpectedLossPercent,
		Expanded:        rs.Jitter.Expanded,
		Compressed:      rs.Jitter.Compressed,
		SegmentalSNR:    res.SegmentalSNR,
	}
	if rs.TotalSamples > 0 {
		out.ConcealedPct = 100 * float64(rs.ConcealedSamples) / float64(rs.TotalSamples)
	}
	if sent := rs.Jitter.Received + rs.Jitter.Lost; sent > 0 {
		out.LostPct = 100 * float64(rs.Jitter.Lost) / float64(sent)
	}
	if rs.Jitter.Lost > 0 {
		out.FECRecoveredPct = 100 * float64(rs.FECRecovered) / float64(rs.Jitter.Lost)
	}
	return out
}

// newVnetPeer returns a PeerConnection on n, set up as perf's are.
func newVnetPeer(t *testing.T, n *vnet.Net) *webrtc.PeerConnection {
	t.Helper()
	se := webrtc.SettingEngine{}
	se.SetNet(n)
	pc, err := perf.NewPeer(se)
	if err != nil {
		t.Fatal(err)
	}
	return pc
}

// TestLossAndJitter runs calls over real PeerConnections through pion's
// virtual network with random loss, bursts and jitter, and reports STOI,
// concealment, FEC recovery and the buffer's delay for each (DESIGN §5,
// issue 5 item 8). PARLEY_LOSS_TABLE=FILE also writes the table as JSON.
func TestLossAndJitter(t *testing.T) {
	if testing.Short() {
		t.Skip("8 s calls over a virtual network: skipped with -short")
	}
	conditions := []impairment{
		{name: "clean", burst: 1},
		{name: "random-5pct", loss: 0.05, burst: 1},
		{name: "random-10pct", loss: 0.10, burst: 1},
		{name: "random-20pct", loss: 0.20, burst: 1},
		{name: "bursts-of-3-10pct", loss: 0.10 / 3, burst: 3},
		{name: "jitter-30ms", burst: 1, maxJitter: 30 * time.Millisecond},
		{name: "random-10pct-jitter-30ms", loss: 0.10, burst: 1, maxJitter: 30 * time.Millisecond},
	}
	results := make([]impairedResult, len(conditions))
	t.Run("calls", func(t *testing.T) {
		for i, c := range conditions {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				results[i] = impairedCall(t, c, uint64(i+1))
			})
		}
	})
	if t.Failed() {
		return
	}
	byName := map[string]impairedResult{}
	t.Logf("%-26s %6s %10s %7s %8s %10s %10s %8s %9s", "condition", "STOI", "concealed", "lost", "FEC", "mean-delay", "target", "bitrate", "exp/comp")
	for _, r := range results {
		byName[r.Name] = r
		t.Logf("%-26s %6.3f %9.1f%% %6.1f%% %7.0f%% %8.1fms %8.1fms %8d %4d/%-4d",
			r.Name, r.STOI, r.ConcealedPct, r.LostPct, r.FECRecoveredPct, r.MeanDelayMS, r.TargetDelayMS, r.BitrateBPS, r.Expanded, r.Compressed)
	}
	if out := os.Getenv("PARLEY_LOSS_TABLE"); out != "" {
		b, _ := json.MarshalIndent(results, "", "  ")
		if err := os.WriteFile(out, b, 0o644); err != nil {
			t.Error(err)
		}
	}
	clean := byName["clean"]
	if clean.STOI < 0.8 || math.IsNaN(clean.STOI) {
		t.Errorf("clean path STOI %.3f, want ≥ 0.8", clean.STOI)
	}
	if worst := byName["random-10pct-jitter-30ms"]; worst.STOI < 0.9*clean.STOI {
		t.Errorf("10%% loss + 30 ms jitter: STOI %.3f, want ≥ 0.9 × clean (%.3f)", worst.STOI, 0.9*clean.STOI)
	}
	// Random loss at 5 % is almost all isolated single losses.
	if r := byName["random-5pct"]; r.FECRecoveredPct < 50 {
		t.Errorf("5%% random loss: FEC recovered %.0f%% of lost frames, want ≥ 50%%", r.FECRecoveredPct)
	}
	if r := byName["random-10pct"]; r.ExpectedLossPct == 0 {
		t.Errorf("10%% loss: the encoder expects %d%% loss, want the receiver reports to have raised it", r.ExpectedLossPct)
	}
}

// TestBandwidthCap caps the path to the receiver with a token bucket at
// 24 kbit/s of UDP payload (RTP and SRTP headers included, IP and UDP not):
// the encoder must settle below the cap within a few seconds, by bitrate and,
// since at 20 ms the headers alone take half of it, by frame size, with the
// speech still intelligible; the cap lifted, it must climb back (issue 5
// item 9, in process: fast and deterministic; TestBandwidthCapInNATLab in
// cmd/parley caps real processes with the kernel's tbf, both ways).
func TestBandwidthCap(t *testing.T) {
	if testing.Short() {
		t.Skip("30 s call over a virtual network: skipped with -short")
	}
	const (
		capBPS    = 24000
		liftedFor = 14 * time.Second
	)
	tbf := vnet.NewTBFQueue(10_000_000, 10_000, 100_000) // uncapped while connecting
	c := startVnetCall(t, nil, func(n *vnet.Net) vnet.NIC {
		q, err := vnet.NewQueue(n, tbf)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { q.Close() })
		return q
	})
	time.Sleep(2 * time.Second)
	tbf.SetRate(capBPS)
	tbf.SetBurst(300)
	tbf.SetSize(600) // a queue of 200 ms at the cap
	// wireRate returns the UDP payload bits a second the sender put out over
	// d: Opus bytes plus 12 (RTP) + 16 (SRTP tag) + 8 (pion's header
	// extension) bytes a packet.
	wireRate := func(d time.Duration) float64 {
		s0 := c.sender.Stats()
		time.Sleep(d)
		s1 := c.sender.Stats()
		bytes := float64(s1.PayloadBytes-s0.PayloadBytes) + 36*float64(s1.PacketsSent-s0.PacketsSent)
		return 8 * bytes / d.Seconds()
	}
	time.Sleep(8 * time.Second) // settling
	capped := wireRate(4 * time.Second)
	cappedSettings := c.sender.Stats()
	tbf.SetRate(10_000_000)
	tbf.SetBurst(10_000)
	tbf.SetSize(100_000)
	time.Sleep(liftedFor)
	lifted := c.sender.Stats()
	c.stop()
	t.Logf("capped at %d bit/s: sending %.0f bit/s, encoder %d bit/s, %d-sample frames; cap lifted: encoder %d bit/s, %d-sample frames",
		capBPS, capped, cappedSettings.Bitrate, cappedSettings.FrameSamples, lifted.Bitrate, lifted.FrameSamples)
	// The wire rate is estimated from the payload and a fixed header size,
	// and a sender probing for more overshoots a bottleneck a little: allow
	// it 10 %.
	if capped > 1.1*capBPS {
		t.Errorf("under a %d bit/s cap the sender still sends %.0f bit/s after 8 s", capBPS, capped)
	}
	// At 60 ms frames the capped encoder runs at 18-22 kbit/s; it climbs
	// back at 8 % a clean report, once past where the path congested.
	if lifted.Bitrate < max(capBPS, 13*cappedSettings.Bitrate/10) {
		t.Errorf("%v after the cap was lifted the encoder is at %d bit/s, want ≥ 1.3× the capped %d and above the cap", liftedFor, lifted.Bitrate, cappedSettings.Bitrate)
	}
	res, err := quality.Compare(c.tee.pcm, c.sink.pcm, media.SampleRate, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("whole call: STOI %.3f", res.STOI)
	if res.STOI < 0.7 {
		t.Errorf("STOI over the call %.3f, want ≥ 0.7 (intelligible)", res.STOI)
	}
}
