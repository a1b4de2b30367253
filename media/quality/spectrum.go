package quality

import (
	"math"
	"math/bits"
	"math/cmplx"
)

// analyzer turns frames into band energies; it holds the window, the FFT's
// twiddle factors and scratch space, so it serves one goroutine.
type analyzer struct {
	window    []float64
	twiddles  []complex128 // e^{-2πik/n} for k < n/2
	scratch   []complex128
	bandStart [bandCount + 1]int // band b covers FFT bins bandStart[b] ≤ bin < bandStart[b+1]
}

// newAnalyzer prepares for frames of win samples at sampleRate Hz.
func newAnalyzer(win, sampleRate int) *analyzer {
	n := 1 << bits.Len(uint(win-1)) // the power of two ≥ win
	a := &analyzer{
		window:   make([]float64, win),
		twiddles: make([]complex128, n/2),
		scratch:  make([]complex128, n),
	}
	for i := range a.window {
		a.window[i] = 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(win))
	}
	for k := range a.twiddles {
		a.twiddles[k] = cmplx.Rect(1, -2*math.Pi*float64(k)/float64(n))
	}

	// Band edges evenly spaced on the mel scale, at least one bin per band.
	top := min(highestBandHz, 0.45*float64(sampleRate))
	loMel, hiMel := hzToMel(lowestBandHz), hzToMel(top)
	binHz := float64(sampleRate) / float64(n)
	for b := range a.bandStart {
		hz := melToHz(loMel + (hiMel-loMel)*float64(b)/bandCount)
		a.bandStart[b] = int(math.Round(hz / binHz))
		if b > 0 && a.bandStart[b] <= a.bandStart[b-1] {
			a.bandStart[b] = a.bandStart[b-1] + 1
		}
	}
	return a
}

func hzToMel(hz float64) float64  { return 2595 * math.Log10(1+hz/700) }
func melToHz(mel float64) float64 { return 700 * (math.Pow(10, mel/2595) - 1) }

// bandEnergies returns the log power (dB) of a Hann-windowed frame in each band.
func (a *analyzer) bandEnergies(frame []float32) [bandCount]float64 {
	clear(a.scratch)
	for i, v := range frame {
		a.scratch[i] = complex(float64(v)*a.window[i], 0)
	}
	a.fft(a.scratch)
	var out [bandCount]float64
	for b := range bandCount {
		var sum float64
		for _, c := range a.scratch[a.bandStart[b]:a.bandStart[b+1]] {
			sum += real(c)*real(c) + imag(c)*imag(c)
		}
		out[b] = powerDB(sum / float64(len(a.window)))
	}
	return out
}

// fft transforms x in place (iterative radix-2; len(x) is the analyzer's size).
func (a *analyzer) fft(x []complex128) {
	n := len(x)
	shift := bits.UintSize - bits.Len(uint(n-1))
	for i := range x {
		if j := int(bits.Reverse(uint(i)) >> shift); i < j {
			x[i], x[j] = x[j], x[i]
		}
	}
	for size := 2; size <= n; size *= 2 {
		half, step := size/2, n/size
		for start := 0; start < n; start += size {
			for k := range half {
				t := a.twiddles[k*step] * x[start+k+half]
				x[start+k+half] = x[start+k] - t
				x[start+k] += t
			}
		}
	}
}
