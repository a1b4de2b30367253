package dsp_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/parley-voip/parley/media"
	"github.com/parley-voip/parley/media/dsp"
	"github.com/parley-voip/parley/media/quality"
)

// The synthetic echo path of issue 8: far-end speech through a room impulse
// response and a bulk delay, mixed with near-end speech.
const (
	farOnly    = 5 * time.Second // far end alone: convergence and ERLE
	doubleTalk = 4 * time.Second // then both talk
	windowDur  = 100 * time.Millisecond
)

var (
	speechOnce       sync.Once
	farEnd, nearEnd  []int16
	speechErr        error
	nearEndSentence  = "The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background."
	nearEndVoice     = "en+f3"
	perfSpeechWAVRel = "../perf/speech.wav"
)

// speech returns the far end (media/perf's sentence, repeated to fill the
// scenario) and the near end (another voice and sentence), at 48 kHz.
func speech(t testing.TB) (far, near []int16) {
	speechOnce.Do(func() {
		b, err := os.ReadFile(perfSpeechWAVRel)
		if err != nil {
			speechErr = err
			return
		}
		sentence, err := media.DecodeWAV(b)
		if err != nil {
			speechErr = err
			return
		}
		total := samples(farOnly + doubleTalk)
		pause := make([]int16, samples(300*time.Millisecond))
		for len(farEnd) < total {
			farEnd = append(append(farEnd, sentence...), pause...)
		}
		farEnd = farEnd[:total]
		pcm, rate, err := quality.Synthesize(t.Context(), nearEndSentence, nearEndVoice)
		if err != nil {
			speechErr = err
			return
		}
		f := make([]float32, len(pcm))
		for i, v := range pcm {
			f[i] = float32(v)
		}
		if f, err = media.Resample(f, rate, dsp.SampleRate); err != nil {
			speechErr = err
			return
		}
		nearEnd = make([]int16, min(len(f), samples(doubleTalk)))
		for i := range nearEnd {
			nearEnd[i] = clip16(float64(f[i]))
		}
	})
	if speechErr != nil {
		t.Skipf("no test speech: %v", speechErr)
	}
	return farEnd, nearEnd
}

func samples(d time.Duration) int { return int(d * dsp.SampleRate / time.Second) }

func clip16(v float64) int16 {
	return int16(max(math.MinInt16, min(math.MaxInt16, math.Round(v))))
}

// roomResponse is a synthetic room as a sparse set of reflections: a direct
// path, then one reflection every 8 samples for 100 ms, of random sign and
// exponentially decaying strength (RT60 200 ms), holding half the direct
// path's energy. It has unit energy; the bulk delay is added by shifting.
func roomResponse(rng *rand.Rand) []float64 {
	tail := samples(100 * time.Millisecond)
	h := make([]float64, tail)
	h[0] = 1
	decay := math.Log(1000) / (0.2 * dsp.SampleRate) // -60 dB in 200 ms
	var e float64
	for i := 8; i < tail; i += 8 {
		h[i] = rng.NormFloat64() * math.Exp(-decay*float64(i))
		e += h[i] * h[i]
	}
	for i := 8; i < tail; i += 8 {
		h[i] *= math.Sqrt(0.5 / e)
	}
	for i := range h {
		h[i] /= math.Sqrt(1.5)
	}
	return h
}

// convolve returns x through h, as long as x.
func convolve(x []int16, h []float64) []float64 {
	y := make([]float64, len(x))
	for k, c := range h {
		if c == 0 {
			continue
		}
		for i := k; i < len(x); i++ {
			y[i] += c * float64(x[i-k])
		}
	}
	return y
}

func rms(x []int16) float64 { return math.Sqrt(energyInt(x) / float64(len(x))) }

// echoResult is what one run of the echo scenario measured.
type echoResult struct {
	erleDB      float64       // far-end-only, after convergence
	convergence time.Duration // from the first far-end speech
	stoi        float64       // near end in double talk, against the clean near end
	stoiRaw     float64       // the same for the microphone, unprocessed
}

