package quality

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/hraban/opus"
)

const rate = 48000

const (
	sentenceA = "The quick brown fox jumps over the lazy dog, then rests beside the quiet river."
	sentenceB = "Please call me back tomorrow morning, any time after nine o'clock."
)

var (
	speechMu    sync.Mutex
	speechCache = map[string][]int16{}
)

// speech returns text spoken by espeak-ng in voice, resampled to 48 kHz, or
// skips the test when espeak-ng is not installed.
func speech(t *testing.T, text, voice string) []int16 {
	t.Helper()
	speechMu.Lock()
	defer speechMu.Unlock()
	key := voice + "\x00" + text
	if pcm, ok := speechCache[key]; ok {
		return pcm
	}
	pcm, sr, err := Synthesize(t.Context(), text, voice)
	if errors.Is(err, exec.ErrNotFound) {
		t.Skip("espeak-ng is not installed: no speech samples to compare")
	}
	if err != nil {
		t.Fatal(err)
	}
	pcm = resample(pcm, sr, rate)
	speechCache[key] = pcm
	return pcm
}

// resample converts in from one sample rate to another by windowed-sinc
// interpolation (16 zero crossings, Hann window).
func resample(in []int16, from, to int) []int16 {
	const crossings = 16
	ratio := float64(to) / float64(from)
	cutoff := min(1, ratio) // of the input's Nyquist frequency
	reach := int(math.Ceil(crossings / cutoff))
	out := make([]int16, len(in)*to/from)
	for i := range out {
		pos := float64(i) / ratio
		center := int(pos)
		var sum float64
		for j := max(center-reach, 0); j <= min(center+reach, len(in)-1); j++ {
			d := pos - float64(j)
			if math.Abs(d) >= float64(reach) {
				continue
			}
			w := cutoff * sinc(d*cutoff) * (0.5 + 0.5*math.Cos(math.Pi*d/float64(reach)))
			sum += float64(in[j]) * w
		}
		out[i] = clip16(sum)
	}
	return out
}

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	return math.Sin(math.Pi*x) / (math.Pi * x)
}

func clip16(v float64) int16 {
	return int16(max(-32768, min(32767, math.Round(v))))
}

func silence(d time.Duration) []int16 { return make([]int16, durationToSamples(d, rate)) }

