package media

import (
	"context"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

func TestEncoderSettingsFollowLoss(t *testing.T) {
	tests := []struct {
		name      string
		losses    []float64 // fraction lost in successive receiver reports
		bandwidth int       // REMB before the reports, 0: none
		bitrate   int
		lossPct   int
		fec       bool
		frame     int // 0: the configured 960
	}{
		{"clean-path-climbs-to-max", repeat(0, 20), 0, MaxBitrate, 0, false, 0},
		{"clean-path-climbs-by-8-percent", []float64{0}, 0, 34560, 0, false, 0},
		{"moderate-loss-holds-bitrate-and-turns-fec-on", repeat(0.05, 5), 0, 32000, 5, true, 0},
		{"heavy-loss-backs-off-by-half-the-loss", []float64{0.2}, 0, 28800, 10, true, 0},
		{"loss-gone-fec-fades", append(repeat(0.1, 3), repeat(0, 10)...), 0, MaxBitrate, 0, false, 0},
		{"bandwidth-estimate-caps-bitrate", repeat(0, 20), 40000, 40000 - headerBytes*8*50, 0, false, 0},
		{"tiny-bandwidth-estimate-keeps-min", repeat(0, 3), 15000, MinBitrate, 0, false, 0},
		{"heavy-loss-backs-off-to-min-and-grows-frame-to-60ms", repeat(0.3, 30), 0, MinBitrate, 30, true, 2880},
		// 60 % lost: of the 32 + 20 kbit/s sent 20.8 got through, less than
		// the headers alone; one report takes the bitrate to the floor.
		{"far-over-a-cap-drops-at-once", []float64{0.6}, 0, MinBitrate, 30, true, 1920},
		// 30 % lost: 0.7 × 52 kbit/s - 20 of headers = 16.4 kbit/s fits.
		{"over-a-cap-drops-to-what-got-through", []float64{0.3}, 0, 16400, 15, true, 1920},
		{"cap-lifted-restores-frame", append(repeat(0.3, 30), repeat(0, 30)...), 0, MaxBitrate, 0, false, 960},
		{"cap-lifted-steps-back-through-40ms", append(repeat(0.3, 30), repeat(0, 14)...), 0, 34006, 0, false, 1920},
		{"small-bitrate-congested-doubles-frame", repeat(0.15, 4), 0, 23426, 14, true, 1920},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := encoderSettings{bitrate: 32000, complexity: 9, frameSamples: 960, baseFrame: 960}
			if tt.bandwidth > 0 {
				s.onBandwidth(tt.bandwidth)
			}
			for _, l := range tt.losses {
				s.onReport(l, 0, false)
			}
			if tt.frame == 0 {
				tt.frame = 960
			}
			if s.bitrate != tt.bitrate || s.lossPercent != tt.lossPct || s.fec != tt.fec || s.frameSamples != tt.frame {
				t.Errorf("bitrate %d, loss %d%%, FEC %v, frame %d; want %d, %d%%, %v, %d",
					s.bitrate, s.lossPercent, s.fec, s.frameSamples, tt.bitrate, tt.lossPct, tt.fec, tt.frame)
			}
		})
	}
}

func TestEncoderSettingsFollowQueueDelay(t *testing.T) {
	s := encoderSettings{bitrate: 32000, complexity: 9, frameSamples: 960, baseFrame: 960}
	for _, rtt := range []time.Duration{20, 22, 21} {
		s.onReport(0, rtt*time.Millisecond, true)
	}
	clean := s.bitrate
	s.onReport(0, 90*time.Millisecond, true) // 70 ms over the smallest: a queue
	if want := int(float64(clean) * delayBackoff); s.bitrate != want {
		t.Errorf("after a report with a queue: bitrate %d, want %d (from %d)", s.bitrate, want, clean)
	}
	s.onReport(0, 40*time.Millisecond, true) // within the limit: probe again
	if s.bitrate <= int(float64(clean)*delayBackoff) {
		t.Errorf("queue gone: bitrate %d did not climb", s.bitrate)
	}
	// A new path (an ICE restart onto a relay) 80 ms longer: a queue at
	// first, then the base the delay is measured from.
	for range baseRTTReports {
		s.onReport(0, 100*time.Millisecond, true)
	}
	low := s.bitrate
	for range 5 {
		s.onReport(0, 100*time.Millisecond, true)
	}
	if s.bitrate <= low {
		t.Errorf("%d reports on a longer path: bitrate %d, then %d: still read as a queue", baseRTTReports+5, low, s.bitrate)
	}
}

