package quality

import (
	"errors"
	"fmt"
	"math"
)

// STOI parameters, those of Taal et al. (2011) and their reference code.
const (
	stoiRate       = 10000 // Hz: speech below 5 kHz is what intelligibility needs
	stoiFrame      = 256   // samples (25.6 ms), Hann window, 50 % overlap
	stoiFFT        = 512
	stoiBands      = 15    // one-third octave bands ...
	stoiLowestHz   = 150.0 // ... centred from 150 Hz
	stoiSegment    = 30    // frames (384 ms): the short-time segments correlated
	stoiClipDB     = -15.0 // lower signal-to-distortion bound β
	stoiSilenceDB  = 40.0  // frames this far below the loudest are removed
	segSNRFrame    = 0.02  // s: frames of the segmental SNR
	segSNRMin      = -10.0 // dB: per-frame limits of the segmental SNR (Hansen & Pellom)
	segSNRMax      = 35.0
	segSNRActiveDB = 40.0 // reference frames this close to the loudest count
)

var errTooShort = errors.New("too little speech for STOI (under 384 ms)")

// stoi returns the short-time objective intelligibility of deg against ref
// (Taal, Hendriks, Heusdens, Jensen, "An algorithm for intelligibility
// prediction of time-frequency weighted noisy speech", IEEE TASLP 2011):
// both are resampled to 10 kHz, frames where ref is silent are removed from
// both, and the mean over one-third octave bands and 384 ms segments of the
// correlation between ref's and deg's band envelopes (deg's normalised and
// clipped) is returned, in [-1, 1]; 1 is identical. ref and deg are aligned
// and of equal length.
func stoi(ref, deg []float32, sampleRate int) (float64, error) {
	x := resampleFloat(ref, sampleRate, stoiRate)
	y := resampleFloat(deg, sampleRate, stoiRate)
	x, y = removeSilentFrames(x, y)
	X, Y := stoiBandEnvelopes(x), stoiBandEnvelopes(y)
	if len(X) < stoiSegment {
		return 0, fmt.Errorf("%w: %d frames", errTooShort, len(X))
	}
	clip := 1 + math.Pow(10, -stoiClipDB/20)
	var sum float64
	var n int
	var xs, ys [stoiSegment]float64
	for end := stoiSegment; end <= len(X); end++ {
		for b := range stoiBands {
			var xNorm, yNorm float64
			for i := range stoiSegment {
				xs[i], ys[i] = X[end-stoiSegment+i][b], Y[end-stoiSegment+i][b]
				xNorm += xs[i] * xs[i]
				yNorm += ys[i] * ys[i]
			}
			alpha := 0.0
			if yNorm > 0 {
				alpha = math.Sqrt(xNorm / yNorm)
			}
			for i := range ys {
				ys[i] = min(alpha*ys[i], clip*xs[i])
			}
			sum += pearson(xs[:], ys[:])
			n++
		}
	}
	return sum / float64(n), nil
}

// pearson returns the correlation coefficient of a and b, 0 if either is
// constant.
func pearson(a, b []float64) float64 {
	var ma, mb float64
	for i := range a {
		ma += a[i]
		mb += b[i]
	}
	ma /= float64(len(a))
	mb /= float64(len(b))
	var ab, aa, bb float64
	for i := range a {
		da, db := a[i]-ma, b[i]-mb
		ab += da * db
		aa += da * da
		bb += db * db
	}
	if aa == 0 || bb == 0 {
		return 0
	}
	return ab / math.Sqrt(aa*bb)
}

// stoiWindow is the reference code's Hann window: hanning(N+2) without its
// zero end points.
func stoiWindow() []float64 {
	w := make([]float64, stoiFrame)
	for i := range w {
		w[i] = 0.5 - 0.5*math.Cos(2*math.Pi*float64(i+1)/float64(stoiFrame+1))
	}
	return w
}

// removeSilentFrames drops the frames (windowed, 50 % overlap) whose energy
// in x is more than stoiSilenceDB below x's loudest, from both signals, and
// joins what remains by overlap-add.
func removeSilentFrames(x, y []float32) ([]float32, []float32) {
	w := stoiWindow()
	hop := stoiFrame / 2
	var energies []float64
	for start := 0; start+stoiFrame <= len(x); start += hop {
		var e float64
		for i := range stoiFrame {
			v := float64(x[start+i]) * w[i]
			e += v * v
		}
		energies = append(energies, 10*math.Log10(e+1e-20))
	}
	loudest := math.Inf(-1)
	for _, e := range energies {
		loudest = max(loudest, e)
	}
	var keep []int
	for i, e := range energies {
		if e > loudest-stoiSilenceDB {
			keep = append(keep, i*hop)
		}
	}
	if len(keep) == 0 {
		return nil, nil
	}
	outLen := (len(keep)-1)*hop + stoiFrame
	xo, yo := make([]float32, outLen), make([]float32, outLen)
	for k, start := range keep {
		for i := range stoiFrame {
			xo[k*hop+i] += float32(float64(x[start+i]) * w[i])
			yo[k*hop+i] += float32(float64(y[start+i]) * w[i])
		}
	}
	return xo, yo
}