func concat(parts ...[]int16) []int16 {
	var out []int16
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func rms(x []int16) float64 {
	var sum float64
	for _, v := range x {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(len(x)))
}

// whiteNoise returns n samples of Gaussian noise with the given RMS.
func whiteNoise(rng *rand.Rand, n int, level float64) []int16 {
	out := make([]int16, n)
	for i := range out {
		out[i] = clip16(rng.NormFloat64() * level)
	}
	return out
}

// addNoise adds white noise snrDB below the RMS of x's non-silent samples.
func addNoise(rng *rand.Rand, x []int16, snrDB float64) []int16 {
	var sum float64
	var active int
	for _, v := range x {
		if v != 0 {
			sum += float64(v) * float64(v)
			active++
		}
	}
	level := math.Sqrt(sum/float64(active)) / math.Pow(10, snrDB/20)
	noise := whiteNoise(rng, len(x), level)
	out := make([]int16, len(x))
	for i := range x {
		out[i] = clip16(float64(x[i]) + float64(noise[i]))
	}
	return out
}

// dropFrames zeroes a fraction of x's 20 ms frames, chosen at random.
func dropFrames(rng *rand.Rand, x []int16, fraction float64) []int16 {
	out := append([]int16(nil), x...)
	frame := durationToSamples(20*time.Millisecond, rate)
	for start := 0; start < len(out); start += frame {
		if rng.Float64() < fraction {
			clear(out[start:min(start+frame, len(out))])
		}
	}
	return out
}

// throughOpus encodes x with libopus (VoIP, 20 ms frames) at bitrate and
// decodes it, concealing a fraction of the packets as lost with the
// decoder's PLC, as a receiver does.
func throughOpus(t *testing.T, rng *rand.Rand, x []int16, bitrate int, loss float64) []int16 {
	t.Helper()
	enc, err := opus.NewEncoder(rate, 1, opus.AppVoIP)
	if err != nil {
		t.Fatal(err)
	}
	if err := enc.SetBitrate(bitrate); err != nil {
		t.Fatal(err)
	}
	dec, err := opus.NewDecoder(rate, 1)
	if err != nil {
		t.Fatal(err)
	}
	const frame = rate / 50
	in := make([]int16, frame)
	packet := make([]byte, 1500)
	out := make([]int16, 0, len(x)+frame)
	pcm := make([]int16, frame)
	for start := 0; start < len(x); start += frame {
		clear(in)
		copy(in, x[start:])
		n, err := enc.Encode(in, packet)
		if err != nil {
			t.Fatal(err)
		}
		if rng.Float64() < loss {
			err = dec.DecodePLC(pcm)
		} else {
			_, err = dec.Decode(packet[:n], pcm)
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, pcm...)
	}
	return out
}

func TestCompare(t *testing.T) {
	a := speech(t, sentenceA, "en")
	b := speech(t, sentenceB, "en+f3")
	padded := concat(silence(500*time.Millisecond), a, silence(500*time.Millisecond))
	tests := []struct {
		name    string
		ref     []int16
		deg     func(rng *rand.Rand) []int16
		maxLag  time.Duration
		lag     time.Duration // expected within ±2 ms, when checkLag
		lagSet  bool
		minCorr float64 // expected Correlation ≥ minCorr ...
		maxCorr float64 // ... and < maxCorr
	}{
		{
			name:    "identical",
			ref:     a,
			deg:     func(*rand.Rand) []int16 { return a },
			maxLag:  500 * time.Millisecond,
			lagSet:  true,
			minCorr: 0.999, maxCorr: 1.000001,
		},
		{
			name:   "delayed-137ms-with-silence-padding",
			ref:    padded,
			deg:    func(*rand.Rand) []int16 { return concat(silence(137*time.Millisecond), padded) },
			maxLag: 500 * time.Millisecond,
			lag:    137 * time.Millisecond, lagSet: true,
			minCorr: 0.95, maxCorr: 1.000001,
		},
		{
			name:   "leading-by-100ms",
			ref:    padded,
			deg:    func(*rand.Rand) []int16 { return padded[durationToSamples(100*time.Millisecond, rate):] },
			maxLag: 500 * time.Millisecond,
			lag:    -100 * time.Millisecond, lagSet: true,
			minCorr: 0.95, maxCorr: 1.000001,
		},
		{
			name: "noise-20db-and-5pct-frames-dropped",
			ref:  padded,
			deg: func(rng *rand.Rand) []int16 {
				return addNoise(rng, dropFrames(rng, concat(silence(80*time.Millisecond), padded), 0.05), 20)
			},
			maxLag: 500 * time.Millisecond,
			lag:    80 * time.Millisecond, lagSet: true,
			minCorr: 0.8, maxCorr: 1,
		},
		{
			name: "5pct-frames-dropped-then-noise-20db",
			ref:  padded,
			deg: func(rng *rand.Rand) []int16 {
				return dropFrames(rng, addNoise(rng, concat(silence(80*time.Millisecond), padded), 20), 0.05)
			},
			maxLag: 500 * time.Millisecond,
			lag:    80 * time.Millisecond, lagSet: true,
			minCorr: 0.8, maxCorr: 1,
		},
		{
			name: "opus-24kbps-with-5pct-loss-concealed",
			ref:  padded,
			deg: func(rng *rand.Rand) []int16 {
				return throughOpus(t, rng, concat(silence(60*time.Millisecond), padded), 24000, 0.05)
			},
			maxLag:  500 * time.Millisecond,
			minCorr: 0.8, maxCorr: 1,
		},
		{
			name: "opus-12kbps-with-5pct-loss-concealed",
			ref:  padded,
			deg: func(rng *rand.Rand) []int16 {
				return throughOpus(t, rng, concat(silence(60*time.Millisecond), padded), 12000, 0.05)
			},
			maxLag:  500 * time.Millisecond,
			minCorr: 0.8, maxCorr: 1,
		},
		{
			name:    "other-speech",
			ref:     padded,
			deg:     func(*rand.Rand) []int16 { return concat(silence(137*time.Millisecond), b, silence(time.Second)) },
			maxLag:  500 * time.Millisecond,
			minCorr: -1, maxCorr: 0.5,
		},
		{
			name:    "white-noise",
			ref:     padded,
			deg:     func(rng *rand.Rand) []int16 { return whiteNoise(rng, len(padded), 3000) },
			maxLag:  500 * time.Millisecond,
			minCorr: -1, maxCorr: 0.5,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			deg := tt.deg(rand.New(rand.NewPCG(1, 2)))
			res, err := Compare(tt.ref, deg, rate, tt.maxLag)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("lag %v, correlation %.3f, STOI %.3f, segmental SNR %.1f dB", res.Lag, res.Correlation, res.STOI, res.SegmentalSNR)
			if tt.lagSet && (res.Lag < tt.lag-2*time.Millisecond || res.Lag > tt.lag+2*time.Millisecond) {
				t.Errorf("Lag = %v, want %v ± 2ms", res.Lag, tt.lag)
			}
			if res.Correlation < tt.minCorr || res.Correlation >= tt.maxCorr {
				t.Errorf("Correlation = %.3f, want in [%g, %g)", res.Correlation, tt.minCorr, tt.maxCorr)
			}
		})
	}
}

