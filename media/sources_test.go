package media

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// openFake opens spec with a fake clock, so reading it takes no real time.
func openFake(t *testing.T, spec string, opt SourceOptions) (*pacedSource, *fakeClock) {
	t.Helper()
	src, err := OpenSource(spec, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	ps, ok := src.(*pacedSource)
	if !ok {
		t.Fatalf("OpenSource(%q) is a %T, want a paced source", spec, src)
	}
	clock := newFakeClock()
	ps.pacer.clock = clock
	return ps, clock
}

// readFrames reads n frames of size samples each and returns them joined.
func readFrames(t *testing.T, src Source, n, size int) []int16 {
	t.Helper()
	var all []int16
	frame := make([]int16, size)
	for range n {
		if err := src.ReadFrame(context.Background(), frame); err != nil {
			t.Fatal(err)
		}
		all = append(all, frame...)
	}
	return all
}

func TestSilenceSource(t *testing.T) {
	src, _ := openFake(t, "silence", SourceOptions{})
	frame := []int16{1, 2, 3}
	if err := src.ReadFrame(context.Background(), frame); err != nil {
		t.Fatal(err)
	}
	if frame[0] != 0 || frame[1] != 0 || frame[2] != 0 {
		t.Errorf("silence gave %v", frame)
	}
}

func TestToneSource(t *testing.T) {
	for _, hz := range []float64{20, 440, 1000.5, 19000} {
		src, _ := openFake(t, "tone:"+strconv.FormatFloat(hz, 'f', -1, 64), SourceOptions{})
		x := toFloat64(readFrames(t, src, 50, FrameSamples))
		within(t, "frequency", zeroCrossingFrequency(x, SampleRate), hz-0.05, hz+0.05)
		within(t, "SNR dB", sineSNR(x, hz, SampleRate), 80, math.Inf(1))
		within(t, "peak", rms(x)*math.Sqrt2, 0.499, 0.501)
	}
}

// TestSourcePacing checks real time: frame n of any size is due
// n*len(frame)/48000 s after the first ReadFrame.
func TestSourcePacing(t *testing.T) {
	src, clock := openFake(t, "silence", SourceOptions{})
	ctx := context.Background()
	sizes := []int{FrameSamples, FrameSamples / 2, 2 * FrameSamples, 1}
	var slept []time.Duration
	for _, n := range sizes {
		clock.sleeps = nil
		if err := src.ReadFrame(ctx, make([]int16, n)); err != nil {
			t.Fatal(err)
		}
		var d time.Duration
		for _, s := range clock.sleeps {
			d += s
		}
		slept = append(slept, d)
	}
	want := []time.Duration{0, 20 * time.Millisecond, 10 * time.Millisecond, 40 * time.Millisecond}
	for i := range want {
		if slept[i] != want[i] {
			t.Errorf("frame %d (%d samples) waited %v, want %v", i, sizes[i], slept[i], want[i])
		}
	}
}

// writeClip writes a WAV whose samples count up from 1, so any misplaced
// sample shows.
func writeClip(t *testing.T, n int) (string, []int16) {
	t.Helper()
	clip := make([]int16, n)
	for i := range clip {
		clip[i] = int16(i + 1)
	}
	path := filepath.Join(t.TempDir(), "clip.wav")
	if err := WriteWAV(path, clip, SampleRate); err != nil {
		t.Fatal(err)
	}
	return path, clip
}

func TestFileSource(t *testing.T) {
	path, clip := writeClip(t, 2*FrameSamples+100)
	tests := []struct {
		name string
		loop bool
		want func(i int) int16 // sample i of the output
	}{
		{"plays-once-then-silence", false, func(i int) int16 {
			if i < len(clip) {
				return clip[i]
			}
			return 0
		}},
		{"loop-repeats", true, func(i int) int16 { return clip[i%len(clip)] }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, _ := openFake(t, "file:"+path, SourceOptions{Loop: tt.loop})
			got := readFrames(t, src, 8, FrameSamples)
			for i, v := range got {
				if want := tt.want(i); v != want {
					t.Fatalf("sample %d = %d, want %d", i, v, want)
				}
			}
		})
	}
}

