package media

import "math"

// Clock drift between a speaker and the clock that paces its writer.
//
// A call's receiver writes one frame per frame duration of the system
// clock, and the sound device plays at its own crystal's rate; 100 ppm
// apart, an hour's call gains or loses 360 ms. Left alone, the ring
// between them fills (delay grows until frames are dropped) or runs dry
// (underruns, clicks). driftCompensator holds the ring's level steady by
// resampling what is written by a ratio a slow PI controller adjusts: the
// level is smoothed over about half a second, its mean over the first
// second of playback is the target, and the ratio moves by at most
// maxDriftRatio, far beyond real crystals (±100 ppm) yet inaudible.
const (
	maxDriftRatio = 0.005
	// The controller corrects a level error within about driftCorrection
	// and learns a steady drift within about driftIntegration.
	driftCorrectionSeconds  = 5.0
	driftIntegrationSeconds = 20.0
	// driftLevelSmoothing weighs each new level reading.
	driftLevelSmoothing = 0.05
	// driftSettleWrites is how many writes set the target level.
	driftSettleWrites = 50
)

// driftCompensator resamples a speaker's frames to hold its ring's level;
// it is owned by the sink's writer (under the sink's lock).
type driftCompensator struct {
	level    float64 // smoothed ring level, samples
	target   float64
	writes   int
	integral float64 // Σ error × seconds
	ratio    float64 // input samples consumed per output sample, 1 ± maxDriftRatio

	// Resampling state: pos is where the next output sample falls,
	// relative to the next frame's first sample (-2 ≤ pos < -1 once
	// running); hist holds the previous frame's last three samples.
	pos  float64
	hist [3]int16
	out  []int16
}

// observe updates the ratio from the ring's level before a write of a
// frame lasting seconds.
func (d *driftCompensator) observe(ringLevel int, seconds float64) {
	if d.writes == 0 {
		d.level, d.ratio = float64(ringLevel), 1
	}
	d.level += driftLevelSmoothing * (float64(ringLevel) - d.level)
	d.writes++
	if d.writes <= driftSettleWrites {
		d.target += d.level / driftSettleWrites
		return
	}
	err := (d.level - d.target) / SampleRate // seconds of audio too many
	d.integral += err * seconds
	adj := err/driftCorrectionSeconds + d.integral/(driftCorrectionSeconds*driftIntegrationSeconds)
	d.ratio = 1 + max(-maxDriftRatio, min(maxDriftRatio, adj))
	// Without this the integral winds up while the ratio is clamped.
	d.integral = max(-maxDriftRatio*driftCorrectionSeconds*driftIntegrationSeconds,
		min(maxDriftRatio*driftCorrectionSeconds*driftIntegrationSeconds, d.integral))
}

// resample returns in (at least 3 samples) stretched by 1/ratio, with
// cubic (Catmull-Rom) interpolation that carries its phase across frames
// (a frame's last two samples come out with the next). The result is
// valid until the next call.
func (d *driftCompensator) resample(in []int16) []int16 {
	if d.ratio == 0 {
		d.ratio = 1
	}
	n := len(in)
	// x(k) is input sample k of this frame; -3..-1 are the last frame's.
	x := func(k int) float64 {
		if k < 0 {
			return float64(d.hist[3+k])
		}
		return float64(in[k])
	}
	d.out = d.out[:0]
	// Each output point needs one input sample before it and two after.
	p := d.pos
	for ; p < float64(n-2); p += d.ratio {
		i := int(p+3) - 3 // floor, also for p in [-2, 0)
		t := p - float64(i)
		a, b, c, e := x(i-1), x(i), x(i+1), x(i+2)
		v := b + 0.5*t*(c-a+t*(2*a-5*b+4*c-e+t*(3*(b-c)+e-a)))
		d.out = append(d.out, int16(max(-32768, min(32767, math.Round(v)))))
	}
	d.pos = p - float64(n)
	for k := range d.hist {
		d.hist[k] = in[n-3+k]
	}
	return d.out
}