func TestReportRTT(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	sent := now.Add(-150 * time.Millisecond)
	r := rtcp.ReceptionReport{LastSenderReport: ntpMiddle(sent), Delay: 100 << 16 / 1000} // held 100 ms
	rtt, ok := reportRTT(r, now)
	if !ok || rtt < 49*time.Millisecond || rtt > 51*time.Millisecond {
		t.Errorf("reportRTT = %v, %v; want 50ms", rtt, ok)
	}
	if _, ok := reportRTT(rtcp.ReceptionReport{}, now); ok {
		t.Error("a report without LSR gave a round trip")
	}
}

func repeat(v float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func TestComplexityFollowsEncodeCost(t *testing.T) {
	tests := []struct {
		name   string
		shares []float64
		want   int
	}{
		{"idle-machine-raises-to-10", []float64{0.02, 0.02, 0.02}, 10},
		{"busy-machine-lowers-step-by-step", []float64{0.2, 0.2}, 7},
		{"busy-machine-stops-at-min", repeat(0.5, 20), minComplexity},
		{"moderate-cost-holds", []float64{0.07, 0.07}, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := encoderSettings{complexity: 9}
			for _, sh := range tt.shares {
				s.onEncodeCost(sh)
			}
			if s.complexity != tt.want {
				t.Errorf("complexity %d, want %d", s.complexity, tt.want)
			}
		})
	}
}

// countingWriter stops the Sender's Run after n packets.
type countingWriter struct {
	n      int
	cancel context.CancelFunc
	sizes  []int
}

func (w *countingWriter) WriteRTP(p *rtp.Packet) error {
	w.sizes = append(w.sizes, len(p.Payload))
	if len(w.sizes) >= w.n {
		w.cancel()
	}
	return nil
}

func TestSenderAppliesReceiverReports(t *testing.T) {
	src, err := OpenSource("tone:440", SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	s, err := NewSender(SenderConfig{Source: src})
	if err != nil {
		t.Fatal(err)
	}
	s.HandleRTCP([]rtcp.Packet{
		&rtcp.ReceiverReport{Reports: []rtcp.ReceptionReport{{FractionLost: 64}}}, // 25 %
		&rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: 40000},
	})
	ctx, cancel := context.WithCancel(context.Background())
	w := &countingWriter{n: 3, cancel: cancel}
	if err := s.Run(ctx, w); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	wantBitrate := 40000 - headerBytes*8*50 // below the 28 kbit/s the loss left
	if st.Bitrate != wantBitrate || !st.FEC || st.ExpectedLossPercent != 13 {
		t.Errorf("after a 25%% loss report and a 40 kbit/s REMB: %+v; want bitrate %d, FEC, 13%% expected loss",
			st, wantBitrate)
	}
}

func TestEncodeMeter(t *testing.T) {
	m := encodeMeter{frame: 20 * time.Millisecond}
	for i := range complexityWindow - 1 {
		if _, ok := m.add(time.Millisecond); ok {
			t.Fatalf("reported after %d frames, want after %d", i+1, complexityWindow)
		}
	}
	share, ok := m.add(3 * time.Millisecond)
	want := (float64(complexityWindow-1)*1 + 3) / complexityWindow / 20
	if !ok || share < want-1e-9 || share > want+1e-9 {
		t.Errorf("share = %v, %v; want %v", share, ok, want)
	}
	if _, ok := m.add(time.Millisecond); ok {
		t.Error("the window did not start anew")
	}
}