func TestFileSourceEmptyFileLoops(t *testing.T) {
	path, _ := writeClip(t, 0)
	src, _ := openFake(t, "file:"+path, SourceOptions{Loop: true})
	for _, v := range readFrames(t, src, 2, FrameSamples) {
		if v != 0 {
			t.Fatalf("an empty looped file gave %d, want silence", v)
		}
	}
}

// TestFileSourceRealTime plays a file on the real clock: 50 frames take
// about a second, a late reader catches up, and the content is untouched.
func TestFileSourceRealTime(t *testing.T) {
	t.Parallel()
	path, clip := writeClip(t, 25*FrameSamples)
	src, err := OpenSource("file:"+path, SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	frame := make([]int16, FrameSamples)
	start := time.Now()
	for i := range 50 {
		if err := src.ReadFrame(context.Background(), frame); err != nil {
			t.Fatal(err)
		}
		if i < 25 && frame[0] != clip[i*FrameSamples] {
			t.Fatalf("frame %d starts with %d, want %d", i, frame[0], clip[i*FrameSamples])
		}
		if i == 20 {
			time.Sleep(150 * time.Millisecond) // a late reader
		}
	}
	within(t, "50 frames took", time.Since(start), 975*time.Millisecond, 1500*time.Millisecond)
}

func TestSourceCloseAndCancel(t *testing.T) {
	t.Parallel()
	long := make([]int16, SampleRate) // one-second frames: the second read waits
	tests := []struct {
		name string
		stop func(Source, context.CancelFunc)
		want error
	}{
		{"close-wakes-a-waiting-read", func(s Source, _ context.CancelFunc) { s.Close() }, ErrClosed},
		{"cancel-wakes-a-waiting-read", func(_ Source, cancel context.CancelFunc) { cancel() }, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := OpenSource("tone:440", SourceOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if err := src.ReadFrame(ctx, long); err != nil {
				t.Fatal(err)
			}
			time.AfterFunc(30*time.Millisecond, func() { tt.stop(src, cancel) })
			start := time.Now()
			if err := src.ReadFrame(ctx, long); !errors.Is(err, tt.want) {
				t.Errorf("ReadFrame = %v, want %v", err, tt.want)
			}
			within(t, "ReadFrame returned after", time.Since(start), 0, 500*time.Millisecond)
		})
	}
	src, _ := OpenSource("silence", SourceOptions{})
	src.Close()
	if err := src.ReadFrame(context.Background(), long); !errors.Is(err, ErrClosed) {
		t.Errorf("ReadFrame after Close = %v, want ErrClosed", err)
	}
}

func TestNullSink(t *testing.T) {
	sink, err := OpenSink("null")
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.WriteFrame(make([]int16, FrameSamples)); err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sink.WriteFrame(make([]int16, FrameSamples)); !errors.Is(err, ErrClosed) {
		t.Errorf("WriteFrame after Close = %v, want ErrClosed", err)
	}
}

func TestFileSink(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.wav")
	sink, err := OpenSink("file:" + path)
	if err != nil {
		t.Fatal(err)
	}
	var want []int16
	frame := make([]int16, FrameSamples)
	for i := range 100 {
		for j := range frame {
			frame[j] = int16(i*7 + j)
		}
		if err := sink.WriteFrame(frame); err != nil {
			t.Fatal(err)
		}
		want = append(want, frame...)
	}

	// A recording cut short before Close (a crash) still reads as far as
	// it was written.
	if err := sink.(*fileSink).w.Flush(); err != nil {
		t.Fatal(err)
	}
	if partial, err := ReadWAV(path); err != nil || !slicesEqual(partial, want) {
		t.Errorf("unfinished recording: %d samples, %v; want %d samples", len(partial), err, len(want))
	}

	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := ReadWAV(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slicesEqual(got, want) {
		t.Errorf("recorded %d samples, want the %d written", len(got), len(want))
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if size := info.Size(); size != wavHeaderSize+2*int64(len(want)) {
		t.Errorf("file is %d bytes, want %d", size, wavHeaderSize+2*len(want))
	}
	if err := sink.WriteFrame(frame); !errors.Is(err, ErrClosed) {
		t.Errorf("WriteFrame after Close = %v, want ErrClosed", err)
	}
	if err := sink.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}
