package media

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gordonklaus/portaudio"
)

func seq(from, n int) []int16 {
	s := make([]int16, n)
	for i := range s {
		s[i] = int16(from + i)
	}
	return s
}

func TestSampleRing(t *testing.T) {
	tests := []struct {
		name        string
		capacity    int
		limit       int
		pushes      [][]int16
		wantDropped int
		want        []int16 // everything left, oldest first
	}{
		{"fifo", 8, 8, [][]int16{seq(1, 3), seq(4, 2)}, 0, seq(1, 5)},
		{"wraps-around", 4, 4, [][]int16{seq(1, 3), seq(4, 3)}, 2, seq(3, 4)},
		{"drops-oldest-at-limit", 8, 4, [][]int16{seq(1, 3), seq(4, 3)}, 2, seq(3, 4)},
		{"push-longer-than-limit", 8, 4, [][]int16{seq(1, 2), seq(3, 6)}, 4, seq(5, 4)},
		{"limit-clamped-to-capacity", 4, 100, [][]int16{seq(1, 6)}, 2, seq(3, 4)},
		{"empty-push", 4, 4, [][]int16{nil, seq(1, 1)}, 0, seq(1, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newSampleRing(tt.capacity, tt.limit)
			dropped := 0
			for _, p := range tt.pushes {
				dropped += r.push(p)
			}
			got := make([]int16, r.n)
			if n := r.pop(got); n != len(tt.want) || !slicesEqual(got, tt.want) || dropped != tt.wantDropped {
				t.Errorf("holds %v (popped %d), dropped %d; want %v, dropped %d", got, n, dropped, tt.want, tt.wantDropped)
			}
		})
	}
}

func TestSampleRingPopAcrossTheEnd(t *testing.T) {
	r := newSampleRing(5, 5)
	r.push(seq(1, 4))
	r.pop(make([]int16, 3)) // head at 3
	r.push(seq(5, 3))       // wraps
	got := make([]int16, 10)
	if n := r.pop(got); n != 4 || !slicesEqual(got[:n], seq(4, 4)) {
		t.Errorf("pop = %v, want %v", got[:n], seq(4, 4))
	}
	if r.n != 0 || r.pop(got) != 0 {
		t.Error("ring not empty after popping everything")
	}
	r.push(seq(1, 5))
	if dropped := r.setLimit(2); dropped != 3 || r.n != 2 || r.pop(got) != 2 || !slicesEqual(got[:2], seq(4, 2)) {
		t.Errorf("setLimit(2) dropped %d, kept %v; want 3 dropped, [4 5] kept", dropped, got[:2])
	}
}

// newTestDeviceSource builds a deviceSource without PortAudio, to drive its
// callback by hand.
func newTestDeviceSource(channels int) *deviceSource {
	s := &deviceSource{
		ready:    make(chan struct{}, 1),
		timer:    time.NewTimer(stallTimeout),
		closed:   make(chan struct{}),
		ring:     newSampleRing(ringCapacity, ringFrames*FrameSamples),
		mixed:    make([]int16, framesPerBuffer),
		channels: channels,
	}
	s.timer.Stop()
	return s
}

func newTestDeviceSink(channels int) *deviceSink {
	return &deviceSink{
		ring:       newSampleRing(ringCapacity, ringFrames*FrameSamples),
		priming:    true,
		primeLevel: FrameSamples + framesPerBuffer,
		mono:       make([]int16, framesPerBuffer),
		channels:   channels,
	}
}

var noTime portaudio.StreamCallbackTimeInfo

func TestDeviceSourceRing(t *testing.T) {
	s := newTestDeviceSource(1)
	ctx := context.Background()
	frame := make([]int16, FrameSamples)

	// Audio captured before the first read is stale: dropped.
	for i := range 6 {
		s.capture(seq(i*framesPerBuffer, framesPerBuffer), noTime, 0)
	}
	go func() {
		for reading := false; !reading; time.Sleep(time.Millisecond) {
			s.mu.Lock()
			reading = s.reading
			s.mu.Unlock()
		}
		s.capture(seq(1000, framesPerBuffer), noTime, 0)
		s.capture(seq(1000+framesPerBuffer, framesPerBuffer), noTime, 0)
	}()
	if err := s.ReadFrame(ctx, frame); err != nil {
		t.Fatal(err)
	}
	if !slicesEqual(frame, seq(1000, FrameSamples)) {
		t.Errorf("first frame starts at %d, want the fresh audio from 1000", frame[0])
	}

	// A reader that falls behind loses the oldest audio beyond four frames.
	for i := range 10 {
		s.capture(seq(i*framesPerBuffer, framesPerBuffer), noTime, portaudio.InputOverflow)
	}
	if err := s.ReadFrame(ctx, frame); err != nil {
		t.Fatal(err)
	}
	if want := seq(2*framesPerBuffer, FrameSamples); !slicesEqual(frame, want) {
		t.Errorf("after an overrun the next frame starts at %d, want %d", frame[0], want[0])
	}
	if got := s.Stats(); got.Overruns != 2*framesPerBuffer || got.HostXruns != 10 {
		t.Errorf("Stats = %+v, want 960 samples overrun and 10 host xruns", got)
	}
}

