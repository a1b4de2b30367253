package jitter

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// run is the outcome of simulate: the final stats and, per Pop, the delay
// of the packet played (0 when none was) and the target delay.
type run struct {
	stats   Stats
	delays  []time.Duration
	targets []time.Duration
}

// meanDelay returns the mean delay of the packets played in pops [from, to).
func (r run) meanDelay(from, to int) time.Duration {
	var sum time.Duration
	n := 0
	for _, d := range r.delays[from:to] {
		if d > 0 {
			sum += d
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / time.Duration(n)
}

// simulate sends n frames of 20 ms, frame i arriving at arrive(i) after t0
// (nil: dropped), and pops every 20 ms of the receiver's clock, 7 ms out of
// phase with the sender's, until every packet has had its chance.
func simulate(t *testing.T, n int, arrive func(i int) (time.Duration, bool)) run {
	t.Helper()
	type arrival struct {
		i  int
		at time.Duration
	}
	var arrivals []arrival
	for i := range n {
		if at, ok := arrive(i); ok {
			arrivals = append(arrivals, arrival{i, at})
		}
	}
	slices.SortStableFunc(arrivals, func(x, y arrival) int { return int(x.at - y.at) })
	b := New(Config{})
	var r run
	payload := []byte{1}
	last := arrivals[len(arrivals)-1].at + 500*time.Millisecond
	for now := 7 * time.Millisecond; now < last; now += tick {
		for len(arrivals) > 0 && arrivals[0].at <= now {
			a := arrivals[0]
			arrivals = arrivals[1:]
			b.Push(uint16(a.i), uint32(a.i*frame), ssrcA, payload, t0.Add(a.at))
		}
		f := b.Pop(t0.Add(now))
		s := b.Stats()
		d := time.Duration(0)
		if f.Kind == FramePacket {
			d = s.Delay
			if d == 0 {
				d = time.Nanosecond // played at once: count it
			}
		}
		r.delays = append(r.delays, d)
		r.targets = append(r.targets, s.TargetDelay)
	}
	r.stats = b.Stats()
	return r
}

func TestCleanPathStartsWithUnderOneFrame(t *testing.T) {
	r := simulate(t, 500, func(i int) (time.Duration, bool) {
		return time.Duration(i)*tick + 3*time.Millisecond, true
	})
	s := r.stats
	if s.MeanDelay >= tick || s.Late != 0 || s.Expanded != 0 || s.Lost != 0 {
		t.Errorf("clean path: mean delay %v (want < one frame), late %d, expanded %d, lost %d",
			s.MeanDelay, s.Late, s.Expanded, s.Lost)
	}
	if first := slices.IndexFunc(r.delays, func(d time.Duration) bool { return d > 0 }); first > 1 {
		t.Errorf("first packet played at pop %d, want 0 or 1", first)
	}
}

// jittered returns arrivals of frames sent every 20 ms with a uniform random
// extra delay of up to maxJitter for frames in [from, to).
func jittered(seed uint64, maxJitter time.Duration, from, to int) func(int) (time.Duration, bool) {
	rng := rand.New(rand.NewPCG(seed, 1))
	return func(i int) (time.Duration, bool) {
		at := time.Duration(i)*tick + time.Millisecond
		if i >= from && i < to {
			at += time.Duration(rng.Int64N(int64(maxJitter)))
		}
		return at, true
	}
}

func TestJitterGrowsTargetFastAndShrinksSlowly(t *testing.T) {
	const jitterFrames = 1000 // 20 s of 0–30 ms jitter, then a clean path
	r := simulate(t, 3000, jittered(1, 30*time.Millisecond, 0, jitterFrames))
	// Grows fast: within a second the target covers most of the jitter.
	if got := r.targets[50]; got < 20*time.Millisecond || got > 40*time.Millisecond {
		t.Errorf("target after 1 s of 30 ms jitter = %v, want 20–40 ms", got)
	}
	late := float64(r.stats.Late) / jitterFrames
	if late > 0.06 {
		t.Errorf("%.1f%% of packets late under 30 ms jitter, want ≤ 6%% (a 95th percentile target)", 100*late)
	}
	if got := r.meanDelay(100, jitterFrames); got > 50*time.Millisecond {
		t.Errorf("mean delay under 30 ms jitter = %v, want ≤ 50 ms", got)
	}
	// Shrinks slowly: 2 s after the jitter ends the target has not collapsed,
	// 30 s after it is back to a clean path's.
	if got := r.targets[jitterFrames+100]; got < 15*time.Millisecond {
		t.Errorf("target 2 s after jitter ended = %v, want ≥ 15 ms (shrink slowly)", got)
	}
	end := len(r.delays)
	if got := r.targets[end-1]; got > 5*time.Millisecond {
		t.Errorf("target 30 s after jitter ended = %v, want ≤ 5 ms", got)
	}
	if got := r.meanDelay(end-200, end); got > 25*time.Millisecond {
		t.Errorf("mean delay 30 s after jitter ended = %v, want ≤ 25 ms", got)
	}
	if r.stats.Compressed == 0 {
		t.Error("playout never compressed to shrink its delay")
	}
}

func TestSenderClockDriftDoesNotAccumulate(t *testing.T) {
	for _, tt := range []struct {
		name   string
		period time.Duration // the sender's frame period in the receiver's clock
	}{
		{"sender-clock-fast", 19900 * time.Microsecond},
		{"sender-clock-slow", 20100 * time.Microsecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			const n = 3000 // 60 s: 300 ms of drift
			r := simulate(t, n, func(i int) (time.Duration, bool) {
				return time.Duration(i)*tt.period + 2*time.Millisecond, true
			})
			end := len(r.delays)
			if got := r.meanDelay(end-250-25, end-25); got > 2*tick {
				t.Errorf("mean delay after 60 s = %v, want ≤ two frames", got)
			}
			if r.stats.Late != 0 || r.stats.Lost != 0 {
				t.Errorf("late %d, lost %d, want none", r.stats.Late, r.stats.Lost)
			}
			if r.stats.Expanded+r.stats.Compressed == 0 {
				t.Error("300 ms of drift absorbed without expanding or compressing")
			}
		})
	}
}

func TestDelaySpikeLosesNoPacketsAndRecovers(t *testing.T) {
	// Frames 500–509 are held up: the first by 150 ms, the rest arrive right
	// after it (a stalled queue that then flushes).
	r := simulate(t, 1500, func(i int) (time.Duration, bool) {
		at := time.Duration(i)*tick + time.Millisecond
		if i >= 500 && i < 510 {
			at = max(at, 500*tick+150*time.Millisecond+time.Duration(i-500)*time.Millisecond)
		}
		return at, true
	})
	if r.stats.Late != 0 || r.stats.Lost != 0 {
		t.Errorf("late %d, lost %d after a delay spike, want none (played late instead)", r.stats.Late, r.stats.Lost)
	}
	end := len(r.delays)
	if got := r.meanDelay(end-200, end-25); got > 60*time.Millisecond {
		t.Errorf("mean delay 18 s after the spike = %v, want it back under 60 ms", got)
	}
}