// TestCorrelationFallsWithNoise checks the measure is graded: the more
// noise covers the speech, the lower the score.
func TestCorrelationFallsWithNoise(t *testing.T) {
	a := speech(t, sentenceA, "en")
	previous := 1.0
	for _, snr := range []float64{30, 20, 10, 0, -10} {
		deg := addNoise(rand.New(rand.NewPCG(7, 8)), a, snr)
		res, err := Compare(a, deg, rate, 100*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("SNR %3.0f dB: correlation %.3f", snr, res.Correlation)
		if res.Correlation >= previous {
			t.Errorf("SNR %.0f dB scores %.3f, not below the %.3f of 10 dB less noise", snr, res.Correlation, previous)
		}
		previous = res.Correlation
	}
}

func TestCompareSilence(t *testing.T) {
	a := speech(t, sentenceA, "en")
	_, err := Compare(a, silence(3*time.Second), rate, 500*time.Millisecond)
	if !errors.Is(err, ErrSilent) {
		t.Fatalf("Compare(speech, silence) error = %v, want ErrSilent", err)
	}
	_, err = Compare(silence(3*time.Second), a, rate, 500*time.Millisecond)
	if !errors.Is(err, ErrNoSpeech) {
		t.Fatalf("Compare(silence, speech) error = %v, want ErrNoSpeech", err)
	}
}

func TestCompareAtNativeRate(t *testing.T) {
	pcm, sr, err := Synthesize(t.Context(), sentenceB, "en")
	if errors.Is(err, exec.ErrNotFound) {
		t.Skip("espeak-ng is not installed: no speech samples to compare")
	}
	if err != nil {
		t.Fatal(err)
	}
	deg := concat(make([]int16, sr/10), pcm) // 100 ms later
	res, err := Compare(pcm, deg, sr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.Lag != 100*time.Millisecond || res.Correlation < 0.999 {
		t.Errorf("at %d Hz: %+v, want lag 100ms and correlation 1", sr, res)
	}
}

func TestAlign(t *testing.T) {
	a := speech(t, sentenceA, "en")
	rng := rand.New(rand.NewPCG(3, 4))
	tests := []struct {
		name   string
		deg    []int16
		maxLag time.Duration
		want   time.Duration
	}{
		{"same", a, 100 * time.Millisecond, 0},
		{"one-sample-late", concat(make([]int16, 1), a), 100 * time.Millisecond, time.Second / rate},
		{"250ms-late", concat(silence(250*time.Millisecond), a), 300 * time.Millisecond, 250 * time.Millisecond},
		{"at-the-search-limit", concat(silence(300*time.Millisecond), a), 300 * time.Millisecond, 300 * time.Millisecond},
		{"40ms-early", a[durationToSamples(40*time.Millisecond, rate):], time.Second, -40 * time.Millisecond},
		{"313ms-late-in-noise", addNoise(rng, concat(silence(313*time.Millisecond), a), 10), time.Second, 313 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Align(a, tt.deg, rate, tt.maxLag)
			if err != nil {
				t.Fatal(err)
			}
			if d := got - tt.want; d < -time.Millisecond || d > time.Millisecond {
				t.Errorf("Align = %v, want %v ± 1ms", got, tt.want)
			}
		})
	}
}

func TestArgumentErrors(t *testing.T) {
	tone := make([]int16, rate)
	for i := range tone {
		tone[i] = int16(8000 * math.Sin(2*math.Pi*440*float64(i)/rate))
	}
	tests := []struct {
		name     string
		ref, deg []int16
		rate     int
		maxLag   time.Duration
		want     error
	}{
		{"rate-too-low", tone, tone, 4000, 0, errInvalidArgument},
		{"rate-too-high", tone, tone, 384000, 0, errInvalidArgument},
		{"negative-max-lag", tone, tone, rate, -time.Millisecond, errInvalidArgument},
		{"reference-shorter-than-a-frame", tone[:100], tone, rate, 0, ErrNoSpeech},
		{"silent-reference", make([]int16, rate), tone, rate, 0, ErrNoSpeech},
		{"empty-degraded", tone, nil, rate, 0, ErrSilent},
		{"near-silent-degraded", tone, whiteNoise(rand.New(rand.NewPCG(5, 6)), rate, 0.5), rate, 0, ErrSilent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Align(tt.ref, tt.deg, tt.rate, tt.maxLag); !errors.Is(err, tt.want) {
				t.Errorf("Align error = %v, want %v", err, tt.want)
			}
			if _, err := Compare(tt.ref, tt.deg, tt.rate, tt.maxLag); !errors.Is(err, tt.want) {
				t.Errorf("Compare error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSynthesize(t *testing.T) {
	pcm, sr, err := Synthesize(t.Context(), "-v xx: not an option, just text", "")
	if errors.Is(err, exec.ErrNotFound) {
		t.Skip("espeak-ng is not installed")
	}
	if err != nil {
		t.Fatal(err)
	}
	if sr != 22050 || len(pcm) < sr || rms(pcm) < 300 {
		t.Errorf("got %d samples at %d Hz, RMS %.0f; want over a second of speech at 22050 Hz", len(pcm), sr, rms(pcm))
	}
	if _, _, err := Synthesize(t.Context(), "hello", "nosuchvoice"); err == nil {
		t.Error("an unknown voice gave no error")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, _, err := Synthesize(ctx, "hello", "en"); err == nil {
		t.Error("a cancelled context gave no error")
	}
}

func TestSynthesizeWithoutEspeak(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	if _, _, err := Synthesize(t.Context(), "hello", "en"); !errors.Is(err, exec.ErrNotFound) {
		t.Fatalf("error = %v, want one wrapping exec.ErrNotFound", err)
	}
}

func BenchmarkCompare(b *testing.B) {
	ref := resample(mustSynthesize(b, sentenceA, "en"), 22050, rate)
	deg := concat(silence(137*time.Millisecond), ref)
	for b.Loop() {
		if _, err := Compare(ref, deg, rate, 500*time.Millisecond); err != nil {
			b.Fatal(err)
		}
	}
}

func mustSynthesize(b *testing.B, text, voice string) []int16 {
	pcm, _, err := Synthesize(b.Context(), text, voice)
	if errors.Is(err, exec.ErrNotFound) {
		b.Skip("espeak-ng is not installed")
	}
	if err != nil {
		b.Fatal(err)
	}
	return pcm
}

// TestSTOIAndSegmentalSNR checks the measures themselves: identical speech
// scores 1 (and the segmental SNR its 35 dB ceiling), a shifted copy aligns
// and scores as identical, and noise at falling SNR lowers both.
func TestSTOIAndSegmentalSNR(t *testing.T) {
	a := speech(t, sentenceA, "en")
	padded := concat(silence(300*time.Millisecond), a, silence(300*time.Millisecond))
	mid := len(padded) / 2
	for _, tt := range []struct {
		name    string
		deg     []int16
		minSTOI float64
		minSeg  float64
	}{
		{"identical", padded, 0.999, segSNRMax},
		{"shifted-by-123ms", concat(silence(123*time.Millisecond), padded), 0.999, segSNRMax},
		// A jitter buffer that drops or inserts a frame moves the delay
		// mid-call: piecewise alignment follows it.
		{"20ms-dropped-mid-way", concat(padded[:mid], padded[mid+960:]), 0.97, 25},
		{"40ms-inserted-mid-way", concat(padded[:mid], silence(40*time.Millisecond), padded[mid:]), 0.97, 25},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Compare(padded, tt.deg, rate, 500*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("STOI %.4f, segmental SNR %.1f dB", res.STOI, res.SegmentalSNR)
			if res.STOI < tt.minSTOI || res.STOI > 1.000001 || res.SegmentalSNR < tt.minSeg {
				t.Errorf("STOI %.4f, segmental SNR %.1f dB; want ≥ %v and ≥ %v dB", res.STOI, res.SegmentalSNR, tt.minSTOI, tt.minSeg)
			}
		})
	}
	prevSTOI, prevSeg := 1.0, segSNRMax
	for _, snr := range []float64{20, 10, 5, 0, -5} {
		deg := addNoise(rand.New(rand.NewPCG(3, 4)), padded, snr)
		res, err := Compare(padded, deg, rate, 100*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("noise at %3.0f dB SNR: STOI %.3f, segmental SNR %5.1f dB", snr, res.STOI, res.SegmentalSNR)
		if res.STOI >= prevSTOI || res.SegmentalSNR >= prevSeg {
			t.Errorf("at %.0f dB SNR: STOI %.3f, segmental SNR %.1f; want both below the previous (%.3f, %.1f)",
				snr, res.STOI, res.SegmentalSNR, prevSTOI, prevSeg)
		}
		prevSTOI, prevSeg = res.STOI, res.SegmentalSNR
	}
	// White noise spreads over 24 kHz, STOI looks below 5 kHz: in its band
	// the SNR is ~7 dB better than the broadband figure.
	if prevSTOI > 0.85 {
		t.Errorf("STOI at -5 dB SNR white noise %.3f, want ≤ 0.85", prevSTOI)
	}
	other := concat(silence(300*time.Millisecond), speech(t, sentenceB, "en+f3"), silence(time.Second))
	if res, err := Compare(padded, other, rate, 500*time.Millisecond); err != nil || res.STOI > 0.5 {
		t.Errorf("other speech: STOI %.3f (%v), want ≤ 0.5", res.STOI, err)
	}
}
