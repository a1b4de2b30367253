package quality

import (
	"fmt"
	"math"
	"time"
)

// Analysis parameters; doc.go explains the choices.
const (
	frameDuration    = 20 * time.Millisecond
	hopDuration      = 10 * time.Millisecond
	alignHopDuration = 4 * time.Millisecond

	bandCount     = 20
	lowestBandHz  = 100
	highestBandHz = 8000

	silenceDBFS     = -70 // a signal whose loudest frame is quieter is silent
	alignRangeDB    = 50  // envelope range kept for alignment
	activityRangeDB = 35  // reference frames this close to the loudest are speech
	bandRangeDB     = 40  // range kept per band for the correlation

	minSampleRate = 8000
	maxSampleRate = 192000
)

// Result is the outcome of comparing a degraded (received) signal with the
// reference (sent) one.
type Result struct {
	// Lag is how much later the reference appears in the degraded signal
	// (negative when it appears earlier).
	Lag time.Duration
	// Correlation is the envelope correlation after alignment, in [-1, 1]:
	// at least 0.8 means the degraded signal carries the reference speech.
	Correlation float64
	// STOI is the short-time objective intelligibility (Taal et al., 2011)
	// after alignment: 1 for identical speech, falling towards 0 as less of
	// it can be understood; NaN when under 384 ms of speech overlap.
	STOI float64
	// SegmentalSNR is the mean per-frame SNR in dB, each 20 ms speech frame
	// limited to [-10, 35] dB, after sample-exact alignment. A codec that
	// keeps how speech sounds but not its waveform scores low here; STOI
	// and Correlation are the measures of what a listener gets.
	SegmentalSNR float64
}

// Compare aligns deg to ref, searching lags within ±maxLag, and measures how
// well deg carries ref's speech (see the package documentation). Both
// signals are mono at sampleRate Hz. It returns ErrNoSpeech if ref has no
// speech and ErrSilent if deg is silent.
func Compare(ref, deg []int16, sampleRate int, maxLag time.Duration) (Result, error) {
	if err := checkArguments(ref, deg, sampleRate, maxLag); err != nil {
		return Result{}, err
	}
	r, d := toFloat(ref), toFloat(deg)
	lag, err := align(r, d, sampleRate, maxLag)
	if err != nil {
		return Result{}, err
	}
	corr, err := envelopeCorrelation(r, d, lag, sampleRate)
	if err != nil {
		return Result{}, err
	}
	res := Result{Lag: samplesToDuration(lag, sampleRate), Correlation: corr}
	ra, da := realign(r, d, lag, sampleRate)
	res.SegmentalSNR = segmentalSNR(ra, da, sampleRate)
	if res.STOI, err = stoi(ra, da, sampleRate); err != nil {
		res.STOI = math.NaN()
	}
	return res, nil
}

// Piecewise alignment: a jitter buffer moves its delay during a call, so
// each block of the reference is matched at its own lag near the global one.
const (
	realignBlock = 500 * time.Millisecond
	realignRange = 100 * time.Millisecond
)

// realign returns the part of ref that deg covers at the global lag, and
// deg re-cut to lie under it: block by block, at the lag within
// ±realignRange of lag where the waveforms correlate best (blocks where
// ref is silent keep the previous block's lag).
func realign(ref, deg []float32, lag, sampleRate int) ([]float32, []float32) {
	start := max(0, -lag)
	end := min(len(ref), len(deg)-lag)
	if end <= start {
		return nil, nil
	}
	block := durationToSamples(realignBlock, sampleRate)
	adj := durationToSamples(realignRange, sampleRate)
	win := durationToSamples(frameDuration, sampleRate)
	_, peak := logEnvelope(ref[start:end], win, win)
	out := make([]float32, end-start)
	local := lag
	for s := start; s < end; s += block {
		e := min(s+block, end)
		if _, p := logEnvelope(ref[s:e], win, win); p > peak-alignRangeDB {
			local = refineLag(ref[s:e], deg, s+lag-adj, s+lag+adj) - s
		}
		for i := s; i < e; i++ {
			if j := i + local; j >= 0 && j < len(deg) {
				out[i-start] = deg[j]
			}
		}
	}
	return ref[start:end], out
}