// stoiBandEnvelopes returns, per frame, the magnitude in each one-third
// octave band of x's short-time spectrum.
func stoiBandEnvelopes(x []float32) [][stoiBands]float64 {
	w := stoiWindow()
	a := &analyzer{twiddles: make([]complex128, stoiFFT/2), scratch: make([]complex128, stoiFFT)}
	for k := range a.twiddles {
		a.twiddles[k] = complex(math.Cos(2*math.Pi*float64(k)/stoiFFT), -math.Sin(2*math.Pi*float64(k)/stoiFFT))
	}
	var edges [stoiBands + 1]int
	binHz := float64(stoiRate) / stoiFFT
	for b := range stoiBands {
		centre := stoiLowestHz * math.Pow(2, float64(b)/3)
		edges[b] = int(math.Round(centre * math.Pow(2, -1.0/6) / binHz))
		edges[b+1] = int(math.Round(centre * math.Pow(2, 1.0/6) / binHz))
	}
	var out [][stoiBands]float64
	for start := 0; start+stoiFrame <= len(x); start += stoiFrame / 2 {
		clear(a.scratch)
		for i := range stoiFrame {
			a.scratch[i] = complex(float64(x[start+i])*w[i], 0)
		}
		a.fft(a.scratch)
		var bands [stoiBands]float64
		for b := range stoiBands {
			var p float64
			for _, c := range a.scratch[edges[b]:edges[b+1]] {
				p += real(c)*real(c) + imag(c)*imag(c)
			}
			bands[b] = math.Sqrt(p)
		}
		out = append(out, bands)
	}
	return out
}

// segmentalSNR returns the mean over 20 ms frames where ref is speech (within
// segSNRActiveDB of its loudest frame) of each frame's SNR of deg against
// ref, each limited to [-10, 35] dB. ref and deg are aligned and of equal
// length.
func segmentalSNR(ref, deg []float32, sampleRate int) float64 {
	n := int(segSNRFrame * float64(sampleRate))
	type frame struct{ signal, noise float64 }
	var frames []frame
	loudest := 0.0
	for start := 0; start+n <= len(ref); start += n {
		var f frame
		for i := start; i < start+n; i++ {
			r, d := float64(ref[i]), float64(ref[i])-float64(deg[i])
			f.signal += r * r
			f.noise += d * d
		}
		frames = append(frames, f)
		loudest = max(loudest, f.signal)
	}
	threshold := loudest * math.Pow(10, -segSNRActiveDB/10)
	var sum float64
	var count int
	for _, f := range frames {
		if f.signal <= threshold || f.signal == 0 {
			continue
		}
		snr := segSNRMax
		if f.noise > 0 {
			snr = min(max(10*math.Log10(f.signal/f.noise), segSNRMin), segSNRMax)
		}
		sum += snr
		count++
	}
	if count == 0 {
		return segSNRMin
	}
	return sum / float64(count)
}

// resampleFloat converts x from rate from to rate to with a windowed-sinc
// low-pass at the lower Nyquist frequency (16 zero crossings a side).
func resampleFloat(x []float32, from, to int) []float32 {
	if from == to {
		return x
	}
	const zeros = 16
	ratio := float64(to) / float64(from)
	cutoff := min(1, ratio) // of the input's Nyquist frequency
	half := int(math.Ceil(zeros / cutoff))
	out := make([]float32, int(float64(len(x))*ratio))
	for n := range out {
		t := float64(n) / ratio // position in input samples
		centre := int(t)
		var acc float64
		for k := centre - half + 1; k <= centre+half; k++ {
			if k < 0 || k >= len(x) {
				continue
			}
			d := t - float64(k)
			arg := d * cutoff
			win := 0.5 + 0.5*math.Cos(math.Pi*d/float64(half))
			acc += float64(x[k]) * cutoff * sincPi(arg) * win
		}
		out[n] = float32(acc)
	}
	return out
}

// sincPi returns sin(πx)/(πx).
func sincPi(x float64) float64 {
	if x == 0 {
		return 1
	}
	return math.Sin(math.Pi*x) / (math.Pi * x)
}
