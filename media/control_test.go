package media

import (
	"context"
	"testing"

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
	}{
		{"clean-path-climbs-to-max", repeat(0, 20), 0, MaxBitrate, 0, false},
		{"clean-path-climbs-by-8-percent", []float64{0}, 0, 34560, 0, false},
		{"moderate-loss-holds-bitrate-and-turns-fec-on", repeat(0.05, 5), 0, 32000, 5, true},
		{"heavy-loss-backs-off-to-min", repeat(0.3, 30), 0, MinBitrate, 30, true},
		{"heavy-loss-backs-off-by-half-the-loss", []float64{0.2}, 0, 28800, 10, true},
		{"loss-gone-fec-fades", append(repeat(0.1, 3), repeat(0, 10)...), 0, MaxBitrate, 0, false},
		{"bandwidth-estimate-caps-bitrate", repeat(0, 20), 40000, 40000 - headerBytes*8*50, 0, false},
		{"tiny-bandwidth-estimate-keeps-min", repeat(0, 3), 15000, MinBitrate, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := encoderSettings{bitrate: 32000, complexity: 9, packetRate: 50}
			if tt.bandwidth > 0 {
				s.onBandwidth(tt.bandwidth)
			}
			for _, l := range tt.losses {
				s.onLoss(l)
			}
			if s.bitrate != tt.bitrate || s.lossPercent != tt.lossPct || s.fec != tt.fec {
				t.Errorf("bitrate %d, loss %d%%, FEC %v; want %d, %d%%, %v",
					s.bitrate, s.lossPercent, s.fec, tt.bitrate, tt.lossPct, tt.fec)
			}
		})
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
