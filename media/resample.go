package media

import (
	"fmt"
	"math"
)

// Resampling is polyphase band-limited interpolation with a Kaiser-windowed
// sinc (J. O. Smith, "Digital Audio Resampling"): each output sample is a
// dot product of the input around its position with the kernel sampled at
// that position's fractional phase. The ratio is kept as an exact fraction,
// so every common rate (8, 11.025, 16, 22.05, 32, 44.1, 96 kHz, ...) uses
// exact phases; odd rates snap to the nearest of maxResamplePhases phases.
const (
	// resampleZeroCrossings is the kernel's half-width in zero crossings of
	// the lower of the two rates: 64 taps at that rate.
	resampleZeroCrossings = 32
	// resampleStopbandDB is the Kaiser window's stopband attenuation.
	resampleStopbandDB = 90
	// maxResamplePhases bounds the kernel table for odd rates; the phase
	// error it leaves is below -90 dB at 1 kHz and -69 dB at 20 kHz.
	maxResamplePhases = 4096

	// minRate and maxRate bound the rates Resample and the WAV reader
	// accept, in Hz.
	minRate = 1000
	maxRate = 384000
)

// Resample converts in, sampled at fromRate Hz, to toRate Hz with a
// band-limited (anti-aliasing) filter that passes at least the lowest 82% of
// the lower rate's band flat and attenuates aliases by 90 dB. The output is
// time-aligned with the input (the filter has no delay) and has
// ceil(len(in)*toRate/fromRate) samples. Both rates must be within
// 1000..384000 Hz.
func Resample(in []float32, fromRate, toRate int) ([]float32, error) {
	if err := checkRates(fromRate, toRate); err != nil {
		return nil, fmt.Errorf("media: %w", err)
	}
	if fromRate == toRate {
		return append([]float32(nil), in...), nil
	}
	return newResampler(fromRate, toRate).resample(in), nil
}

func checkRates(fromRate, toRate int) error {
	for _, rate := range []int{fromRate, toRate} {
		if rate < minRate || rate > maxRate {
			return fmt.Errorf("resample %d Hz to %d Hz: rates must be %d..%d Hz", fromRate, toRate, minRate, maxRate)
		}
	}
	return nil
}

// resampler holds the polyphase kernel for one rate pair.
type resampler struct {
	up, down int // toRate/g and fromRate/g for g = gcd(fromRate, toRate)
	cutoff   float64
	half     int         // taps either side of the output position
	window   kaiser      // over ±half input samples
	phases   [][]float32 // phase p holds the taps for fraction p/len(phases); built on first use
}

func newResampler(fromRate, toRate int) *resampler {
	g := gcd(fromRate, toRate)
	r := &resampler{up: toRate / g, down: fromRate / g}

	// Kaiser's design formula gives the transition width of a window of
	// 2*zeroCrossings taps at the lower rate, as a fraction of that rate
	// (equal to its half-width as a fraction of the Nyquist frequency).
	// Centring the transition that far below Nyquist makes the stopband
	// start exactly at the lower rate's Nyquist frequency.
	transition := (resampleStopbandDB - 7.95) / (14.36 * 2 * resampleZeroCrossings)
	r.cutoff = (1 - transition) * math.Min(1, float64(toRate)/float64(fromRate)) // fraction of the input Nyquist
	halfWidth := resampleZeroCrossings / r.cutoff                                // in input samples
	r.half = int(math.Ceil(halfWidth))
	r.window = newKaiser(resampleStopbandDB, halfWidth)
	r.phases = make([][]float32, min(r.up, maxResamplePhases))
	return r
}

func (r *resampler) resample(in []float32) []float32 {
	out := make([]float32, r.outputLen(len(in)))
	for i := range out {
		out[i] = r.at(in, i)
	}
	return out
}

// outputLen is how many samples resampling n input samples gives.
func (r *resampler) outputLen(n int) int {
	return int((int64(n)*int64(r.up) + int64(r.down) - 1) / int64(r.down))
}

// at returns output sample i of resampling in.
func (r *resampler) at(in []float32, i int) float32 {
	// Output i sits at input position i*down/up = base + rem/up.
	pos := int64(i) * int64(r.down)
	base, rem := pos/int64(r.up), pos%int64(r.up)
	nPhases := int64(len(r.phases))
	phase := (rem*nPhases + int64(r.up)/2) / int64(r.up) // exact when nPhases == up
	if phase == nPhases {
		base, phase = base+1, 0
	}
	return r.dot(in, int(base), r.taps(int(phase)))
}

// dot applies taps to in around position base: taps[j] weighs in[base-half+1+j];
// samples outside in count as zero.
func (r *resampler) dot(in []float32, base int, taps []float32) float32 {
	first := base - r.half + 1
	lo, hi := max(0, -first), min(len(taps), len(in)-first)
	var sum float32
	for j := lo; j < hi; j++ {
		sum += taps[j] * in[first+j]
	}
	return sum
}

// taps returns the kernel for phase p, computing it on first use.
func (r *resampler) taps(p int) []float32 {
	if t := r.phases[p]; t != nil {
		return t
	}
	frac := float64(p) / float64(len(r.phases))
	t := make([]float32, 2*r.half)
	var sum float64
	for j := range t {
		x := frac + float64(r.half-1-j) // distance from the output position
		v := r.cutoff * sinc(r.cutoff*x) * r.window.at(x)
		t[j] = float32(v)
		sum += v
	}
	// Normalising every phase to unit gain at DC keeps the phases matched, so
	// a constant input gives a constant output rather than a faint tone.
	for j := range t {
		t[j] = float32(float64(t[j]) / sum)
	}
	r.phases[p] = t
	return t
}

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	return math.Sin(math.Pi*x) / (math.Pi * x)
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// kaiser is a Kaiser window over [-halfWidth, halfWidth].
type kaiser struct {
	beta, halfWidth, norm float64
}

func newKaiser(stopbandDB, halfWidth float64) kaiser {
	beta := 0.1102 * (stopbandDB - 8.7) // Kaiser's formula for attenuation above 50 dB
	return kaiser{beta: beta, halfWidth: halfWidth, norm: besselI0(beta)}
}

func (k kaiser) at(x float64) float64 {
	r := x / k.halfWidth
	if r <= -1 || r >= 1 {
		return 0
	}
	return besselI0(k.beta*math.Sqrt(1-r*r)) / k.norm
}

// besselI0 is the modified Bessel function of the first kind, order zero, by
// its power series (converges quickly for the window's arguments).
func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	for k := 1.0; term > 1e-12*sum; k++ {
		term *= (x / (2 * k)) * (x / (2 * k))
		sum += term
	}
	return sum
}