func TestDeviceSourceMixesStereoDown(t *testing.T) {
	s := newTestDeviceSource(2)
	s.reading = true
	stereo := make([]int16, 2*framesPerBuffer)
	for i := range framesPerBuffer {
		stereo[2*i], stereo[2*i+1] = 100, 300
	}
	s.capture(stereo, noTime, 0)
	s.capture(stereo, noTime, 0)
	frame := make([]int16, FrameSamples)
	if err := s.ReadFrame(context.Background(), frame); err != nil {
		t.Fatal(err)
	}
	for _, v := range frame {
		if v != 200 {
			t.Fatalf("mixed sample %d, want 200", v)
		}
	}
}

func TestDeviceSourceStopsWaiting(t *testing.T) {
	frame := make([]int16, FrameSamples)
	ctx, cancel := context.WithCancel(context.Background())
	s := newTestDeviceSource(1)
	time.AfterFunc(10*time.Millisecond, cancel)
	if err := s.ReadFrame(ctx, frame); !errors.Is(err, context.Canceled) {
		t.Errorf("ReadFrame with a cancelled context = %v", err)
	}
	s = newTestDeviceSource(1)
	time.AfterFunc(10*time.Millisecond, func() { close(s.closed) })
	if err := s.ReadFrame(context.Background(), frame); !errors.Is(err, ErrClosed) {
		t.Errorf("ReadFrame on a closing source = %v, want ErrClosed", err)
	}
	if err := s.ReadFrame(context.Background(), make([]int16, ringCapacity+1)); err == nil {
		t.Error("ReadFrame of a frame longer than the ring succeeded")
	}
}

func TestDeviceSinkRing(t *testing.T) {
	s := newTestDeviceSink(1)
	out := make([]int16, framesPerBuffer)
	play := func() []int16 {
		s.play(out, noTime, 0)
		return append([]int16(nil), out...)
	}

	// Before playback starts: silence, not counted as underrun.
	if got := play(); got[0] != 0 {
		t.Errorf("idle sink played %d", got[0])
	}
	// One frame is not enough to start: playback waits for one frame plus
	// one callback buffer so writer jitter does not starve it.
	s.WriteFrame(seq(1, FrameSamples))
	if got := play(); got[0] != 0 {
		t.Errorf("sink played %d before priming", got[0])
	}
	s.WriteFrame(seq(1+FrameSamples, FrameSamples))
	for i := range 4 {
		if got := play(); !slicesEqual(got, seq(1+i*framesPerBuffer, framesPerBuffer)) {
			t.Fatalf("buffer %d starts at %d, want %d", i, got[0], 1+i*framesPerBuffer)
		}
	}
	// The writer is late: silence, counted, then priming again.
	if got := play(); got[0] != 0 {
		t.Errorf("dry sink played %d", got[0])
	}
	if got := play(); got[0] != 0 {
		t.Errorf("re-priming sink played %d", got[0])
	}
	if got := s.Stats().Underruns; got != 2*framesPerBuffer {
		t.Errorf("underruns = %d, want %d: two dry buffers after playback started", got, 2*framesPerBuffer)
	}

	// A writer far ahead of the device loses its oldest audio.
	for i := range 10 {
		s.WriteFrame(seq(i*FrameSamples, FrameSamples))
	}
	if got := s.Stats().Overruns; got != 10*FrameSamples-(ringFrames*FrameSamples+framesPerBuffer) {
		t.Errorf("overruns = %d, want %d", got, 10*FrameSamples-(ringFrames*FrameSamples+framesPerBuffer))
	}
	if err := s.WriteFrame(nil); err != nil {
		t.Fatal(err)
	}
	s.closed = true
	if err := s.WriteFrame(seq(0, 1)); !errors.Is(err, ErrClosed) {
		t.Errorf("WriteFrame after close = %v, want ErrClosed", err)
	}
}

func TestDeviceSinkSpreadsToStereo(t *testing.T) {
	s := newTestDeviceSink(2)
	s.WriteFrame(seq(1, FrameSamples))
	s.WriteFrame(seq(1+FrameSamples, FrameSamples))
	out := make([]int16, 2*framesPerBuffer)
	s.play(out, noTime, 0)
	for i := range framesPerBuffer {
		if out[2*i] != int16(1+i) || out[2*i+1] != int16(1+i) {
			t.Fatalf("frame %d = %d,%d; want %d on both channels", i, out[2*i], out[2*i+1], 1+i)
		}
	}
}

// TestDeviceCallbacksAllocateNothing guards the real-time rule: the
// PortAudio callbacks must not allocate (nor may the sink's WriteFrame).
func TestDeviceCallbacksAllocateNothing(t *testing.T) {
	src := newTestDeviceSource(2)
	sink := newTestDeviceSink(2)
	in := make([]int16, 2*framesPerBuffer)
	out := make([]int16, 2*framesPerBuffer)
	frame := make([]int16, FrameSamples)
	allocs := testing.AllocsPerRun(100, func() {
		src.capture(in, noTime, 0)
		sink.WriteFrame(frame)
		sink.play(out, noTime, 0)
	})
	if allocs != 0 {
		t.Errorf("callbacks allocate %v times per round", allocs)
	}
}
