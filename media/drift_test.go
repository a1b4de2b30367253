package media

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gordonklaus/portaudio"
)

// TestSpeakerFollowsDeviceClockForAnHour plays an hour's call (ten minutes
// for the extremes) into a speaker whose device clock runs fast or slow against the writer's,
// simulated (JACK's dummy driver paces by sleeping, and on a busy machine
// its clock wanders by whole percents, far beyond any sound card): the
// writer writes a 20 ms frame every 20 ms, ±3 ms of scheduling jitter, and
// the device takes 10 ms buffers at its own rate. After the first seconds
// the device must never run dry nor drop audio, and the delay in the ring
// must not grow.
func TestSpeakerFollowsDeviceClockForAnHour(t *testing.T) {
	for _, tt := range []struct {
		name string
		ppm  float64 // how much faster the device's clock runs
		call time.Duration
	}{
		{"same-clock", 0, 10 * time.Minute},
		{"device-fast-100ppm", 100, time.Hour},
		{"device-slow-100ppm", -100, time.Hour},
		{"device-fast-0.3pct", 3000, 10 * time.Minute},
		{"device-slow-0.3pct", -3000, 10 * time.Minute},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := &deviceSink{
				ring:       newSampleRing(ringCapacity, ringFrames*FrameSamples),
				priming:    true,
				primeLevel: FrameSamples + framesPerBuffer,
				mono:       make([]int16, framesPerBuffer),
				channels:   1,
			}
			rng := rand.New(rand.NewPCG(1, 2))
			const settle = 30 * time.Second
			frame := make([]int16, FrameSamples)
			for i := range frame {
				frame[i] = int16(1000 * (i % 7)) // anything but silence
			}
			out := make([]int16, framesPerBuffer)
			devicePeriod := time.Duration(float64(10*time.Millisecond) / (1 + tt.ppm/1e6))
			var (
				nextCallback time.Duration
				settled      DeviceStats
				minLevel     = ringCapacity
				maxLevel     int
				levelSum     float64
				levelCount   int
			)
			for k := time.Duration(0); k < tt.call/FrameDuration; k++ {
				writeAt := k*FrameDuration + time.Duration(rng.IntN(6000)-3000)*time.Microsecond
				for nextCallback < writeAt {
					s.play(out, portaudio.StreamCallbackTimeInfo{}, 0)
					nextCallback += devicePeriod
				}
				level := s.ring.n // the delay a frame written now waits
				if err := s.WriteFrame(frame); err != nil {
					t.Fatal(err)
				}
				now := k * FrameDuration
				if now == settle {
					settled = s.Stats()
				}
				if now > settle {
					minLevel, maxLevel = min(minLevel, level), max(maxLevel, level)
				}
				if now > tt.call*5/6 {
					levelSum += float64(level)
					levelCount++
				}
			}
			st := s.Stats()
			meanDelay := time.Duration(levelSum / float64(levelCount) * float64(time.Second) / SampleRate)
			targetDelay := time.Duration(s.drift.target * float64(time.Second) / SampleRate)
			t.Logf("ratio %.6f; ring after settling %d..%d samples; mean delay in the last sixth %v (target %v); %+v",
				s.drift.ratio, minLevel, maxLevel, meanDelay, targetDelay, st)
			within(t, "underruns after settling", st.Underruns-settled.Underruns, 0, 0)
			within(t, "overruns after settling", st.Overruns-settled.Overruns, 0, 0)
			within(t, "mean delay in the last sixth", meanDelay, targetDelay-2*time.Millisecond, targetDelay+2*time.Millisecond)
		})
	}
}

// TestDriftResampler checks the resampler: at ratio 1 it passes the
// samples as they are (holding back a frame's last two for the next); at 1.002 a sine comes out 0.2 % lower
// in pitch and as clean, across frame boundaries.
func TestDriftResampler(t *testing.T) {
	tone := make([]int16, 10*FrameSamples)
	src := newToneSource(1000)
	src.fill(tone)
	for _, tt := range []struct {
		name   string
		ratio  float64
		wantHz float64
	}{
		{"unity", 1, 1000},
		{"stretch", 1 / 1.002, 1000 / 1.002},
		{"squeeze", 1.002, 1002},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := driftCompensator{ratio: tt.ratio}
			var out []int16
			for i := 0; i < len(tone); i += FrameSamples {
				out = append(out, d.resample(tone[i:i+FrameSamples])...)
			}
			within(t, "samples out", float64(len(out)), float64(len(tone))/tt.ratio-3, float64(len(tone))/tt.ratio+1)
			if tt.ratio == 1 {
				for i := range out {
					if out[i] != tone[i] {
						t.Fatalf("sample %d = %d, want %d", i, out[i], tone[i])
					}
				}
			}
			x := toFloat64(out[FrameSamples:])
			within(t, "frequency", zeroCrossingFrequency(x, SampleRate), tt.wantHz-1, tt.wantHz+1)
			within(t, "peak", rms(x)*1.41421356, 0.49, 0.51)
		})
	}
}