// Align returns how much later ref appears in deg, searching within
// ±maxLag: the lag of best envelope cross-correlation refined at sample
// level. Both signals are mono at sampleRate Hz. It returns ErrNoSpeech if
// ref has no speech and ErrSilent if deg is silent.
func Align(ref, deg []int16, sampleRate int, maxLag time.Duration) (time.Duration, error) {
	if err := checkArguments(ref, deg, sampleRate, maxLag); err != nil {
		return 0, err
	}
	lag, err := align(toFloat(ref), toFloat(deg), sampleRate, maxLag)
	if err != nil {
		return 0, err
	}
	return samplesToDuration(lag, sampleRate), nil
}

func checkArguments(ref, deg []int16, sampleRate int, maxLag time.Duration) error {
	switch {
	case sampleRate < minSampleRate || sampleRate > maxSampleRate:
		return fmt.Errorf("%w: sample rate %d Hz outside %d..%d", errInvalidArgument, sampleRate, minSampleRate, maxSampleRate)
	case maxLag < 0:
		return fmt.Errorf("%w: negative maximum lag %v", errInvalidArgument, maxLag)
	case len(ref) < durationToSamples(frameDuration, sampleRate):
		return fmt.Errorf("%w: reference of %d samples is shorter than a frame", ErrNoSpeech, len(ref))
	case len(deg) == 0:
		return fmt.Errorf("%w: no samples", ErrSilent)
	}
	return nil
}

// align returns the lag, in samples, at which deg best matches ref.
func align(ref, deg []float32, sampleRate int, maxLag time.Duration) (int, error) {
	win := durationToSamples(frameDuration, sampleRate)
	hop := durationToSamples(alignHopDuration, sampleRate)
	refEnv, refPeak := logEnvelope(ref, win, hop)
	degEnv, degPeak := logEnvelope(deg, win, hop)
	if refPeak < silenceDBFS {
		return 0, fmt.Errorf("%w: loudest frame %.0f dBFS", ErrNoSpeech, refPeak)
	}
	if degPeak < silenceDBFS {
		return 0, fmt.Errorf("%w: loudest frame %.0f dBFS", ErrSilent, degPeak)
	}
	clipAndCenter(refEnv, refPeak-alignRangeDB)
	clipAndCenter(degEnv, degPeak-alignRangeDB)

	maxLagSamples := durationToSamples(maxLag, sampleRate)
	maxSteps := maxLagSamples / hop
	bestStep, bestScore := 0, math.Inf(-1)
	for step := -maxSteps; step <= maxSteps; step++ {
		if score := dot64(refEnv, degEnv, step); score > bestScore {
			bestStep, bestScore = step, score
		}
	}

	lo := max(bestStep*hop-hop, -maxLagSamples)
	hi := min(bestStep*hop+hop, maxLagSamples)
	return refineLag(ref, deg, lo, hi), nil
}

// refineLag returns the lag in [lo, hi] at which the waveforms correlate
// best. It searches copies decimated by four first (a sixteenth of the work),
// then the full rate around their best lag.
func refineLag(ref, deg []float32, lo, hi int) int {
	const factor = 4
	coarse := factor * bestLag(decimate(ref, factor), decimate(deg, factor), lo/factor, hi/factor)
	return bestLag(ref, deg, max(lo, coarse-2*factor), min(hi, coarse+2*factor))
}

// bestLag returns the lag in [lo, hi] maximising Σ ref[i]·deg[i+lag].
func bestLag(ref, deg []float32, lo, hi int) int {
	best, bestScore := lo, math.Inf(-1)
	for lag := lo; lag <= hi; lag++ {
		if score := dot32(ref, deg, lag); score > bestScore {
			best, bestScore = lag, score
		}
	}
	return best
}

// decimate returns the means of x's blocks of factor samples: a crude
// low-pass, enough to find a correlation peak to within a block.
func decimate(x []float32, factor int) []float32 {
	out := make([]float32, len(x)/factor)
	for i := range out {
		var sum float32
		for _, v := range x[i*factor : (i+1)*factor] {
			sum += v
		}
		out[i] = sum / float32(factor)
	}
	return out
}

// logEnvelope returns the energy in dBFS of x's win-sample frames every hop
// samples (zero past the end), and the loudest of them.
func logEnvelope(x []float32, win, hop int) ([]float64, float64) {
	n := max(1, (len(x)+hop-1)/hop)
	env := make([]float64, n)
	peak := math.Inf(-1)
	for i := range env {
		var sum float64
		for _, v := range x[i*hop : min(i*hop+win, len(x))] {
			sum += float64(v) * float64(v)
		}
		env[i] = powerDB(sum / float64(win))
		peak = max(peak, env[i])
	}
	return env, peak
}