// runEcho plays the scenario through p in 20 ms frames, with the echo
// path delayed by delay.
func runEcho(t testing.TB, p *dsp.Processor, delay time.Duration) echoResult {
	far, near := speech(t)
	rng := rand.New(rand.NewPCG(1, 2))
	room := convolve(far, roomResponse(rng))
	// The echo is as loud as the near end's speech: a laptop's speakers
	// next to its microphone.
	scale := rms(near) / math.Sqrt(energy(room[samples(farOnly):])/float64(len(room)-samples(farOnly)))
	d := samples(delay)
	echo := make([]float64, len(room))
	for i := d; i < len(echo); i++ {
		echo[i] = scale * room[i-d]
	}
	mic := make([]int16, len(far))
	clean := echo // echo alone, for ERLE
	start := samples(farOnly)
	for i := range mic {
		v := echo[i] + 3*rng.NormFloat64() // a quiet microphone's noise floor
		if j := i - start; j >= 0 && j < len(near) {
			v += float64(near[j])
		}
		mic[i] = clip16(v)
	}

	out := append([]int16(nil), mic...)
	const frame = 2 * dsp.ChunkSamples
	for i := 0; i+frame <= len(out); i += frame {
		p.Render(far[i : i+frame])
		if _, err := p.Capture(out[i:i+frame], 0); err != nil {
			t.Fatal(err)
		}
	}

	res := echoResult{erleDB: math.NaN(), stoi: stoi(t, near, out[start:start+len(near)]), stoiRaw: stoi(t, near, mic[start:start+len(near)])}
	// Convergence: the end of the last window in the far-end-only part
	// whose echo is speech and whose ERLE is under 20 dB.
	win := samples(windowDur)
	first := -1
	var peak float64
	for i := 0; i+win <= start; i += win {
		peak = max(peak, energy(clean[i:i+win]))
	}
	for i := 0; i+win <= start; i += win {
		e, r := energy(clean[i:i+win]), energyInt(out[i:i+win])
		if e < peak/30 { // echo 15 dB under its loudest: a pause or a sentence's tail
			continue
		}
		if first < 0 {
			first = i
		}
		if 10*math.Log10(e/max(r, 1)) < 20 {
			res.convergence = time.Duration(i+win-first) * time.Second / dsp.SampleRate
		}
	}
	conv := first + samples(res.convergence)
	if conv >= start {
		return res // never converged
	}
	res.erleDB = 10 * math.Log10(energy(clean[conv:start])/max(energyInt(out[conv:start]), 1))

	return res
}

func stoi(t testing.TB, ref, deg []int16) float64 {
	r, err := quality.Compare(ref, deg, dsp.SampleRate, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	return r.STOI
}

func energy(x []float64) float64 {
	var e float64
	for _, v := range x {
		e += v * v
	}
	return e
}

func energyInt(x []int16) float64 {
	var e float64
	for _, v := range x {
		e += float64(v) * float64(v)
	}
	return e
}

// echoVariants are the echo cancellers measured: the two stages alone
// and Parley's, both in a row. NS and AGC are off, as they would change
// the ERLE and the near end's level.
var echoVariants = []struct {
	name             string
	linear, suppress bool
}{
	{"speex-mdf", true, false},
	{"webrtc-aec", false, true},
	{"speex-then-webrtc", true, true},
}

var echoDelays = []time.Duration{20 * time.Millisecond, 70 * time.Millisecond, 120 * time.Millisecond}

// TestEchoCancellation measures the echo cancellers on the synthetic echo
// path and holds Parley's to the goals of issue 8: ERLE at least 20 dB
// after convergence, convergence within 2 s, and the near end's STOI in
// double talk at least 0.85.
func TestEchoCancellation(t *testing.T) {
	for _, v := range echoVariants {
		for _, d := range echoDelays {
			t.Run(fmt.Sprintf("%s-%dms", v.name, d/time.Millisecond), func(t *testing.T) {
				p, err := dsp.NewForTest(dsp.Config{NoiseOff: true, GainOff: true}, v.linear, v.suppress)
				if err != nil {
					t.Fatal(err)
				}
				defer p.Close()
				r := runEcho(t, p, d)
				t.Logf("ERLE %.1f dB, convergence %v, double-talk STOI %.3f (unprocessed %.3f)",
					r.erleDB, r.convergence, r.stoi, r.stoiRaw)
				if !v.linear || !v.suppress {
					return // measured for comparison only
				}
				if r.erleDB < 20 || r.convergence > 2*time.Second || r.stoi < 0.85 {
					t.Errorf("want ERLE >= 20 dB, convergence <= 2s, STOI >= 0.85")
				}
			})
		}
	}
}
