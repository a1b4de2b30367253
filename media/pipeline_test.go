package media

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// rtpPipe carries RTP packets from a Sender to a Receiver in memory, as
// bytes, the way a track does.
type rtpPipe struct {
	ch   chan []byte
	drop func(seq uint16) bool // nil: drop nothing
}

func newRTPPipe() *rtpPipe { return &rtpPipe{ch: make(chan []byte, 1000)} }

func (p *rtpPipe) WriteRTP(pkt *rtp.Packet) error {
	if p.drop != nil && p.drop(pkt.SequenceNumber) {
		return nil
	}
	b, err := pkt.Marshal()
	if err != nil {
		return err
	}
	p.ch <- b
	return nil
}

var errPipeClosed = errors.New("pipe closed")

func (p *rtpPipe) Read(b []byte) (int, interceptor.Attributes, error) {
	pkt, ok := <-p.ch
	if !ok {
		return 0, nil, errPipeClosed
	}
	return copy(b, pkt), nil, nil
}

// captureSink keeps what is played.
type captureSink struct {
	mu  sync.Mutex
	pcm []int16
}

func (s *captureSink) WriteFrame(pcm []int16) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pcm = append(s.pcm, pcm...)
	return nil
}

func (s *captureSink) Close() error { return nil }

func (s *captureSink) samples() []int16 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int16(nil), s.pcm...)
}

// runPipeline sends mic through Sender → pipe → Receiver for d,
// sending frames of sendFrame samples to a receiver that starts at 20 ms.
// prepare, when not nil, runs on the Sender before it starts.
func runPipeline(t *testing.T, mic string, sendFrame int, d time.Duration, pipe *rtpPipe, prepare func(*Sender)) (*Sender, *Receiver, []int16) {
	t.Helper()
	src, err := OpenSource(mic, SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	snd, err := NewSender(SenderConfig{Source: src, FrameSamples: sendFrame})
	if err != nil {
		t.Fatal(err)
	}
	if prepare != nil {
		prepare(snd)
	}
	sink := &captureSink{}
	rcv, err := NewReceiver(ReceiverConfig{Sink: sink})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := snd.Run(ctx, pipe); err != nil {
			t.Error(err)
		}
		close(pipe.ch)
	})
	wg.Go(func() { rcv.Receive(ctx, pipe) })
	wg.Go(func() {
		if err := rcv.Play(ctx); err != nil {
			t.Error(err)
		}
	})
	wg.Wait()
	return snd, rcv, sink.samples()
}

func TestReceiverFollowsPeerFrameSize(t *testing.T) {
	for _, tt := range []struct {
		name  string
		frame int
	}{
		{"peer-sends-10ms", 480},
		{"peer-sends-20ms", 960},
		{"peer-sends-40ms", 1920},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, rcv, pcm := runPipeline(t, "tone:440", tt.frame, 1500*time.Millisecond, newRTPPipe(), nil)
			if got := rcv.buffer.Load().FrameSamples(); got != tt.frame {
				t.Errorf("playout frame %d samples, want the peer's %d", got, tt.frame)
			}
			st := rcv.Stats()
			if st.Jitter.Received < 20 || st.Jitter.Lost != 0 || st.Jitter.Discarded != 0 {
				t.Errorf("stats %+v: want packets received, none lost or discarded", st.Jitter)
			}
			// The tone must come through: in most 50 ms windows of the last
			// half second (one concealed or merged frame may spoil one).
			tail := toFloat64(pcm[len(pcm)-SampleRate/2:])
			clean := 0
			for w := 0; w+SampleRate/20 <= len(tail); w += SampleRate / 20 {
				if sineSNR(tail[w:w+SampleRate/20], 440, SampleRate) >= 15 {
					clean++
				}
			}
			if clean < 7 {
				t.Errorf("440 Hz tone at ≥ 15 dB SNR in %d of 10 windows, want ≥ 7; stats %+v", clean, st)
			}
		})
	}
}

func TestFECRecoversIsolatedLosses(t *testing.T) {
	pipe := newRTPPipe()
	pipe.drop = func(seq uint16) bool { return seq%10 == 5 } // 10 %, isolated
	// The peer reported the loss: FEC is on before the first frame.
	_, rcv, _ := runPipeline(t, "file:perf/speech.wav", 960, 3*time.Second, pipe, func(s *Sender) {
		s.HandleRTCP([]rtcp.Packet{&rtcp.ReceiverReport{Reports: []rtcp.ReceptionReport{{FractionLost: 26}}}})
	})
	st := rcv.Stats()
	if st.Jitter.Lost < 10 {
		t.Fatalf("only %d packets lost; stats %+v", st.Jitter.Lost, st.Jitter)
	}
	if 2*st.FECRecovered < st.Jitter.Lost {
		t.Errorf("FEC recovered %d of %d isolated losses, want ≥ 50%%", st.FECRecovered, st.Jitter.Lost)
	}
}