// clipAndCenter raises values below floor to it, then removes the mean.
func clipAndCenter(x []float64, floor float64) {
	var mean float64
	for i, v := range x {
		x[i] = max(v, floor)
		mean += x[i]
	}
	mean /= float64(len(x))
	for i := range x {
		x[i] -= mean
	}
}

// dot64 returns Σ a[i]·b[i+shift] over the indices where both exist.
func dot64(a, b []float64, shift int) float64 {
	lo, hi := max(0, -shift), min(len(a), len(b)-shift)
	var sum float64
	for i := lo; i < hi; i++ {
		sum += a[i] * b[i+shift]
	}
	return sum
}

// dot32 is dot64 for waveforms.
func dot32(a, b []float32, shift int) float64 {
	lo, hi := max(0, -shift), min(len(a), len(b)-shift)
	if lo >= hi {
		return 0
	}
	b = b[lo+shift : hi+shift]
	a = a[lo:hi]
	var sum float32
	var total float64
	for i, v := range a {
		sum += v * b[i]
		if i%4096 == 4095 { // keep float32 partial sums short: they lose precision
			total += float64(sum)
			sum = 0
		}
	}
	return total + float64(sum)
}

// envelopeCorrelation is Compare's measure for deg delayed by lag samples.
func envelopeCorrelation(ref, deg []float32, lag, sampleRate int) (float64, error) {
	win := durationToSamples(frameDuration, sampleRate)
	hop := durationToSamples(hopDuration, sampleRate)
	an := newAnalyzer(win, sampleRate)

	frames := (len(ref)-win)/hop + 1
	energies := make([]float64, frames)
	peak := math.Inf(-1)
	for k := range energies {
		var sum float64
		for _, v := range ref[k*hop : k*hop+win] {
			sum += float64(v) * float64(v)
		}
		energies[k] = powerDB(sum / float64(win))
		peak = max(peak, energies[k])
	}
	if peak < silenceDBFS {
		return 0, fmt.Errorf("%w: loudest frame %.0f dBFS", ErrNoSpeech, peak)
	}

	var refBands, degBands [][bandCount]float64
	degFrame := make([]float32, win)
	for k, e := range energies {
		if e < peak-activityRangeDB {
			continue
		}
		start := k*hop + lag
		clear(degFrame)
		if lo, hi := max(start, 0), min(start+win, len(deg)); lo < hi {
			copy(degFrame[lo-start:], deg[lo:hi])
		}
		refBands = append(refBands, an.bandEnergies(ref[k*hop:k*hop+win]))
		degBands = append(degBands, an.bandEnergies(degFrame))
	}
	clipAndCenterBands(refBands)
	clipAndCenterBands(degBands)

	var sxy, sxx, syy float64
	for f := range refBands {
		for b := range bandCount {
			x, y := refBands[f][b], degBands[f][b]
			sxy += x * y
			sxx += x * x
			syy += y * y
		}
	}
	if sxx == 0 || syy == 0 {
		return 0, nil // a constant envelope follows nothing
	}
	return sxy / math.Sqrt(sxx*syy), nil
}

// clipAndCenterBands clips each band bandRangeDB below its peak over the
// frames and removes its mean.
func clipAndCenterBands(frames [][bandCount]float64) {
	column := make([]float64, len(frames))
	for b := range bandCount {
		peak := math.Inf(-1)
		for f := range frames {
			column[f] = frames[f][b]
			peak = max(peak, column[f])
		}
		clipAndCenter(column, peak-bandRangeDB)
		for f := range frames {
			frames[f][b] = column[f]
		}
	}
}

// powerDB returns a mean-square power of full-scale-normalised samples in
// dBFS, with a floor far below anything audible.
func powerDB(p float64) float64 {
	return 10 * math.Log10(p+1e-14)
}

func toFloat(pcm []int16) []float32 {
	out := make([]float32, len(pcm))
	for i, v := range pcm {
		out[i] = float32(v) / 32768
	}
	return out
}

func durationToSamples(d time.Duration, sampleRate int) int {
	return int(int64(d) * int64(sampleRate) / int64(time.Second))
}

func samplesToDuration(n, sampleRate int) time.Duration {
	return time.Duration(int64(n) * int64(time.Second) / int64(sampleRate))
}
