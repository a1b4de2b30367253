package mix

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/parley-voip/parley/media"
)

// stepMic is a microphone the test paces: each frame is the next value
// sent on frames, held constant over the frame.
type stepMic struct{ frames chan int16 }

func (s stepMic) ReadFrame(ctx context.Context, pcm []int16) error {
	select {
	case v, ok := <-s.frames:
		if !ok {
			return media.ErrClosed
		}
		for i := range pcm {
			pcm[i] = v
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s stepMic) Close() error { return nil }

// recorder is a speaker that hands every frame to the test.
type recorder struct{ frames chan []int16 }

func (r recorder) WriteFrame(pcm []int16) error {
	r.frames <- append([]int16(nil), pcm...)
	return nil
}

func (r recorder) Close() error { return nil }

func constant(n int, v int16) []int16 {
	pcm := make([]int16, n)
	for i := range pcm {
		pcm[i] = v
	}
	return pcm
}

// runMixer runs a mixer over a test-paced microphone and a recording
// speaker until the test ends (or cancel); ran delivers Run's error.
func runMixer(t *testing.T) (m *Mixer, mic stepMic, speaker recorder, ctx context.Context, cancel context.CancelFunc, ran chan error) {
	mic, speaker = stepMic{make(chan int16)}, recorder{make(chan []int16, 64)}
	m, err := New(Config{Mic: mic, Speaker: speaker})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ran = make(chan error, 1)
	go func() { ran <- m.Run(ctx) }()
	return m, mic, speaker, ctx, cancel, ran
}

// TestEachHearsTheOthers: the host and three participants each say a
// distinct constant; everybody's mix must be the sum of the others'.
func TestEachHearsTheOthers(t *testing.T) {
	tests := []struct {
		name    string
		host    int16
		voices  []int16
		want    []int16 // each port's mix
		wantHot int16   // the host's speaker
	}{
		{name: "three-participants", host: 1, voices: []int16{10, 100, 1000}, want: []int16{1101, 1011, 111}, wantHot: 1110},
		{name: "one-participant-hears-only-the-host", host: 7, voices: []int16{300}, want: []int16{7}, wantHot: 300},
		{name: "sums-saturate", host: 30000, voices: []int16{20000, -5}, want: []int16{29995, 32767}, wantHot: 19995},
		{name: "negative-saturation", host: -30000, voices: []int16{-20000, -20000}, want: []int16{-32768, -32768}, wantHot: -32768},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, mic, speaker, ctx, cancel, ran := runMixer(t)
			var ports []*Port
			for i, v := range tt.voices {
				p := m.AddPort(fmt.Sprint("p", i))
				if err := p.WriteFrame(constant(media.FrameSamples, v)); err != nil {
					t.Fatal(err)
				}
				ports = append(ports, p)
			}
			m.start()
			mic.frames <- tt.host
			if got := <-speaker.frames; got[0] != tt.wantHot || got[len(got)-1] != tt.wantHot {
				t.Errorf("host hears %d…%d, want %d", got[0], got[len(got)-1], tt.wantHot)
			}
			for i, p := range ports {
				pcm := make([]int16, media.FrameSamples)
				if err := p.ReadFrame(ctx, pcm); err != nil {
					t.Fatal(err)
				}
				if pcm[0] != tt.want[i] || pcm[len(pcm)-1] != tt.want[i] {
					t.Errorf("participant %d hears %d…%d, want %d", i, pcm[0], pcm[len(pcm)-1], tt.want[i])
				}
			}
			cancel()
			if err := <-ran; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
}

// TestPorts covers a port's life: frames of other sizes, a late sender,
// underruns, leaving the mix.
func TestPorts(t *testing.T) {
	m, mic, speaker, ctx, _, ran := runMixer(t)
	a, b := m.AddPort("a"), m.AddPort("b")
	read := func(p *Port, n int) []int16 {
		t.Helper()
		pcm := make([]int16, n)
		if err := p.ReadFrame(ctx, pcm); err != nil {
			t.Fatal(err)
		}
		return pcm
	}
	tick := func(v int16) []int16 {
		mic.frames <- v
		return <-speaker.frames
	}

	t.Run("a-forty-ms-sender-waits-for-two-frames", func(t *testing.T) {
		m.start()
		tick(1)
		tick(2)
		got := read(a, 2*media.FrameSamples)
		if got[0] != 1 || got[len(got)-1] != 2 {
			t.Errorf("got %d…%d, want 1…2", got[0], got[len(got)-1])
		}
	})
	t.Run("a-late-sender-gets-the-newest-frame", func(t *testing.T) {
		for v := int16(3); v <= 8; v++ {
			tick(v) // b's sender reads nothing meanwhile
		}
		if got := read(b, media.FrameSamples); got[0] != 8 {
			t.Errorf("b's sender got %d, want the newest frame (8)", got[0])
		}
		if b.Stats().DroppedOutSamples == 0 {
			t.Error("the stale frames were not counted as dropped")
		}
	})
	t.Run("ten-ms-receiver-frames-add-up", func(t *testing.T) {
		a.WriteFrame(constant(media.FrameSamples/2, 50))
		a.WriteFrame(constant(media.FrameSamples/2, 50))
		if got := tick(0); got[0] != 50 || got[len(got)-1] != 50 {
			t.Errorf("host hears %d…%d, want 50", got[0], got[len(got)-1])
		}
	})
	t.Run("a-missing-frame-is-an-underrun", func(t *testing.T) {
		before := a.Stats().Underruns
		if got := tick(0); got[0] != 0 {
			t.Errorf("host hears %d, want silence", got[0])
		}
		if a.Stats().Underruns != before+1 {
			t.Errorf("underruns %d, want %d", a.Stats().Underruns, before+1)
		}
	})
	t.Run("a-sender-that-fell-behind-catches-up", func(t *testing.T) {
		b.out.discard(b.out.len()) // what the subtests before left
		for v := int16(11); v <= 13; v++ {
			tick(v)
		}
		for want := int16(11); want <= 13; want++ {
			if got := read(b, media.FrameSamples); got[0] != want {
				t.Errorf("b's sender got %d, want %d", got[0], want)
			}
		}
	})
	t.Run("a-burst-is-kept", func(t *testing.T) {
		b.in.discard(b.in.len())
		before := b.Stats().DroppedInSamples
		for range 3 {
			b.WriteFrame(constant(media.FrameSamples, 9))
		}
		tick(0)
		if b.in.len() != 2*media.FrameSamples || b.Stats().DroppedInSamples != before {
			t.Errorf("b's input holds %d samples after a mix (dropped %d), want the burst's other two frames",
				b.in.len(), b.Stats().DroppedInSamples-before)
		}
	})
	t.Run("a-lasting-surplus-is-trimmed", func(t *testing.T) {
		underruns := b.Stats().Underruns
		for range 2 * trimWindow {
			b.WriteFrame(constant(media.FrameSamples, 9))
			tick(0)
		}
		if b.in.len() >= media.FrameSamples {
			t.Errorf("b's input still holds %d samples after %d mixes with a surplus", b.in.len(), 2*trimWindow)
		}
		if b.Stats().Underruns != underruns {
			t.Errorf("trimming caused %d underruns", b.Stats().Underruns-underruns)
		}
	})
	t.Run("a-closed-port-leaves-the-mix", func(t *testing.T) {
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		if err := a.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if ports := m.Ports(); len(ports) != 1 || ports[0] != b {
			t.Errorf("ports %v, want only b", ports)
		}
		if err := a.WriteFrame(constant(10, 1)); !errors.Is(err, media.ErrClosed) {
			t.Errorf("WriteFrame after Close: %v, want ErrClosed", err)
		}
		if err := a.ReadFrame(ctx, make([]int16, 10)); !errors.Is(err, media.ErrClosed) {
			t.Errorf("ReadFrame after Close: %v, want ErrClosed", err)
		}
	})
	t.Run("a-stopped-mixer-wakes-its-readers", func(t *testing.T) {
		close(mic.frames)
		if err := <-ran; !errors.Is(err, media.ErrClosed) {
			t.Errorf("Run: %v, want the microphone's ErrClosed", err)
		}
		b.out.discard(b.out.len())
		done := make(chan error, 1)
		go func() { done <- b.ReadFrame(ctx, make([]int16, 4*media.FrameSamples)) }()
		select {
		case err := <-done:
			if !errors.Is(err, media.ErrClosed) {
				t.Errorf("ReadFrame: %v, want ErrClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("ReadFrame still waits after the mixer stopped")
		}
	})
}

func TestNewRejects(t *testing.T) {
	mic, speaker := stepMic{}, recorder{}
	tests := []struct {
		name string
		cfg  Config
	}{
		{name: "no-microphone", cfg: Config{Speaker: speaker}},
		{name: "no-speaker", cfg: Config{Mic: mic}},
		{name: "negative-frame", cfg: Config{Mic: mic, Speaker: speaker, FrameSamples: -1}},
		{name: "frame-over-40ms", cfg: Config{Mic: mic, Speaker: speaker, FrameSamples: 2*maxFrame + 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg); err == nil {
				t.Error("New accepted it")
			}
		})
	}
}

// newLoadedMixer is a mixer with n ports whose receivers keep up.
func newLoadedMixer(tb testing.TB, n int) (*Mixer, []int16) {
	m, err := New(Config{Mic: stepMic{}, Speaker: recorder{}})
	if err != nil {
		tb.Fatal(err)
	}
	voice := make([]int16, media.FrameSamples)
	for i := range voice {
		voice[i] = int16(i*37%2000 - 1000)
	}
	for i := range n {
		m.AddPort(fmt.Sprint("p", i))
	}
	return m, voice
}

// mixRound is one frame of a conference at the host: every receiver
// delivers a frame, the mixer mixes, every sender takes its mix.
func mixRound(ctx context.Context, m *Mixer, ports []*Port, voice, out []int16) {
	for _, p := range ports {
		p.WriteFrame(voice)
	}
	m.mix()
	for _, p := range ports {
		p.ReadFrame(ctx, out)
	}
}

func TestMixAllocatesNothing(t *testing.T) {
	m, voice := newLoadedMixer(t, 4)
	ports, out, ctx := m.Ports(), make([]int16, media.FrameSamples), context.Background()
	m.start()
	if allocs := testing.AllocsPerRun(100, func() { mixRound(ctx, m, ports, voice, out) }); allocs != 0 {
		t.Errorf("a frame of a 5-party mix allocates %.1f times, want 0", allocs)
	}
}

// BenchmarkMix is the host's mixing cost per 20 ms frame (the codecs
// excluded), for conferences of 5 and 9 parties.
func BenchmarkMix(b *testing.B) {
	for _, n := range []int{4, 8} {
		b.Run(fmt.Sprintf("participants-%d", n), func(b *testing.B) {
			m, voice := newLoadedMixer(b, n)
			ports, out, ctx := m.Ports(), make([]int16, media.FrameSamples), context.Background()
			m.start()
			b.ReportAllocs()
			for b.Loop() {
				mixRound(ctx, m, ports, voice, out)
			}
		})
	}
}
